"""``OpenAICompatibleJudge``: any OpenAI-compatible chat endpoint (vLLM, llama.cpp,
a hosted API) scores with the SOTOPIA rubric; standard library only (``urllib``).

``POST {base_url}/chat/completions`` (``/v1`` is appended to ``base_url`` when it does
not end with it) with ``model``, ``temperature`` and two messages: a system message
asking for one JSON object of integer scores, the user message the
:func:`~.base.rubric` plus the dimension ranges. The API key is read from the
environment variable ``api_key_env`` (default ``OPENAI_API_KEY``) at each call and
sent as ``Authorization: Bearer``; none is sent when it is unset (local servers).

Each try has ``timeout_s``; connection errors, timeouts, HTTP 429 and 5xx are retried
up to ``max_retries`` times with exponential backoff (``backoff_s * 2**try``). Errors
are one line naming the URL and the fix: :class:`~.base.JudgeUnreachableError` after
the last try, :class:`~.base.JudgeParseError` for a reply that is not JSON or has no
valid scores, :class:`~.base.JudgeError` for other HTTP errors (401: the key).
``judge_many`` sends a batch concurrently on a pool of ``max_workers`` threads.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from .. import phrases as P
from ..dialogue import Transcript
from ..scenarios import Scenario
from .base import (
    DIMENSIONS,
    Judge,
    JudgeError,
    JudgeParseError,
    JudgeRequest,
    JudgeUnreachableError,
    check_dimensions,
    parse_scores,
    rubric,
)

__all__ = ["OpenAICompatibleJudge", "chat_url"]


def chat_url(base_url: str) -> str:
    """``http://host:port`` or ``.../v1`` -> ``.../v1/chat/completions``."""
    base = base_url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    return (base if base.endswith("/v1") else base + "/v1") + "/chat/completions"


def _one_line(x: Any) -> str:
    return " ".join(str(x).split())[:160]


class OpenAICompatibleJudge(Judge):
    """A judge behind an OpenAI-compatible ``/v1/chat/completions`` endpoint."""

    kind = "openai"

    def __init__(self, base_url: str, model: str, *, dimensions: Sequence[str] = tuple(DIMENSIONS),
                 api_key_env: str = "OPENAI_API_KEY", timeout_s: float = 60.0,
                 max_retries: int = 3, backoff_s: float = 1.0, max_workers: int = 8,
                 temperature: float = 0.0, max_tokens: int = 512):
        if max_retries < 0 or max_workers < 1 or timeout_s <= 0:
            raise ValueError("OpenAICompatibleJudge: need max_retries >= 0, max_workers >= 1, "
                             "timeout_s > 0")
        self.url, self.model_id = chat_url(base_url), model
        self.dimensions = check_dimensions(dimensions)
        self.api_key_env, self.timeout_s = api_key_env, timeout_s
        self.max_retries, self.backoff_s, self.max_workers = max_retries, backoff_s, max_workers
        self.temperature, self.max_tokens = temperature, max_tokens
        self.num_requests = 0  # HTTP tries sent (for tests and benchmarks)
        self._lock = threading.Lock()

    def cache_identity(self) -> tuple[str, str]:
        return self.kind, f"{self.model_id}@{self.url}|{','.join(self.dimensions)}"

    def messages(self, scenario: Scenario, transcript: Transcript, agent: int) -> list[dict]:
        """The chat messages of one request."""
        ranges = " ".join(f"{d} {DIMENSIONS[d][0]} to {DIMENSIONS[d][1]}" for d in self.dimensions)
        ask = P.JUDGE_RUBRIC["ask"].format(name=scenario.name(agent), dimension="each dimension",
                                           lo="the low", hi="the high end")
        return [{"role": "system", "content": P.JUDGE_RUBRIC["json"]},
                {"role": "user", "content": "\n".join([rubric(scenario, transcript, agent), ask,
                                                       ranges])}]

    def _post(self, body: bytes) -> bytes:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        last: str = ""
        tries = self.max_retries + 1
        for attempt in range(tries):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            with self._lock:
                self.num_requests += 1
            req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    return resp.read()
            except urllib.error.HTTPError as e:
                if e.code == 429 or e.code >= 500:
                    last = f"HTTP {e.code}"
                    continue
                fix = (f"check the API key in ${self.api_key_env}" if e.code in (401, 403)
                       else "check base_url and model")
                raise JudgeError(f"OpenAICompatibleJudge: {self.url} answered HTTP {e.code} "
                                 f"({_one_line(e.reason)}); {fix}") from None
            except (TimeoutError, socket.timeout) as e:
                last = f"no reply within {self.timeout_s} s ({type(e).__name__})"
            except urllib.error.URLError as e:
                if isinstance(e.reason, (TimeoutError, socket.timeout)):
                    last = f"no reply within {self.timeout_s} s"
                else:
                    last = _one_line(f"{type(e.reason).__name__}: {e.reason}")
            except (ConnectionError, OSError) as e:
                last = _one_line(f"{type(e).__name__}: {e}")
        raise JudgeUnreachableError(
            f"OpenAICompatibleJudge: cannot get a reply from {self.url} after {tries} tries "
            f"(last: {last}); start the server or set base_url to a running OpenAI-compatible "
            "endpoint, or raise timeout_s / max_retries")

    def judge(self, scenario: Scenario, transcript: Transcript, agent: int) -> dict[str, float]:
        body = json.dumps({"model": self.model_id, "temperature": self.temperature,
                           "max_tokens": self.max_tokens,
                           "messages": self.messages(scenario, transcript, agent)}).encode()
        raw = self._post(body)
        where = f"OpenAICompatibleJudge({self.url})"
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise JudgeParseError(f"{where}: the reply is not an OpenAI chat completion JSON "
                                  f"({_one_line(raw[:80])!r}); check that base_url points at "
                                  "an OpenAI-compatible /v1 endpoint") from None
        if not isinstance(content, str):
            raise JudgeParseError(f"{where}: the reply's message content is not text; check "
                                  "that the model is a chat model")
        return parse_scores(content, self.dimensions, where)

    def judge_many(self, requests: Sequence[JudgeRequest]) -> list[dict[str, float]]:
        """Concurrent requests on ``max_workers`` threads; results in request order (the
        first error is raised after all finished)."""
        if len(requests) <= 1 or self.max_workers == 1:
            return [self.judge(*r) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(requests))) as pool:
            futures = [pool.submit(self.judge, *r) for r in requests]
            return [f.result() for f in futures]
