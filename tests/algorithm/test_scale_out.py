"""Tune and scale-out: tune.Tuner("IStar"), remote env runners, two DDP learners."""
import pytest
import torch
from algo_utils import changed, module_state, tiny_config


def test_tuner_runs_one_iteration(ray_session, tmp_path):
    from ray import tune

    import rllib_istar  # noqa: F401  (the "IStar" name resolves after this import)

    config = tiny_config("istar_rloo")
    tuner = tune.Tuner("IStar", param_space=config,
                       run_config=tune.RunConfig(stop={"training_iteration": 1},
                                                 storage_path=str(tmp_path), verbose=0))
    results = tuner.fit()
    assert not results.errors
    result = results.get_best_result(metric="env_runners/success_rate", mode="max")
    assert result.metrics["training_iteration"] == 1
    assert "dpo_loss" in result.metrics["learners"]["prm"]


@pytest.mark.parametrize("microbatch_size", [8, 64])  # PRM groups in two passes / in one
def test_two_remote_runners_and_two_learners(build, microbatch_size):
    config = (tiny_config("istar_rloo", num_groups=4, microbatch_size=microbatch_size)
              .env_runners(num_env_runners=2, num_cpus_per_env_runner=0.5)
              .learners(num_learners=2, num_cpus_per_learner=0.5))
    algo = build(config)
    assert algo.env_runner_group.num_remote_env_runners() == 2
    policy0 = module_state(algo, "default_policy")
    prm0 = module_state(algo, "prm")
    result = algo.train()
    assert result["env_runners"]["num_episodes"] == 4 * 4
    assert len(changed(policy0, module_state(algo, "default_policy"))) == len(policy0)
    assert len(changed(prm0, module_state(algo, "prm"))) == len(prm0)
    # both learners hold identical weights after the DDP update
    states = algo.learner_group.foreach_learner(
        lambda learner: {k: v.detach().cpu().clone()
                         for k, v in learner.module["prm"].unwrapped().state_dict().items()})
    states = [s.get() if hasattr(s, "get") else s for s in states]
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    # the remote runners sampled with the learners' new policy after the sync
    weights = algo.env_runner_group.foreach_env_runner(
        lambda runner: runner.module.get_state(), local_env_runner=False)
    learner_policy = module_state(algo, "default_policy")
    for w in weights:
        assert all(torch.equal(w[k], learner_policy[k]) for k in w)
