"""Learner connector pieces: episodes -> padded step rows; whole-group shards for several learners."""
from rllib_istar.connectors.episodes_to_rows import EpisodesToStepRows, episodes_to_rows
from rllib_istar.connectors.group_shards import shard_whole_groups
from rllib_istar.connectors.step_rows import StepRows

__all__ = ["EpisodesToStepRows", "StepRows", "episodes_to_rows", "shard_whole_groups"]
