"""docs/ARCHITECTURE.md's layout lists every file of the package, and only real ones."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layout_files():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    block = re.search(r"## Layout: one line per file.*?```\n(.*?)```", text, flags=re.S).group(1)
    files, folders = set(), []  # folders[d] = the folder open at depth d + 1
    for line in block.splitlines():
        name = line.split()[0] if line.strip() else ""
        depth = (len(line) - len(line.lstrip())) // 2
        if name.endswith("/") and depth >= 1:
            folders = folders[:depth - 1] + [name]
        elif name.endswith(".py"):
            files.add("rllib_istar/" + "".join(folders[:depth - 1]) + name)
    return files


def test_layout_lists_exactly_the_package_files():
    listed = _layout_files()
    real = {str(p.relative_to(ROOT)) for p in (ROOT / "rllib_istar").rglob("*.py")
            if p.name != "__init__.py" or p.parent.name == "rllib_istar"}
    assert listed == real, f"missing: {sorted(real - listed)}; not in the package: {sorted(listed - real)}"
