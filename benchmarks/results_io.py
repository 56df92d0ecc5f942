"""Reading and writing the benchmark results in ``benchmarks/results/``.

A result is a JSON file, ``name.json``, or the same JSON gzip-compressed as
``name.json.gz`` (large files are committed compressed). Readers accept either, so a
script asked for ``cost.json`` finds ``cost.json.gz``; writers write plain JSON and
``python -m benchmarks.results_io`` compresses what is over the size limit.

    python -m benchmarks.results_io            # gzip every result over 500 kB
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from typing import Any, List, Optional

#: Results above this many bytes are committed compressed.
COMPRESS_ABOVE = 500_000


def existing(path: str) -> Optional[str]:
    """``path`` or ``path + ".gz"``, whichever exists (plain first), else None."""
    for candidate in (path, path + ".gz"):
        if os.path.exists(candidate):
            return candidate
    return None


def load_json(path: str) -> Any:
    """The JSON at ``path`` (``.json``), or at its compressed twin (``.json.gz``)."""
    found = existing(path)
    if found is None:
        raise FileNotFoundError(f"{path} (nor {path}.gz)")
    opener = gzip.open if found.endswith(".gz") else open
    with opener(found, "rt") as f:
        return json.load(f)


def result_names(folder: str, prefix: str = "") -> List[str]:
    """Sorted ``*.json`` names in ``folder`` starting with ``prefix``; a compressed file
    is listed under its plain name (``a.json.gz`` -> ``a.json``)."""
    names = set()
    for name in os.listdir(folder):
        plain = name[:-3] if name.endswith(".json.gz") else name
        if plain.startswith(prefix) and plain.endswith(".json"):
            names.add(plain)
    return sorted(names)


def dump_json(data: Any, path: str, **kwargs: Any) -> None:
    """Write ``data`` to ``path`` atomically as plain JSON, removing a stale ``.gz`` twin
    so that readers never see two versions."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, **kwargs)
    os.replace(tmp, path)
    if os.path.exists(path + ".gz"):
        os.remove(path + ".gz")


def compress_large(folder: str, above: int = COMPRESS_ABOVE) -> List[str]:
    """Gzip every ``*.json`` in ``folder`` larger than ``above`` bytes (the plain file is
    replaced by ``.json.gz``); returns the compressed names."""
    done = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.endswith(".json") and os.path.getsize(path) > above:
            with open(path, "rb") as src, open(path + ".gz", "wb") as raw, \
                    gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as dst:
                dst.write(src.read())
            os.remove(path)
            done.append(name)
    return done


def main(argv=None) -> int:
    from benchmarks.settings import RESULTS_DIR

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default=RESULTS_DIR)
    p.add_argument("--above", type=int, default=COMPRESS_ABOVE, help="bytes")
    args = p.parse_args(argv)
    for name in compress_large(args.dir, args.above):
        print(f"compressed {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
