"""CreditChainEnv: oracle labels against brute force, memoryless prompts, config errors."""
import itertools
import random

import gymnasium
import pytest

from rllib_istar import columns as C
from rllib_istar.envs import (
    CREDIT_CHAIN_ID,
    CREDIT_PRESETS,
    CreditChainEnv,
    make_text_env,
)


def _play(cfg, seed, actions):
    env = CreditChainEnv(cfg)
    env.reset(seed=seed)
    labels, ret = [], 0.0
    for a in actions:
        _, r, term, trunc, info = env.step(a)
        labels.append(info[C.ORACLE_LABEL])
        ret += r
        if term or trunc:
            break
    return labels, ret


SMALL = [{"num_steps": n, "num_decisive": d, "num_choices": k, "outcome": o, "max_steps": n}
         for n in (2, 3, 4) for d in (1, 2) if d <= n for k in (2, 3) for o in ("binary", "graded")]


@pytest.mark.parametrize("cfg", SMALL, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_oracle_labels_match_brute_force_decisiveness(cfg):
    """Brute force over every action sequence: step t is decisive iff in some context
    (the other steps' actions) changing its action changes the return; its action is
    right iff it maximises the return in every context."""
    choices, n = CreditChainEnv(cfg).choices, cfg["num_steps"]
    for seed in range(3):
        seqs = list(itertools.product(choices, repeat=n))
        returns = {seq: _play(cfg, seed, seq)[1] for seq in seqs}

        def alts(seq, t, returns=returns):
            return [returns[seq[:t] + (a,) + seq[t + 1:]] for a in choices]

        decisive = [any(len(set(alts(q, t))) > 1 for q in seqs) for t in range(n)]
        right = {(t, a): all(returns[q] == max(alts(q, t)) for q in seqs if q[t] == a)
                 for t in range(n) for a in choices}
        for seq, ret in returns.items():
            labels, _ = _play(cfg, seed, seq)
            for t, label in enumerate(labels):
                assert (label != 0) == decisive[t], (seed, seq, t)
                if decisive[t]:
                    assert (label == 1) == right[(t, seq[t])], (seed, seq, t)
                if cfg["outcome"] == "graded":  # additive: every context separates them
                    assert (label != 0) == (len(set(alts(seq, t))) > 1), (seed, seq, t)
                    if label != 0:
                        assert (label == 1) == (ret == max(alts(seq, t))), (seed, seq, t)
            if cfg["outcome"] == "binary":
                assert ret == float(-1.0 not in labels)
            else:
                assert ret == pytest.approx(labels.count(1.0) / cfg["num_decisive"])


def test_invalid_action_is_a_noop_with_label_zero_and_truncation():
    env = CreditChainEnv({"max_steps": 5})
    obs, _ = env.reset(seed=0)
    _, r, term, trunc, info = env.step("purple")
    assert (env.room, r, term, trunc, info[C.ORACLE_LABEL], info["is_action_valid"]) == \
        (0, 0.0, False, False, 0.0, False)
    assert env.current_observation == obs
    for _ in range(4):
        *_, term, trunc, _ = env.step("nope")
    assert trunc and not term


def test_prompt_ignores_history_and_observation_hides_earlier_choices():
    env = CreditChainEnv()
    obs, _ = env.reset(seed=1)
    assert env.render_prompt(obs, [("room 1 of 4 door red", "blue")]) == env.render_prompt(obs, [])
    right = [env.doors.get(t, "red") for t in range(4)]
    wrong = [("green" if c == "red" else "red") for c in right]
    seen = []
    for actions in (right, wrong):
        env.reset(seed=1)
        seen.append([env.step(a)[0] for a in actions[:3]])
    assert seen[0] == seen[1]  # same observations whatever was chosen


def test_determinism_registration_and_vocabulary():
    a, b = CreditChainEnv(), CreditChainEnv()
    a.reset(seed=5); b.reset(seed=5)
    assert a.doors == b.doors and a.rooms == b.rooms
    assert [r for r in a.rooms if r != "hall"] == [a.doors[p] for p in sorted(a.doors)]
    tasks = set()
    for s in range(20):
        a.reset(seed=s)
        tasks.add(tuple(sorted(a.doors.items())))
    assert len(tasks) > 5
    assert isinstance(gymnasium.make(CREDIT_CHAIN_ID).unwrapped, CreditChainEnv)
    vocab = set(CreditChainEnv.vocabulary())
    for preset in CREDIT_PRESETS.values():
        env = make_text_env(CREDIT_CHAIN_ID, preset)
        obs, _ = env.reset(seed=2)
        done = False
        while not done:
            assert set(env.render_prompt(obs, []).split()) <= vocab
            assert set(env.admissible_actions()) <= vocab
            obs, _, term, trunc, _ = env.step(env.admissible_actions()[0])
            done = term or trunc


@pytest.mark.parametrize("cfg,match", [
    ({"num_steps": 0}, "num_steps must be an int in"),
    ({"num_decisive": 5}, "num_decisive must be an int in"),
    ({"num_choices": 4}, "num_choices must be an int in"),
    ({"outcome": "score"}, "outcome must be one of"),
    ({"num_steps": 8}, r"max_steps \(6\) < num_steps \(8\); set max_steps >= num_steps"),
    ({"num_step": 3}, "unknown env_config key"),
])
def test_bad_config_is_one_line_error_naming_the_key(cfg, match):
    with pytest.raises(ValueError, match=match) as err:
        CreditChainEnv(cfg)
    assert "\n" not in str(err.value)


def test_random_policy_wins_about_one_in_nine():
    rng, env, wins = random.Random(0), CreditChainEnv(), 0
    for ep in range(3000):
        env.reset(seed=ep)
        done = False
        while not done:
            _, _, term, trunc, info = env.step(rng.choice(env.admissible_actions()))
            done = term or trunc
        wins += info["won"]
    assert abs(wins / 3000 - 1 / 9) < 0.03
