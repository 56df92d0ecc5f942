"""No module of the package reads another object's private names (``x._name`` where
``x`` is not ``self`` or ``cls``): composed parts receive what they use. The two
exceptions are named here with the reason."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "rllib_istar"
ALLOWED = {
    # gym_sokoban's win test has no public name
    ("envs/sokoban.py", "env._check_if_all_boxes_on_target"),
    # the learner's update() override calls RLlib's own (docs/rllib_internals.md §2)
    ("learner/learner.py", "super()._uncompiled_update"),
}


def private_reads():
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__") and node.attr != "_replace"
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                yield str(path.relative_to(ROOT)), ast.unparse(node)


def test_no_module_reads_another_objects_privates():
    assert set(private_reads()) == ALLOWED


def test_the_check_sees_a_private_read(tmp_path, monkeypatch):
    (tmp_path / "bad.py").write_text("def f(learner):\n    return learner._params\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert set(private_reads()) == {("bad.py", "learner._params")}
