"""The package's import graph: no circles, and arrows only point down the data flow.

Every import counts, module-level or inside a function (a lazy import is still a
dependency). Layers, lowest first: names -> core -> envs -> lm -> rollout -> warmup ->
connectors -> rl_modules -> learner -> algorithm -> cli -> the package root.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "rllib_istar"
LAYERS = [
    ("rllib_istar.columns", "rllib_istar.metrics", "rllib_istar.messages", "rllib_istar.choices",
     "rllib_istar.image_placeholder", "rllib_istar.tiny_words"),
    ("rllib_istar.core",),
    ("rllib_istar.envs",),
    ("rllib_istar.lm",),
    ("rllib_istar.rollout",),
    ("rllib_istar.warmup",),
    ("rllib_istar.connectors",),
    ("rllib_istar.rl_modules",),
    ("rllib_istar.learner",),
    ("rllib_istar.algorithm",),
    ("rllib_istar.cli",),
    ("rllib_istar", "rllib_istar.__main__"),
]


def module_name(path: Path) -> str:
    parts = ("rllib_istar",) + path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str, path: Path) -> set:
    """Package modules that ``name`` imports (``from pkg import sub`` resolves to ``pkg.sub``)."""
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
    return {m for m in out if m in MODULES and m != name}


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def layer_of(name: str) -> int:
    best = None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or (prefix != "rllib_istar" and name.startswith(prefix + ".")):
                best = i
    if best is None:
        raise AssertionError(f"{name} belongs to no layer; add it to LAYERS")
    return best


def test_graph_sees_the_known_edges():
    assert "rllib_istar.core.segments" in GRAPH["rllib_istar.core.advantages"]
    assert "rllib_istar.learner.estimator_tables" in GRAPH["rllib_istar.learner.learner"]
    assert "rllib_istar.metrics" in GRAPH["rllib_istar.core.prm_losses"]
    assert "rllib_istar.envs.templates" in GRAPH["rllib_istar.envs.base"]  # relative import


def test_no_import_cycles():
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(GRAPH[node]):
            if state.get(dep) == "open":
                cycle = stack[stack.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down_the_layers(name):
    up = sorted(dep for dep in GRAPH[name] if layer_of(dep) > layer_of(name))
    assert not up, f"{name} (layer {layer_of(name)}) imports higher layers: {up}"


def test_every_module_imports_in_a_fresh_interpreter():
    """Lowest layer first, so a module that needs a higher one imported first fails here."""
    order = sorted(MODULES, key=lambda m: (layer_of(m), m))
    order = [m for m in order if m != "rllib_istar.__main__"]  # it runs the command
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    run = subprocess.run([sys.executable, "-c", code, *order], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_files_stay_small():
    long = {name: n for name, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"files over 400 lines: {long}"
