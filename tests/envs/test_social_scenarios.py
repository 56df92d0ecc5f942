"""Social scenarios: the packaged set, schema errors, selection, vocabulary, dialogue rules."""
from __future__ import annotations

import copy
import json

import pytest

from rllib_istar.envs.social import dialogue as D
from rllib_istar.envs.social.scenarios import (
    KINDS,
    ScenarioError,
    default_scenarios,
    load_scenarios,
    select_scenario,
    vocabulary,
)


def _raw():
    from importlib import resources

    text = resources.files("rllib_istar.envs.social").joinpath("scenarios.json").read_text()
    return json.loads(text)


def test_packaged_set_is_large_and_covers_every_kind():
    scs = default_scenarios()
    assert len(scs) >= 30
    assert {s.kind for s in scs} == set(KINDS)
    assert all(sum(s.kind == k for s in scs) >= 5 for k in KINDS)
    assert len({s.id for s in scs}) == len(scs)
    for s in scs:
        assert s.profiles[0].name != s.profiles[1].name
        assert all(s.goals)
    assert [s.kind for s in default_scenarios(["secret"])] == ["secret"] * 7


def test_select_is_deterministic_and_order_free():
    scs = default_scenarios()
    assert select_scenario(5).id == select_scenario(5).id
    assert select_scenario(5, list(reversed(scs))).id == select_scenario(5, scs).id
    assert len({select_scenario(s).id for s in range(200)}) > 25
    assert select_scenario(1, default_scenarios(["favour"])).kind == "favour"


BAD = [  # (mutation on the first scenario, field named in the error)
    (lambda s: s.update(kind="dance"), "kind"),
    (lambda s: s.update(relationship="enemy"), "relationship"),
    (lambda s: s["profiles"].pop(), "profiles"),
    (lambda s: s["profiles"][1].update(name="two words"), "profiles[1].name"),
    (lambda s: s["profiles"][1].update(name=s["profiles"][0]["name"]), "profiles[1].name"),
    (lambda s: s["profiles"][0].update(bio=""), "profiles[0].bio"),
    (lambda s: s["goals"].__setitem__(1, 3), "goals[1]"),
    (lambda s: s["criteria"].pop("deal"), "criteria.deal"),
    (lambda s: s["criteria"]["deal"].update(buyer=2), "criteria.deal.buyer"),
    (lambda s: s["criteria"]["deal"].update(buyer_max=10), "criteria.deal.buyer_max"),
    (lambda s: s["criteria"]["deal"].update(list_price="80"), "criteria.deal.list_price"),
    (lambda s: s["criteria"]["secret"].update(reveal="nothing to see"), "criteria.secret.reveal"),
    (lambda s: s["criteria"]["secret"].update(prober=1), "criteria.secret.prober"),
    (lambda s: s["criteria"]["secret"].update(leak_words=[]), "criteria.secret.leak_words"),
    (lambda s: s["criteria"].update(vibes={}), "criteria.vibes"),
]


@pytest.mark.parametrize("mutate,field", BAD, ids=[f for _, f in BAD])
def test_schema_errors_name_the_scenario_and_field(mutate, field):
    data = _raw()
    first = data["scenarios"][0]
    assert first["id"] == "neg_bike"
    mutate(first)
    with pytest.raises(ScenarioError) as e:
        load_scenarios(data=data)
    msg = str(e.value)
    assert "\n" not in msg
    assert "'neg_bike'" in msg and f"field {field!r}" in msg, msg


def test_agreement_errors_and_duplicates(tmp_path):
    data = _raw()
    fav = next(s for s in data["scenarios"] if s["id"] == "fav_ladder")
    bad = copy.deepcopy(fav)
    bad["criteria"]["agreement"]["responder_wants"] = "maybe"
    with pytest.raises(ScenarioError, match=r"'fav_ladder' field 'criteria.agreement.responder_wants'"):
        load_scenarios(data=[bad])
    with pytest.raises(ScenarioError, match=r"'fav_ladder' field 'id': is not unique"):
        load_scenarios(data=[fav, fav])
    with pytest.raises(ScenarioError, match=r"scenario #0 field 'id'"):
        load_scenarios(data=[{"kind": "favour"}])
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"scenarios": [fav]}))
    assert [s.id for s in load_scenarios(str(path))] == ["fav_ladder"]
    path.write_text("{oops")
    with pytest.raises(ScenarioError, match="is not JSON"):
        load_scenarios(str(path))


def test_vocabulary_covers_scenarios_and_backgrounds():
    vocab = set(vocabulary())
    assert {"-10", "0", "10", "1000", "deal", "bye", "score", "said", "turn"} <= vocab
    assert not any("{" in w for w in vocab)
    for s in default_scenarios():
        for side in (0, 1):
            text = D.background(s, side) + "\n" + D.format_transcript(s, [(side, "hello")], 1 - side)
            missing = set(text.split()) - vocab
            assert not missing, (s.id, missing)


def test_background_hides_the_other_side():
    s = next(x for x in default_scenarios() if x.id == "neg_bike")
    seen_by_anna = D.background(s, 0)
    assert s.goals[0] in seen_by_anna and s.goals[1] not in seen_by_anna
    assert "brake" not in seen_by_anna and "brake" in D.background(s, 1)
    assert "ben is moving" not in seen_by_anna  # strangers do not see the bio
    assert D.format_transcript(s, [(0, "hi"), (1, "hello")], 0).splitlines() == [
        "turn 1 Anna said hi", "turn 2 Ben said hello", "turn 3 Anna said"]


@pytest.mark.parametrize("text,reason", [
    ("", "empty"), ("   ", "empty"), ("x" * 301, "over 300 characters"),
    ("hi\nBen said hello", "more than one line"), ("Ben: ok", "speaker prefix 'Ben'"),
    ("anna said i pay 50", "speaker prefix 'Anna'"),
    ("fine turn 3 Ben said", "role marker 'turn <number>'"),
    ("ok <|im_end|>", "role marker '<|im_end|>'"), ("sure assistant: yes", "role marker 'assistant:'"),
    ("i will return the bike on turn of the year", "ok"), ("i can pay 55 dollars", "ok"),
])
def test_check_utterance(text, reason):
    s = next(x for x in default_scenarios() if x.id == "neg_bike")
    assert D.check_utterance(s, 0, text) == reason


def test_termination_and_numbers():
    assert D.is_leave("ok thanks bye") and D.is_leave("i have to leave now")
    assert D.is_leave("have a good day") and not D.is_leave("i believe you")
    assert D.should_end([(0, "hi")] * 20) and not D.should_end([(0, "hi")] * 19)
    assert D.should_end([(0, "hi"), (1, "bye")]) and not D.should_end([])
    assert D.numbers("i pay $60 not 6.5 or x7 but -3") == [60, 6, -3]
    assert D.has_phrase("Chapter Five, please", "chapter five")
    assert not D.has_phrase("the watchtower", "watch")


def test_import_is_light_and_stays_in_its_layer():
    import ast
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, rllib_istar.envs.social\n"
            "bad = [m for m in ('ray', 'torch', 'transformers', 'rllib_istar.lm') if m in sys.modules]\n"
            "assert not bad, bad\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-500:]
    root = Path(__file__).resolve().parents[2] / "rllib_istar" / "envs" / "social"
    for path in root.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path
        for node in ast.walk(ast.parse(path.read_text())):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                    else [])
            assert not [m for m in mods if m.startswith(("ray", "rllib_istar"))], (path, mods)
