"""Rollout: generation backends (generation.py) and the LLM env runner."""
