"""``python -m rllib_istar ...`` is the ``rllib`` command (see :mod:`rllib_istar.cli`)."""
import sys

from rllib_istar.cli import main

sys.exit(main())
