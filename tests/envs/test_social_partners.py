"""Social partners: the scripted state machine on fixed transcripts, self-play over every
scenario, and HFPartner on a tiny random model built offline."""
from __future__ import annotations

import pytest

from rllib_istar.envs.social import dialogue as D
from rllib_istar.envs.social.partners import ScriptedPartner
from rllib_istar.envs.social.scenarios import default_scenarios, vocabulary

SC = {s.id: s for s in default_scenarios()}
P = ScriptedPartner()


def test_seller_counters_by_rule_and_accepts_within_bound():
    s = SC["neg_bike"]  # Ben (side 1) sells: list 80, floor 50
    assert P.reply(s, [], 1) == "hello the bike is 80 dollars"
    t = [(1, "hello the bike is 80 dollars"), (0, "i can pay 40")]
    assert P.reply(s, t, 1) == "i can do 60 dollars for the bike"  # max(50, ceil((80+40)/2))
    t += [(1, "i can do 60 dollars for the bike"), (0, "45 then")]
    assert P.reply(s, t, 1) == "i can do 53 dollars for the bike"  # ceil((60+45)/2)
    t += [(1, "i can do 53 dollars for the bike"), (0, "how about 51")]
    assert P.reply(s, t, 1) == "deal 51 dollars it is"  # second+ offer within the bound
    t += [(1, "deal 51 dollars it is"), (0, "deal")]
    assert P.reply(s, t, 1) == "ok thanks bye"
    # first offer within the bound: countered halfway; an offer at the ask: accepted
    assert P.reply(s, [(1, "hello the bike is 80 dollars"), (0, "70")], 1) == \
        "i can do 75 dollars for the bike"
    assert P.reply(s, [(1, "the bike is 80"), (0, "ok 80")], 1) == "deal 80 dollars it is"
    # at the floor it says so; no number: repeats its ask
    assert P.reply(s, [(1, "i can do 50 dollars"), (0, "10"), (0, "20")], 1) == \
        "sorry i can not go below 50 dollars"
    assert P.reply(s, [(1, "i can do 60 dollars"), (0, "too much")], 1) == \
        "i can do 60 dollars for the bike"


def test_buyer_mirrors_the_seller():
    s = SC["neg_sofa"]  # Dana (side 1) buys: opens 150, ceiling 260
    assert P.reply(s, [], 1) == "hello i can offer 150 dollars for the sofa"
    t = [(1, "hello i can offer 150 dollars for the sofa"), (0, "300")]
    assert P.reply(s, t, 1) == "i can offer 225 dollars"  # floor((150+300)/2)
    t += [(1, "i can offer 225 dollars"), (0, "250")]
    assert P.reply(s, t, 1) == "deal 250 dollars it is"
    assert P.reply(s, [(1, "i can offer 260 dollars"), (0, "300"), (0, "290")], 1) == \
        "sorry 260 dollars is all i can pay"


def test_responder_agrees_after_a_polite_ask_with_a_reason():
    s = SC["fav_ladder"]  # Max (0) asks Nina (1) for the ladder
    assert P.reply(s, [], 1) == "hello how are you"
    assert P.reply(s, [(0, "give me the ladder")], 1) == "please ask me in a nice way"
    assert P.reply(s, [(0, "could you lend me the ladder")], 1) == "why do you need that"
    t = [(0, "please lend me the ladder because my roof leaks")]
    assert P.reply(s, t, 1) == "yes you can have my ladder"
    assert P.reply(s, t + [(1, "yes you can have my ladder"), (0, "thanks")], 1) == "ok thanks bye"
    assert P.reply(SC["per_run"], t, 1) == "yes i will join a morning run on sunday"


def test_asker_asks_repeats_and_thanks():
    s = SC["fav_ladder"]  # the partner is the asker Max (side 0)
    ask = "could you please lend me your ladder because i really need your help"
    assert P.reply(s, [], 0) == ask
    assert P.reply(s, [(0, ask), (1, "hmm")], 0) == "please i really need this"
    assert P.reply(s, [(0, ask), (1, "sure take it")], 0) == "thank you so much bye"
    assert P.reply(s, [(0, ask), (1, "no")] * 3, 0) == "ok i understand bye"


def test_prober_asks_the_questions_then_leaves():
    s = SC["sec_party"]  # Beth (0) keeps, Cole (1) probes
    assert P.reply(s, [], 1) == "what are you doing on saturday"
    t = [(1, "what are you doing on saturday"), (0, "nothing")]
    assert P.reply(s, t, 1) == "why is everyone so busy"
    assert P.reply(s, t + [(1, "why is everyone so busy"), (0, "no idea")], 1) == "ok thanks bye"
    assert P.reply(s, [(1, "q"), (0, "there is a party")], 1) == "ok thanks bye"


def test_keeper_reveals_only_on_trust():
    s = SC["sec_party"]  # the partner keeps (side 0); the agent probes
    assert P.reply(s, [(1, "what is the plan for saturday")], 0) == "i would rather not say"
    assert P.reply(s, [(1, "i promise to keep the plan for saturday quiet")], 0) == \
        "ok there is a party for you on saturday"
    assert P.reply(s, [(1, "nice weather")], 0) == "hello how are you"


def test_max_turns_and_statelessness():
    short = ScriptedPartner(max_turns=1)
    s = SC["neg_bike"]
    assert short.reply(s, [(1, "hello the bike is 80 dollars"), (0, "50")], 1) == "ok thanks bye"
    with pytest.raises(ValueError):
        ScriptedPartner(max_turns=0)
    t = [(1, "hello the bike is 80 dollars"), (0, "i can pay 40")]
    assert P.reply(s, t, 1) == ScriptedPartner().reply(s, list(t), 1)


@pytest.mark.parametrize("sid", sorted(SC))
def test_scripted_self_play_ends_and_stays_in_vocabulary(sid):
    s, vocab = SC[sid], set(vocabulary())
    t: list = []
    while not D.should_end(t):
        t.append((len(t) % 2, P.reply(s, t, len(t) % 2)))
    assert len(t) <= 20
    for side, text in t:
        assert D.check_utterance(s, side, text) == "ok", text
        assert set(text.split()) <= vocab, text


@pytest.fixture(scope="module")
def tiny():
    from rllib_istar.envs.social.hf import load_local_lm
    from rllib_istar.lm.tiny import tiny_model_path

    path = tiny_model_path(vocabulary(), hidden_size=32, num_layers=1, num_heads=2)
    return path, load_local_lm(path)


def test_hf_partner_greedy_is_deterministic_one_line_and_limited(tiny):
    from rllib_istar.envs.social.hf_partner import HFPartner

    path, lm = tiny
    s = SC["neg_bike"]
    t = [(1, "hello the bike is 80 dollars"), (0, "i can pay 40")]
    p = HFPartner(lm, max_new_tokens=12, max_chars=30)
    a, b = p.reply(s, t, 1), p.reply(s, t, 1)
    assert a == b and "\n" not in a and len(a) <= 30
    assert set(a.split()) <= set(vocabulary())
    assert HFPartner(path, max_new_tokens=12, max_chars=30).reply(s, t, 1) == a  # from a folder
    assert p.prompt(s, t, 1).endswith("turn 3 Ben said")


def test_hf_partner_sampling_is_seeded(tiny):
    from rllib_istar.envs.social.hf_partner import HFPartner

    _, lm = tiny
    s, t = SC["fav_ladder"], [(0, "please lend me the ladder because my roof leaks")]
    mk = lambda seed: HFPartner(lm, greedy=False, seed=seed, max_new_tokens=8)  # noqa: E731
    assert mk(3).reply(s, t, 1) == mk(3).reply(s, t, 1)
    assert len({mk(k).reply(s, t, 1) for k in range(4)}) > 1
