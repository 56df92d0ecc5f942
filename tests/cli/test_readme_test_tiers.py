"""The README's test command says how long it takes, and the note under it names the
test tiers with commands that select real markers and real paths."""
import configparser
import re
import shlex

from cli_helpers import ROOT

README = (ROOT / "README.md").read_text()
HEAD = README.split("\n# rllib_istar")[0]  # the two commands and the notes under them
TEST_BLOCK = re.findall(r"```bash\n(.*?)```", HEAD, flags=re.S)[1]
TIERS_NOTE = HEAD.rsplit("```", 1)[1]


def _declared_markers():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["tool:pytest"]["markers"].strip().splitlines()
    return {ln.split(":")[0].strip() for ln in lines if ln.strip()}


def _tier_commands():
    return [shlex.split(c) for c in re.findall(r"`(python -m pytest[^`]*)`", TIERS_NOTE)]


def test_the_test_command_states_its_expected_time():
    comments = " ".join(ln for ln in TEST_BLOCK.splitlines() if ln.startswith("#"))
    assert re.search(r"about \d+ min on a quiet 2-core machine", comments), comments
    assert "857 s including the install" in comments and "over 2 hours" in comments


def test_the_tiers_note_names_real_markers_and_paths_with_times():
    commands = _tier_commands()
    assert commands, "no tier command under the test command"
    markers = _declared_markers()
    for argv in commands:
        args = argv[3:]  # after `python -m pytest`
        for i, arg in enumerate(args):
            if arg == "-m":
                used = set(re.findall(r"\w+", args[i + 1])) - {"not", "and", "or"}
                assert used <= markers, (argv, markers)
            elif arg.startswith("tests/"):
                assert (ROOT / arg).exists(), arg
    assert ["python", "-m", "pytest", "-m", "slow"] in commands
    quick = [argv for argv in commands if any(a.startswith("tests/") for a in argv)]
    assert quick and re.search(r"\d+ tests, \d+ s measured", TIERS_NOTE), TIERS_NOTE
    assert 'addopts = -m "not slow"' in TIERS_NOTE  # why the default tier skips `slow`
