"""The docs site builds with ``mkdocs build --strict`` (a broken link or reference fails
it), and its index, opened in headless Chromium, renders the navigation."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: spawns processes or starts Ray: the integration tier (tests/conftest.py)
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NAV_TITLES = ("Getting started", "The rllib command", "The algorithm", "Reading step rewards",
              "Knobs", "API", "Benchmarks", "Decisions")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-d", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_strict_build_writes_a_page_per_nav_entry(site):
    for page in ("index.html", "algorithm/index.html", "api/index.html", "cli/index.html",
                 "KNOBS/index.html", "benchmarks/index.html",
                 "benchmarks/step_credit/index.html"):
        assert (site / page).is_file(), page
    api = (site / "api" / "index.html").read_text()
    assert "normalised_step_advantages" in api and "IStarConfig" in api  # from docstrings


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI"):
        pytest.fail("CI must install Chromium (.ci/run: apt-get install chromium)")
    pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")


def test_index_renders_the_navigation_in_chromium(site, tmp_path):
    proc = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path}",
                           "--dump-dom", (site / "index.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert "md-nav" in dom, proc.stderr[-2000:]
    links = re.findall(r'class="md-nav__link[^"]*"[^>]*>(.*?)</', dom, flags=re.S)
    texts = " ".join(re.sub(r"<[^>]+>|\s+", " ", t) for t in links)
    for title in NAV_TITLES:
        assert title in texts, (title, texts[:2000])
