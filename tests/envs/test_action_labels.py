"""oracle_action_labels: every admissible action's label at the current state, before it is
taken; and the runner's candidate responses built from them."""
import pytest

from rllib_istar.envs.base import TextEnv
from rllib_istar.envs.contract import TextEnvContractError, check_action_labels
from rllib_istar.envs.credit_chain import CreditChainEnv
from rllib_istar.envs.labels import gives_action_labels
from rllib_istar.envs.key_corridor import KeyCorridorEnv
from rllib_istar.rollout.action_candidates import action_candidates, is_decisive


def test_creditchain_labels_doors_and_agrees_with_the_step_label():
    env = CreditChainEnv()
    env.reset(seed=3)
    rooms = env.rooms
    for room, kind in enumerate(rooms):
        labels = env.oracle_action_labels()
        if kind == "hall":
            assert labels is None
        else:
            assert labels == {c: (1.0 if c == kind else -1.0) for c in env.choices}
        # every action's label is what the step would have reported for it
        action = "red"
        _, _, _, _, info = env.step(action)
        if labels is not None:
            assert info["oracle_step_label"] == labels[action]
    assert env.oracle_action_labels() is None   # the chain is done


def test_keycorridor_labels_the_key_pick_only():
    env = KeyCorridorEnv()
    env.reset(seed=0)
    assert env.oracle_action_labels() == {c: (1.0 if c == env.door else -1.0)
                                          for c in ("red", "green", "blue")}
    env.step("green")
    assert env.oracle_action_labels() is None


def test_labels_do_not_change_the_state():
    env = CreditChainEnv()
    env.reset(seed=3)
    before = (env.room, env.rooms, env.current_observation)
    for _ in range(3):
        env.oracle_action_labels()
    assert (env.room, env.rooms, env.current_observation) == before


def test_gives_action_labels_reads_the_class():
    assert gives_action_labels(CreditChainEnv) and gives_action_labels(KeyCorridorEnv())
    assert not gives_action_labels(TextEnv)


def test_contract_refuses_labels_of_inadmissible_actions():
    env = KeyCorridorEnv()
    env.reset(seed=0)
    assert check_action_labels(env, None) is None
    with pytest.raises(TextEnvContractError, match="oracle_action_labels"):
        check_action_labels(env, {"forward": 1.0})   # not admissible before a key is taken
    with pytest.raises(TextEnvContractError, match="oracle_action_labels"):
        check_action_labels(env, {"red": "yes"})


def test_candidates_are_sorted_actions_with_their_labels_at_decisive_states_only():
    env = KeyCorridorEnv()
    env.reset(seed=0)
    ids, labels = action_candidates(env, lambda a: [len(a), ord(a[0])])
    assert ids == [[len(a), ord(a[0])] for a in ("blue", "green", "red")]
    assert labels == [1.0 if a == env.door else -1.0 for a in ("blue", "green", "red")]
    env.step(env.door)
    assert action_candidates(env, lambda a: [0]) == ([], [])
    assert not is_decisive({"a": 1.0, "b": 1.0}) and is_decisive({"a": 1.0, "b": -1.0})


def test_candidate_responses_tokenise_like_the_format_warmup():
    from rllib_istar.lm import load_tokenizer, resolve_model_path
    from rllib_istar.rollout.action_candidates import response_ids_encoder

    tok = load_tokenizer(resolve_model_path("tiny"))
    encode = response_ids_encoder(tok, "bare", None)
    assert encode("red") == tok.encode("red", add_special_tokens=False) + [tok.eos_token_id]
    assert tok.decode(encode("red"), skip_special_tokens=True).strip() == "red"
