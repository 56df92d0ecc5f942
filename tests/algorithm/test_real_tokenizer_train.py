"""The real-tokenizer path through a whole iteration: a byte-level BPE tokenizer with a
chat template (``model_path: tiny-bpe``), the tags action format with multi-token
actions, a response prefix, a stop string, LoRA policy and PRM, micro-batched policy
update, trained twice; in float32 the rollout/learner log-prob gap stays at rounding."""
from algo_utils import changed, module_state

from rllib_istar import IStarConfig


def test_bpe_chat_template_run_trains_with_a_float_rounding_logprob_gap(build):
    config = (IStarConfig().environment("rllib_istar/KeyCorridor-v0",
                                        env_config={"action_format": "tags"})
              .debugging(seed=0)
              .training(model_path="tiny-bpe", advantage_estimator="istar_rloo", group_size=4,
                        num_groups=2, max_new_tokens=12, lr=1e-3, prm_lr=1e-3,
                        format_warmup_steps=100, format_warmup_batch_size=16,
                        response_prefix="<think> </think> <action>", stop_strings=["</action>"],
                        policy_mode="lora", prm_mode="lora", policy_microbatch_tokens=256,
                        microbatch_size=8))
    algo = build(config)
    before = {m: module_state(algo, m) for m in ("default_policy", "prm")}
    algo.train()
    result = algo.train()
    policy = result["learners"]["default_policy"]
    assert policy["rollout_learner_logp_gap_max"] < 1e-4
    assert policy["num_policy_microbatches"] > 1
    assert result["env_runners"]["invalid_action_rate"] < 0.5, "the warm-up taught the tags"
    for module_id, state in before.items():
        assert all("lora_" in k for k in state)
        assert len(changed(state, module_state(algo, module_id))) == len(state)
