"""response_prefix: its tokens end every prompt, the env parses prefix + response,
and the learner's rows hold the prefix on the prompt side (response mask 0)."""
import pytest
import torch

from rllib_istar import columns as C
from rllib_istar.warmup.finetune import _collect, response_after_prefix
from rllib_istar.connectors.episodes_to_rows import episodes_to_rows
from rllib_istar.lm.loading import encode_prompt
from rllib_istar.rollout.env_runner import LLMEnvRunner

PREFIX = "<think> </think> <action>"


def _runner(**knobs):
    from rllib_istar import IStarConfig

    settings = dict(group_size=2, num_groups=2, max_new_tokens=3, advantage_estimator="rloo",
                    response_prefix=PREFIX, format_warmup_steps=0)
    settings.update(knobs)
    config = (IStarConfig().environment("rllib_istar/KeyCorridor-v0",
                                        env_config={"action_format": "tags"})
              .training(**settings))
    return LLMEnvRunner(config=config, worker_index=0)


def test_prefix_ends_every_prompt_and_stays_out_of_the_response_mask():
    runner = _runner()
    tok = runner.tokenizer
    prefix_ids = tok.encode(PREFIX, add_special_tokens=False)
    assert len(prefix_ids) >= 3
    episodes = runner.sample()
    for ep in episodes:
        prompts = ep.get_extra_model_outputs(C.PROMPT_IDS)
        responses = ep.get_extra_model_outputs(C.RESPONSE_IDS)
        for t, action_text in enumerate(ep.get_actions()):
            assert list(prompts[t][-len(prefix_ids):]) == prefix_ids
            assert action_text == PREFIX + tok.decode(responses[t], skip_special_tokens=True)
    rows = episodes_to_rows(episodes, pad_id=tok.pad_token_id)
    resp = rows[C.RESPONSE_MASK]
    for i in range(len(resp)):
        first = int(resp[i].nonzero()[0])
        assert rows[C.INPUT_IDS][i, first - len(prefix_ids):first].tolist() == prefix_ids
        assert resp[i, :first].sum() == 0


def test_encode_prompt_appends_the_prefix_without_special_tokens():
    runner = _runner()
    tok = runner.tokenizer
    plain = encode_prompt(tok, "you see a red key")
    assert encode_prompt(tok, "you see a red key", PREFIX) == \
        plain + tok.encode(PREFIX, add_special_tokens=False)


@pytest.mark.parametrize("response, prefix, expected", [
    ("<think> </think> <action> open </action>", "<think> </think> <action>", " open </action>"),
    ("<think> </think> <action> open </action>", "<think>", " </think> <action> open </action>"),
    ("open", None, "open"),
])
def test_response_after_prefix_hand_made(response, prefix, expected):
    assert response_after_prefix(response, prefix) == expected


def test_response_after_prefix_refuses_a_prefix_the_format_lacks():
    with pytest.raises(ValueError, match="does not occur"):
        response_after_prefix("open", "<action>")


def test_warmup_examples_condition_on_the_prefix_and_teach_the_rest():
    import random

    runner = _runner()
    tok = runner.tokenizer
    examples = _collect(runner.env, lambda t: encode_prompt(tok, t, PREFIX), tok.eos_token_id,
                        6, random.Random(0), 2, 512, "tags", tok, PREFIX)
    prefix_ids = tok.encode(PREFIX, add_special_tokens=False)
    for prompt_ids, response_ids, image in examples:
        assert image is None  # a text env
        assert prompt_ids[-len(prefix_ids):] == prefix_ids
        text = tok.decode(response_ids, skip_special_tokens=True)
        assert "<think>" not in text and "</action>" in text
        assert torch.tensor(response_ids).numel() > 0


def test_warmup_cache_key_holds_every_setting_that_changes_the_model(tiny_path):
    from rllib_istar.warmup import warmup_model_path

    args = (tiny_path, "rllib_istar/KeyCorridor-v0", {}, 20, 0, 2, 512)
    base = warmup_model_path(*args)
    assert warmup_model_path(*args, None, 3e-3, 32, None) == base  # defaults: old names
    variants = [warmup_model_path(*args, PREFIX), warmup_model_path(*args, lr=1e-4),
                warmup_model_path(*args, batch_size=8),
                warmup_model_path(*args, autocast_dtype="bfloat16")]
    assert len({base, *variants}) == 5
