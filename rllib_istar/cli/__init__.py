"""The ``rllib`` command line (``rllib train``, ``rllib evaluate``; also ``python -m rllib_istar``).

* :mod:`.main`         the parser, ``rllib train``'s flags, dispatch and exit codes
* :mod:`.experiments`  YAML / flags -> Tune experiments (validated, with file:line errors)
* :mod:`.train`        Ray start-up, warm-up models, running (or resuming) the experiments
* :mod:`.progress`     one progress line per iteration and the final line
* :mod:`.resume`       keeps checkpoints that Tune did not record from being lost
* :mod:`.evaluate`     ``rllib evaluate``
* :mod:`.termination`  SIGTERM: a graceful stop, one line, exit code 143
* :mod:`.common`       exit codes, ``CliError``, YAML/JSON reading
"""
from rllib_istar.cli.main import main

__all__ = ["main"]
