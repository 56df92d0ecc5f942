"""The observation hooks (on_advantages, timed) through subclasses, after real train() calls."""
import torch
from algo_utils import tiny_config

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.algorithm.istar import IStar
from rllib_istar.learner.learner import IStarTorchLearner


class RecordingLearner(IStarTorchLearner):
    seen = []   # class-level: the local learner lives in this process

    def on_advantages(self, rows, step_rewards, advantages):
        RecordingLearner.seen.append((len(rows[C.INPUT_IDS]), step_rewards, advantages.clone()))
        self.metrics.log_value(("default_policy", "probe_adv_abs_mean"),
                               float(advantages.abs().mean()), window=1)

    def timed(self, name):
        RecordingLearner.seen.append(name)
        return super().timed(name)


class RecordingIStar(IStar):
    timers = []

    def timed(self, name):
        RecordingIStar.timers.append(name)
        return super().timed(name)


def test_hooks_see_every_update_and_every_phase(ray_session):
    RecordingLearner.seen.clear()
    RecordingIStar.timers.clear()
    config = tiny_config("istar_rloo").training(learner_class=RecordingLearner)
    algo = RecordingIStar(config=config)
    try:
        results = [algo.train() for _ in range(2)]
    finally:
        algo.stop()
    updates = [s for s in RecordingLearner.seen if isinstance(s, tuple)]
    assert len(updates) == 2
    for n, step_r, advantages in updates:
        assert step_r.shape == (n,) and advantages.shape == (n,) and torch.isfinite(advantages).all()
    phases = {s for s in RecordingLearner.seen if isinstance(s, str)}
    assert phases == {M.TIMER_OLD_LOGP, M.TIMER_PRM_UPDATE, M.TIMER_SCORING, M.TIMER_POLICY_UPDATE}
    assert RecordingIStar.timers == [M.TIMER_ROLLOUT, M.TIMER_LEARNER, M.TIMER_WEIGHT_SYNC] * 2
    probe = results[-1]["learners"]["default_policy"]["probe_adv_abs_mean"]
    assert probe == float(updates[-1][2].abs().mean())
