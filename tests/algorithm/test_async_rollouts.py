"""``rollout_mode: async``: the runners sample the next iteration while the learner trains.

Checked on real ``train()`` calls with a remote env runner: the first iteration (staleness
0) equals sync's exactly; later batches are one version stale and their pi_old is the
behaviour policy's; every batch comes from one whole set of weights; the PRM trains."""
import pytest
from algo_utils import changed, module_state, tiny_config

from rllib_istar import columns as C
from rllib_istar.learner.learner import IStarTorchLearner


def _remote(config):
    return config.env_runners(num_env_runners=1, num_cpus_per_env_runner=0.5)


def _runner_policy(algo):
    (state,) = algo.env_runner_group.foreach_env_runner(
        lambda runner: {k: v.clone() for k, v in runner.module.get_state().items()},
        local_env_runner=False)
    return state


def test_async_needs_a_remote_runner():
    with pytest.raises(ValueError, match="rollout_mode 'async' .* num_env_runners is 0"):
        tiny_config("istar_rloo", rollout_mode="async").validate()


def test_async_at_staleness_zero_equals_sync(build):
    """Iteration 1 samples with the initial weights in both modes: same numbers."""
    results, states = {}, {}
    for mode in ("sync", "async"):
        algo = build(_remote(tiny_config("istar_rloo", rollout_mode=mode)))
        results[mode] = algo.train()
        states[mode] = {m: module_state(algo, m) for m in ("default_policy", "prm")}
        algo.stop()
    for module_id, state in states["sync"].items():
        assert not changed(state, states["async"][module_id]), module_id
    sync_l, async_l = (results[m]["learners"]["default_policy"] for m in ("sync", "async"))
    for key in ("policy_loss", "adv_mean", "rollout_learner_logp_gap"):
        assert sync_l[key] == async_l[key], key
    assert async_l["policy_lag_max"] == 0.0
    assert "policy_lag" not in sync_l


def test_async_batches_are_one_version_stale_with_the_behaviour_pi_old(build):
    algo = build(_remote(tiny_config("istar_rloo", rollout_mode="async")))
    prm0 = module_state(algo, "prm")
    before = []
    for _ in range(3):
        before.append(module_state(algo, "default_policy"))
        result = algo.train()
        learner = result["learners"]["default_policy"]
        # the runner was synced with the weights this update started from, whole
        runner = _runner_policy(algo)
        assert not changed(before[-1], runner)
    # iterations 2 and 3 trained on rows of the previous version
    assert learner["policy_lag"] == learner["policy_lag_max"] == 1.0
    # pi_old recomputed under the behaviour weights: only float noise from the rollout's
    # log-probs, though the live policy moved (lr 1e-2) between sampling and update
    assert learner["rollout_learner_logp_gap_max"] < 1e-4
    assert changed(before[-2], before[-1])
    assert changed(prm0, module_state(algo, "prm")), "the PRM trains on the stale rows"


class LiveGapLearner(IStarTorchLearner):
    """Logs the gap between the rollout log-probs and the live policy's: what pi_old would
    be if the learner ignored the rows' version (the plausible wrong pi_old)."""

    def on_advantages(self, rows, step_rewards, advantages):
        live = self.microbatcher.chunked_logp(
            self.module["default_policy"].unwrapped().token_logprobs, rows)
        mask = rows[C.RESPONSE_MASK].bool()
        gap = (live - rows[C.ROLLOUT_LOGP]).abs()[mask].max()
        self.metrics.log_value(("default_policy", "live_gap_max"), float(gap), window=1)


def test_async_pi_old_is_not_the_live_policys(build):
    import sys

    from ray import cloudpickle  # the remote runner unpickles the config, learner class too

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    config = _remote(tiny_config("istar_rloo", rollout_mode="async"))
    algo = build(config.training(learner_class=LiveGapLearner))
    for _ in range(3):
        learner = algo.train()["learners"]["default_policy"]
    assert learner["policy_lag_max"] == 1.0
    assert learner["rollout_learner_logp_gap_max"] < 1e-4
    assert learner["live_gap_max"] > 100 * learner["rollout_learner_logp_gap_max"]


def test_async_restore_drops_the_groups_sampled_ahead(build, tmp_path):
    """A restore on the running algorithm replaces the weights the sample in flight used:
    those groups are dropped and the next iteration samples afresh (lag 0), no error."""
    algo = build(_remote(tiny_config("istar_rloo", rollout_mode="async")))
    algo.train()
    algo.save_to_path(str(tmp_path / "ckpt"))
    saved = module_state(algo, "default_policy")
    algo.train()
    algo.restore_from_path(str(tmp_path / "ckpt"))
    assert not changed(saved, module_state(algo, "default_policy"))
    learner = algo.train()["learners"]["default_policy"]
    assert learner["policy_lag_max"] == 0.0
    assert algo.train()["learners"]["default_policy"]["policy_lag_max"] == 1.0
