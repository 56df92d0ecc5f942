"""Runner faults: env errors drop trajectories (and groups that can no longer compare),
and a remote env runner that dies is restarted by RLlib and the iteration completes.

The faults come from the FaultyEnv double (tests/doubles/faulty_env.py): with
``group_size=4``, group 0 loses 1 trajectory in ``step`` (3 kept), group 1 fails
every ``reset`` (dropped), group 2 loses 3 (the lone survivor is dropped with its
group), group 3 loses 2 (2 kept), group 4 is whole.
"""
import logging
import os
import re
import uuid

import pytest
import torch
from algo_utils import changed, module_state, tiny_config
from doubles.faulty_env import FAULTY_ENV_ID, FaultyEnvRunner

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.learner.learner import IStarTorchLearner
from rllib_istar.rl_modules.specs import POLICY_ID
from rllib_istar.rollout.env_runner import LLMEnvRunner

G = 4
FAULTS = {"reset_fault_groups": [1], "step_faults": {0: 1, 2: 3, 3: 2}, "fault_step": 2}
ERRORS = 1 + G + 3 + 2               # step faults of groups 0, 2, 3 and group 1's resets
KEPT = {0: [1, 2, 3], 3: [2, 3], 4: [0, 1, 2, 3]}  # group -> surviving trajectories


def faulty_env_config(**extra):
    return {"max_steps": 3, "fault_key": uuid.uuid4().hex, **extra}


@pytest.fixture(scope="module")
def warm_model(_isolated_cache):
    """The format-warmed tiny KeyCorridor policy (FaultyEnv's prompts are KeyCorridor's),
    so outcomes differ inside groups; FaultyEnv configs use it with no warm-up of their own
    (a warm-up would reset and step the faulty env in the driver)."""
    from rllib_istar.warmup import prepare_policy_model

    return prepare_policy_model(tiny_config("rloo"))


class RecordingLearner(IStarTorchLearner):
    seen = []   # class-level: the local learner lives in this process

    def on_advantages(self, rows, step_rewards, advantages):
        RecordingLearner.seen.append(({k: v.detach().cpu().clone() for k, v in rows.items()},
                                      advantages.detach().cpu().clone()))


def _rloo(outcomes):
    """Leave-one-out advantages of one group, computed by hand (0 when all are equal)."""
    n, total = len(outcomes), sum(outcomes)
    if max(outcomes) == min(outcomes):
        return [0.0] * n
    return [r - (total - r) / (n - 1) for r in outcomes]


def test_runner_drops_failed_trajectories_and_groups_that_cannot_compare(caplog):
    from rllib_istar import IStarConfig

    config = (IStarConfig().environment(FAULTY_ENV_ID, env_config=faulty_env_config(**FAULTS))
              .training(group_size=G, num_groups=5, max_new_tokens=2, advantage_estimator="rloo",
                        format_warmup_steps=0))
    runner = LLMEnvRunner(config=config, worker_index=0)
    seeds = [10, 11, 12, 13, 14]
    with caplog.at_level(logging.WARNING, logger="rllib_istar.rollout.env_runner"):
        episodes = runner.sample(task_seeds=seeds)
    survivors = {}
    for ep in episodes:
        info = ep.get_infos()[0]
        survivors.setdefault(info["fault_group"], []).append(info["fault_member"])
        assert ep.custom_data[C.TASK_SEED] == seeds[info["fault_group"]]
    assert {g: sorted(m) for g, m in survivors.items()} == KEPT
    assert len({ep.custom_data[C.GROUP_ID] for ep in episodes}) == 3
    metrics = runner.get_metrics()
    assert metrics[M.ENV_ERRORS].peek() == ERRORS
    assert metrics[M.GROUPS_DROPPED].peek() == 2
    assert metrics["num_episodes"].peek() == 9
    errors = [r.getMessage() for r in caplog.records if "trajectory dropped" in r.getMessage()]
    assert len(errors) == ERRORS
    assert (f"env {FAULTY_ENV_ID}, task seed 11: reset raised EnvFault: reset fault: group 1, "
            "trajectory 0; trajectory dropped") in errors
    assert not any("second line" in e for e in errors)  # only the first line of the message
    assert any("task seed 12: step raised EnvFault: step fault: group 2" in e for e in errors)
    dropped = [r.getMessage() for r in caplog.records if "group dropped" in r.getMessage()]
    assert len(dropped) == 2
    assert any("task seed 11: group dropped, 0 of 4" in d for d in dropped)
    assert any("task seed 12: group dropped, 1 of 4" in d for d in dropped)


def test_group_size_one_keeps_singletons():
    """Evaluation samples groups of one: a singleton is what it asked for."""
    from rllib_istar import IStarConfig

    env_config = faulty_env_config(reset_fault_groups=[1])
    config = (IStarConfig().environment(FAULTY_ENV_ID, env_config=env_config)
              .training(group_size=2, num_groups=3, max_new_tokens=2, advantage_estimator="rloo",
                        format_warmup_steps=0))
    runner = LLMEnvRunner(config=config, worker_index=0)
    episodes = runner.sample(task_seeds=[20, 21, 22], group_size=1)
    assert sorted(ep.custom_data[C.TASK_SEED] for ep in episodes) == [20, 22]
    metrics = runner.get_metrics()
    assert metrics[M.ENV_ERRORS].peek() == 1 and metrics[M.GROUPS_DROPPED].peek() == 1


def test_train_keeps_groups_of_two_or_more_and_never_feeds_a_failed_trajectory(build, warm_model):
    RecordingLearner.seen.clear()
    config = (tiny_config("rloo", num_groups=5, group_size=G, model_path=warm_model,
                          format_warmup_steps=0)
              .environment(FAULTY_ENV_ID, env_config=faulty_env_config(**FAULTS))
              .training(learner_class=RecordingLearner))
    algo = build(config)
    first = algo.train()
    runners = first["env_runners"]
    assert runners[M.ENV_ERRORS] == ERRORS and runners[M.GROUPS_DROPPED] == 2
    assert runners["num_episodes"] == 9
    (rows, advantages), = RecordingLearner.seen
    traj_group = rows[C.TRAJ_GROUP]
    assert len(traj_group) == 9                      # no failed trajectory reached the learner
    assert sorted(torch.bincount(traj_group).tolist()) == [2, 3, 4]   # and no singleton
    # each failed trajectory recorded a step before raising: none of those rows either
    assert len(rows[C.STEP_TRAJ]) == runners["num_env_steps_sampled"] == first[
        "learners"]["default_policy"][M.NUM_STEP_ROWS]
    # RLOO inside each group at the group's own size (2, 3 or 4), not group_size
    outcomes = rows[C.TRAJ_OUTCOME].tolist()
    for g in traj_group.unique().tolist():
        members = (traj_group == g).nonzero().flatten().tolist()
        expected = _rloo([outcomes[i] for i in members])
        for i, want in zip(members, expected):
            got = advantages[rows[C.STEP_TRAJ] == i]
            assert torch.allclose(got, torch.full_like(got, want), atol=1e-5)
    assert len(set(outcomes)) > 1, "the warmed policy should give different outcomes"
    # groups 5..9 have no faults: the second iteration trains on every trajectory
    second = algo.train()
    assert second["env_runners"][M.ENV_ERRORS] == 0
    assert second["env_runners"][M.GROUPS_DROPPED] == 0
    assert second["env_runners"]["num_episodes"] == 5 * G
    assert torch.bincount(RecordingLearner.seen[-1][0][C.TRAJ_GROUP]).tolist() == [G] * 5


def test_every_trajectory_failing_gives_one_clear_line(build, warm_model):
    faults = {"step_faults": {0: G - 1, 1: G}}     # a lone survivor, then nothing
    config = (tiny_config("rloo", num_groups=2, group_size=G, model_path=warm_model,
                          format_warmup_steps=0)
              .environment(FAULTY_ENV_ID, env_config=faulty_env_config(**faults)))
    algo = build(config)
    with pytest.raises(RuntimeError) as info:
        algo.train()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("every trajectory of this iteration was dropped (7 env errors "
                              "in reset/step; 2 groups left with fewer than 2 trajectories)")
    # the cause itself, not a pointer to worker logs the command does not show
    assert re.search(r"the last: env .*, task seed \d+: step raised EnvFault: step fault: "
                     r"group 1, ", message), message


def test_remote_runner_that_dies_is_restarted_and_the_iteration_completes(build, warm_model,
                                                                           tmp_path):
    """The runner's process exits in the middle of iteration 2's sampling. RLlib restarts
    it; it gets the learner's current policy (updated once: the initial weights would
    show as a rollout/learner log-prob gap), samples the lost groups, the iteration
    completes, and iteration 3 runs normally."""
    marker = tmp_path / "killed"
    marker.touch()  # disarmed: iteration 1 runs normally
    env_config = faulty_env_config(exit_marker=str(marker), protect_pid=os.getpid())
    config = (tiny_config("rloo", num_groups=2, group_size=G, model_path=warm_model,
                          format_warmup_steps=0)
              .environment(FAULTY_ENV_ID, env_config=env_config)
              .env_runners(num_env_runners=1, num_cpus_per_env_runner=0.5,
                           env_runner_cls=FaultyEnvRunner)
              .fault_tolerance(restart_failed_env_runners=True,
                               env_runner_health_probe_timeout_s=600))
    algo = build(config)

    def runner_pid():
        return algo.env_runner_group.foreach_env_runner(lambda r: os.getpid(),
                                                        local_env_runner=False)

    pids = runner_pid()
    policy0 = module_state(algo, POLICY_ID)
    first = algo.train()
    assert first["env_runners"]["num_episodes"] == 2 * G
    assert first["fault_tolerance"]["num_remote_worker_restarts"] == 0
    # the update moved the policy, so a runner left at the initial weights would show a gap
    assert changed(policy0, module_state(algo, POLICY_ID))
    marker.unlink()  # armed: the runner's first env step in iteration 2 kills its process
    second = algo.train()
    assert marker.exists(), "the runner should have died"
    assert runner_pid() != pids
    assert second["env_runners"]["num_episodes"] == 2 * G  # resampled on the restarted runner
    assert second["fault_tolerance"]["num_remote_worker_restarts"] == 1
    assert second["fault_tolerance"]["num_healthy_workers"] == 1
    assert second["learners"]["default_policy"][M.LOGP_GAP] < 1e-4
    third = algo.train()
    assert third["env_runners"]["num_episodes"] == 2 * G
    assert third["fault_tolerance"]["num_remote_worker_restarts"] == 1
    assert third["learners"]["default_policy"][M.LOGP_GAP] < 1e-4
