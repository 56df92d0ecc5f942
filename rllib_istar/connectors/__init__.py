"""Learner connector pieces: episodes -> padded step rows."""
from rllib_istar.connectors.episodes_to_rows import EpisodesToStepRows, episodes_to_rows

__all__ = ["EpisodesToStepRows", "episodes_to_rows"]
