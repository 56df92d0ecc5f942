"""Every reference to the spec and the docs resolves inside the repository: the files
exist, each cited section (``docs/algorithm.md §2a``, ``ALG §3``) is a heading of that
page, and no file points outside the repository (the spec used to live beside it)."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = (".py", ".md", ".yaml", ".yml", ".cfg", ".toml", ".txt")
#: Names of the notes that lived outside the repository before the spec moved in.
OUTSIDE = ("../shared", "ALGORITHM.md", "notes/PEERS.md", "notes/RLLIB_2.60.md", "DESIGN.md",
           "STYLE_ANCHORS.md", "ENVS_AND_MODELS.md")


def _tracked_text_files():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    return [ROOT / f for f in out if f.endswith(TEXT_SUFFIXES) or f == ".ci/run"]


FILES = {p: p.read_text(errors="replace") for p in _tracked_text_files() if p.is_file()}


def _sections(page: Path) -> set:
    return set(re.findall(r"^#+ (§[0-9]+[a-z]?)\b", page.read_text(), flags=re.M))


def test_no_file_points_outside_the_repository():
    hits = [(str(p.relative_to(ROOT)), name) for p, text in FILES.items() for name in OUTSIDE
            if name in text and p.name != Path(__file__).name]
    assert not hits, hits


def test_every_docs_path_exists():
    missing = sorted({(str(p.relative_to(ROOT)), ref) for p, text in FILES.items()
                      for ref in re.findall(r"\bdocs/[A-Za-z_/]+\.md", text)
                      if not (ROOT / ref).is_file()})
    assert not missing, missing


def test_every_cited_section_is_a_heading_of_its_page():
    pages = {"docs/algorithm.md": _sections(ROOT / "docs" / "algorithm.md"),
             "docs/rllib_internals.md": _sections(ROOT / "docs" / "rllib_internals.md")}
    assert {"§1", "§2", "§2a", "§3", "§4", "§5", "§6"} <= pages["docs/algorithm.md"]
    bad = []
    for p, text in FILES.items():
        for page, section in re.findall(r"(docs/[a-z_]+\.md) (§[0-9]+[a-z]?)", text):
            if page in pages and section not in pages[page]:
                bad.append((str(p.relative_to(ROOT)), page, section))
        for section in re.findall(r"\bALG (§[0-9]+[a-z]?)", text):  # "ALG" = docs/algorithm.md
            if section not in pages["docs/algorithm.md"]:
                bad.append((str(p.relative_to(ROOT)), "ALG", section))
    assert not bad, bad


def test_the_alg_abbreviation_is_defined_where_it_is_used():
    for p, text in FILES.items():
        if re.search(r"\bALG §", text) and p.suffix in (".py", ".yaml"):
            assert "ALG" in text and "docs/algorithm.md" in text, p
