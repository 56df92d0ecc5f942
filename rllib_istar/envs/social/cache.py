"""A disk cache of judge scores (stdlib ``sqlite3``) and :class:`CachedJudge`.

The key is the SHA-256 of the JSON of (judge kind, model id, scenario id, transcript,
agent), where (kind, model id) is ``judge.cache_identity()`` (it also carries the
dimensions and, for HTTP judges, the URL). ``path=":memory:"`` keeps it in memory.
One connection is shared by threads under a lock; ``hits`` and ``misses`` count
lookups. :class:`CachedJudge` wraps any judge: ``judge`` looks up first;
``judge_many`` looks up each distinct key of the batch once (a duplicate is neither a
hit nor a miss), sends only the distinct misses to the
wrapped judge's ``judge_many`` (so the HTTP judge runs them concurrently) and
stores the results.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from typing import Sequence

from .dialogue import Transcript
from .judges.base import Judge, JudgeRequest
from .scenarios import Scenario

__all__ = ["JudgeCache", "CachedJudge", "cache_key"]


def cache_key(kind: str, model_id: str, scenario_id: str, transcript: Transcript, agent: int) -> str:
    """Hex SHA-256 of the request's identity."""
    blob = json.dumps([kind, model_id, scenario_id, [[int(s), str(t)] for s, t in transcript],
                       int(agent)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JudgeCache:
    """sqlite table ``scores(key TEXT PRIMARY KEY, scores TEXT)``."""

    def __init__(self, path: str | os.PathLike = ":memory:"):
        path = os.fspath(path)
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, scores TEXT)")
        self._db.commit()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, float] | None:
        with self._lock:
            row = self._db.execute("SELECT scores FROM scores WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, scores: dict[str, float]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO scores VALUES (?, ?)",
                             (key, json.dumps(scores, sort_keys=True)))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedJudge(Judge):
    """``judge`` with a :class:`JudgeCache` in front (see the module docstring)."""

    def __init__(self, judge: Judge, cache: JudgeCache | None = None):
        self.inner = judge
        self.cache = cache if cache is not None else JudgeCache()
        self.kind, self.model_id = judge.cache_identity()

    def cache_identity(self) -> tuple[str, str]:
        return self.inner.cache_identity()

    def key(self, scenario: Scenario, transcript: Transcript, agent: int) -> str:
        return cache_key(self.kind, self.model_id, scenario.id, transcript, agent)

    def judge(self, scenario: Scenario, transcript: Transcript, agent: int) -> dict[str, float]:
        key = self.key(scenario, transcript, agent)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        scores = self.inner.judge(scenario, transcript, agent)
        self.cache.put(key, scores)
        return scores

    def judge_many(self, requests: Sequence[JudgeRequest]) -> list[dict[str, float]]:
        keys = [self.key(*r) for r in requests]
        found: dict[str, dict[str, float]] = {}
        todo: dict[str, JudgeRequest] = {}
        for k, r in zip(keys, requests):
            if k in found or k in todo:
                continue
            hit = self.cache.get(k)
            if hit is None:
                todo[k] = JudgeRequest(*r)
            else:
                found[k] = hit
        if todo:
            for k, scores in zip(todo, self.inner.judge_many(list(todo.values()))):
                self.cache.put(k, scores)
                found[k] = scores
        return [found[k] for k in keys]
