"""Shared pieces of the ``rllib`` command line: the user-error type and YAML reading.

Every problem with the user's input becomes a :class:`CliError` whose message is
one line naming where (file and line, or the option) and how to fix it; the
command prints it and exits with code 2.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, Optional, Tuple

import yaml

EXIT_USAGE = 2      # bad input: file, key, type, path
EXIT_FAILED = 1     # a trial or evaluation failed while running
EXIT_INTERRUPTED = 130

Path = Tuple[Any, ...]


class CliError(Exception):
    """Bad user input; ``str(err)`` is the one-line message shown to the user."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                |\.[0-9_]+(?:[eE][-+][0-9]+)?
                |[-+]?\.(?:inf|Inf|INF)
                |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _collect(node, path: Path, out: Dict[Path, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            out[path + (key_node.value,)] = key_node.start_mark.line + 1
            _collect(value_node, path + (key_node.value,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.setdefault(path + (i,), item.start_mark.line + 1)
            _collect(item, path + (i,), out)


def load_yaml_file(path: str) -> Tuple[Any, Dict[Path, int]]:
    """``(data, lines)``: the parsed file and the 1-based line of every key path.

    Raises:
        CliError: the file is missing, unreadable or not valid YAML (with the line).
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise CliError(f"{path}: no such file; pass a YAML file such as "
                       "tuned_examples/toy_istar_cpu.yaml") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CliError(f"{path}: cannot read the file ({e})") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise CliError(f"{where}: malformed YAML: {problem}; check the indentation "
                       "and quoting on that line") from None
    lines: Dict[Path, int] = {}
    if node is not None:
        _collect(node, (), lines)
    return data, lines


#: The example each inline option's error shows: a real key of that option.
INLINE_EXAMPLES = {
    "--config": """'{"lr": 0.0001}'""",
    "--stop": """'{"training_iteration": 10}'""",
    "--env-config": """'{"corridor_length": 3}'""",
}


def parse_inline(option: str, text: Optional[str]) -> Optional[dict]:
    """Parse ``--config``/``--stop``/``--env-config`` values: JSON or a YAML flow mapping
    (``{lr: 1e-4}``); the error's example is a real key of that option."""
    if text is None:
        return None
    example = f"{option} {INLINE_EXAMPLES.get(option, '{}')}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        try:
            value = yaml.load(text, Loader=_Loader)  # noqa: S506
        except yaml.YAMLError as e:
            raise CliError(f"{option}: not valid JSON or YAML ({str(e).splitlines()[0]}); "
                           f"quote it, e.g. {example}") from None
    if not isinstance(value, dict):
        raise CliError(f"{option}: expected a mapping, got {text!r}; "
                       f"e.g. {example}")
    return value


def first_line(err: BaseException) -> str:
    """The first line of an exception message (RLlib appends hints on later lines)."""
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
