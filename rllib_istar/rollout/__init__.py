"""Rollout: env text -> episodes. The prompt budget (prompt_budget.py), generation backends
(generation.py) and the LLM env runner (env_runner.py)."""
