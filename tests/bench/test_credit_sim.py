"""benchmarks/credit_sim.py: the tabular iStar simulation runs, and its metrics and
bookkeeping are exact (each test well under 5 s; torch only, no Ray)."""
from __future__ import annotations

import ast
import doctest
import json
import math

import numpy as np
import pytest
import torch

from benchmarks import credit_sim as cs
from rllib_istar.core.credit_metrics import decisive_auc
from rllib_istar.core.prm_losses import preference_pairs, trajectory_dpo_loss


@pytest.fixture(autouse=True)
def _one_thread(_seed_torch):
    """The simulation's tensors are tiny: one thread (as its CLI sets), not conftest's two."""
    torch.set_num_threads(1)


def test_smoke_mode_writes_json(tmp_path, capsys):
    out = tmp_path / "sim.json"
    arms = ["rloo", "oracle", "frozen_prm", "istar_rolling", "istar_initial_sgd_batch_max_abs"]
    assert cs.main(["--smoke", "--arms", *arms, "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["meta"]["seeds"] == 2 and doc["meta"]["iters"] == 5
    assert list(doc["arms"]) == arms
    for name, arm in doc["arms"].items():
        assert arm["config"]["name"] == name
        assert len(arm["curves"]["successes"]) == 2 and len(arm["curves"]["successes"][0]) == 5
        assert 0.0 <= arm["summary"]["final_success"]["mean"] <= 1.0
    assert "acc_r_phi" not in doc["arms"]["rloo"]["curves"]      # no PRM, no r_phi
    assert len(doc["arms"]["istar_rolling"]["curves"]["acc_prm_progress"][1]) == 5
    assert "| istar_rolling |" in capsys.readouterr().out           # the tables are printed


def test_every_default_arm_is_valid_and_named_once():
    arms = cs.default_arms()
    names = [a.name for a in arms]
    assert len(names) == len(set(names))
    assert {"rloo", "oracle", "frozen_prm", "istar_rolling", "istar_initial",
            "istar_initial_kl0.2", "rloo_sgd", "oracle_sgd", "istar_initial_sgd"} <= set(names)
    rolling = next(a for a in arms if a.name == "istar_rolling")
    assert rolling.reference == "rolling" and rolling.prm_lr == pytest.approx(rolling.lr / 3)
    assert rolling.prm_steps == 1 and rolling.beta == 0.05


def test_same_state_accuracy_disagrees_with_the_pooled_auc():
    """Two door states, right action 0 at both. At each state every wrong action scores
    above the right one, so the same-state accuracy is 0; but the right actions sampled
    sit at state A (high offset) and the wrong ones at state B (low offset), so the
    pooled AUC over the sampled steps is 1. A pooled AUC over the table's door entries
    (another plausible metric) gives 0.25."""
    table = torch.tensor([[[10., 11., 12.],      # state A
                           [-10., -9., -9.],     # state B
                           [0., 0., 0.]]], dtype=torch.float64)  # a hall (never scored)
    right = torch.tensor([0, 0, -1])
    present = torch.tensor([[True, True, True]])
    assert cs.same_state_accuracy(table, present, right).tolist() == [0.0]
    sampled_scores = torch.tensor([10., 10., -9., -9.])   # right at A, wrong at B
    sampled_labels = torch.tensor([1., 1., -1., -1.])
    assert decisive_auc(sampled_scores, sampled_labels) == 1.0
    entries = table[0, :2].reshape(-1)
    labels = torch.tensor([1., -1., -1., 1., -1., -1.])
    assert decisive_auc(entries, labels) == 0.25
    # ties count 1/2; only present states count; a seed with none gives NaN
    tied = torch.tensor([[[1., 1., 0.], [0., 5., 5.], [0., 0., 0.]]], dtype=torch.float64)
    assert cs.same_state_accuracy(tied, present, right).tolist() == [0.375]
    only_a = torch.tensor([[True, False, False]])
    assert cs.same_state_accuracy(tied, only_a, right).tolist() == [0.75]
    acc = cs.same_state_accuracy(tied, torch.tensor([[False, False, True]]), right)
    assert math.isnan(acc.item())


def test_frozen_prm_reward_is_beta_log_init_over_old_exactly():
    cfg = next(a for a in cs.default_arms() if a.name == "frozen_prm")
    res = cs.run_arm(cfg, [0, 1], 8, keep_tables=True)
    assert res["r_phi_check"] == 0.0            # max |r - beta log(pi_init/pi_old)| over the run
    assert torch.equal(res["phi"], res["init"])  # the PRM never trained
    assert np.all(res["curves"]["acc_prm_progress"] == 0.5)


def test_prm_lr_zero_keeps_the_prm_at_pi_init():
    cfg = cs.SimConfig(name="lr0", prm_lr=0.0, prm_steps=2, replay=2, init_scale=0.3)
    res = cs.run_arm(cfg, [0, 1], 6, keep_tables=True)
    assert torch.equal(res["phi"], res["init"])
    assert not torch.equal(res["theta"], res["init"])   # while the policy moved
    assert np.all(res["curves"]["acc_prm_progress"] == 0.5)


def test_oracle_step_credit_beats_rloo_under_sgd():
    """SGD policy: the oracle's A_S reaches success 0.5 in about a third of RLOO's
    iterations (13 vs 40 in the committed run), on every seed."""
    arms = {a.name: a for a in cs.default_arms()}
    seeds, iters = [0, 1, 2], 45
    oracle = cs.run_arm(arms["oracle_sgd"], seeds, iters)["curves"]["success"]
    rloo = cs.run_arm(arms["rloo_sgd"], seeds, iters)["curves"]["success"]
    for j in range(len(seeds)):
        t_oracle = cs.iters_to(oracle[:, j], 0.5)
        t_rloo = cs.iters_to(rloo[:, j], 0.5) or iters + 1
        assert t_oracle is not None and t_oracle + 10 < t_rloo


def test_a_seed_runs_the_same_alone_or_stacked():
    cfg = cs.SimConfig(name="stack", reference="initial", replay=2, step_norm="batch_max_abs")
    stacked = cs.run_arm(cfg, [0, 4], 12)["curves"]
    alone = cs.run_arm(cfg, [4], 12)["curves"]
    for name in cs.CURVES:
        np.testing.assert_allclose(stacked[name][:, 1], alone[name][:, 0], rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_table_optimizer_matches_torch_and_skips_inactive_seeds(kind):
    torch.manual_seed(0)
    start = torch.randn(2, 4, 3, dtype=torch.float64)
    ours = start.clone()
    opt = cs.TableOptimizer(ours, kind, lr=0.1)
    ref = start[0].clone().requires_grad_(True)
    ref_opt = (torch.optim.Adam if kind == "adam" else torch.optim.SGD)([ref], lr=0.1)
    for step in range(5):
        grad = torch.randn(2, 4, 3, dtype=torch.float64)
        opt.step(grad, active=torch.tensor([True, False]))
        ref.grad = grad[0].clone()
        ref_opt.step()
    torch.testing.assert_close(ours[0], ref.detach(), rtol=0, atol=1e-12)
    assert torch.equal(ours[1], start[1])


def test_per_seed_dpo_loss_matches_the_core_loss():
    cfg = cs.SimConfig(name="x")
    draws = cs.draw_seeds(cfg, [7], 1)
    table = torch.log_softmax(draws.init, -1)
    batch = cs.rollout(cfg, table, draws.kinds[:, 0], draws.uniforms[:, 0])
    phi = torch.randn_like(draws.init)
    ref = cs.step_logp(draws.init, batch)
    s = (cs.step_logp(phi, batch) - ref)[:, 0]
    pairs = preference_pairs(batch.outcome, batch.traj_group)
    assert torch.equal(pairs, batch.pairs) and pairs.shape[0] > 0
    out = trajectory_dpo_loss(s, batch.traj, pairs, 0.5, "sum", batch.outcome.shape[0])
    mine = cs.per_seed_dpo_loss(out.traj_logratio, batch, 0.5, 1)
    assert mine.item() == pytest.approx(out.loss.item(), abs=1e-12)


def test_rollout_outcomes_follow_the_doors():
    cfg = cs.SimConfig(name="x")
    draws = cs.draw_seeds(cfg, [0, 1], 3)
    kinds = draws.kinds[:, 0]
    assert ((kinds < cfg.choices).sum(-1) == cfg.doors).all()      # D doors per task
    batch = cs.rollout(cfg, torch.log_softmax(draws.init, -1), kinds, draws.uniforms[:, 0])
    labels = batch.label.view(-1, cfg.rooms)
    won = (labels >= 0).all(-1).to(torch.float64)
    assert torch.equal(won, batch.outcome)
    door_state = batch.state % (cfg.choices + 1) < cfg.choices
    assert torch.equal(door_state, batch.label != 0)
    assert batch.present.sum(1).tolist() == [
        len({int(s) for s in batch.state[batch.seed == i][door_state[batch.seed == i]]}) for i in (0, 1)]


def test_docstring_examples_and_no_ray():
    result = doctest.testmod(cs, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
    tree = ast.parse(open(cs.__file__).read())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "ray" not in imported and {"torch", "numpy", "rllib_istar"} <= imported


def test_config_rejects_a_frozen_prm_with_the_initial_reference():
    with pytest.raises(ValueError, match="frozen_prm"):
        cs.SimConfig(name="x", method="frozen_prm", reference="initial")


def test_table_accuracy_matches_the_learners_same_state_metric():
    """The simulation's exact table metric and core.credit_metrics.same_state_accuracy (what the
    learner logs) agree on random tables, seed by seed."""
    from rllib_istar.core.credit_metrics import same_state_accuracy as core_accuracy

    gen = torch.Generator().manual_seed(0)
    signal = torch.randint(-2, 3, (3, 5, 3), generator=gen).double()  # ties happen
    present = torch.rand(3, 5, generator=gen) > 0.3
    right = torch.tensor([0, 2, -1, 1, 0])
    got = cs.same_state_accuracy(signal, present, right)
    for s in range(3):
        scores, labels, states = [], [], []
        for x in range(5):
            if not present[s, x] or right[x] < 0:
                continue
            for a in range(3):
                scores.append(float(signal[s, x, a]))
                labels.append(1.0 if a == right[x] else -1.0)
                states.append(x)
        want, _ = core_accuracy(torch.tensor(scores), torch.tensor(labels), torch.tensor(states))
        assert float(got[s]) == pytest.approx(want)
