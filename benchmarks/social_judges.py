"""Judge throughput: ``python -m benchmarks.social_judges [--out FILE.md]``.

Measures RuleJudge calls/s over scripted self-play transcripts of every scenario, and
OpenAICompatibleJudge calls/s against ``tests/doubles/fake_chat_server.py`` (loopback,
instant replies, then ``--latency-s`` per reply): one call at a time, ``judge_many``
on a thread pool, and
``CachedJudge`` with every request already cached (hits only). Optionally
(``--hf-model``, a local folder) HFJudge goal-only calls/s. Prints a Markdown table and
writes it to ``--out``.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from typing import Callable

from rllib_istar.envs.social.cache import CachedJudge, JudgeCache
from rllib_istar.envs.social.dialogue import should_end
from tests.doubles.fake_chat_server import FakeChatServer
from rllib_istar.envs.social.judges import (
    HFJudge,
    JudgeRequest,
    OpenAICompatibleJudge,
    RuleJudge,
)
from rllib_istar.envs.social.partners import ScriptedPartner
from rllib_istar.envs.social.scenarios import default_scenarios

__all__ = ["self_play_requests", "main"]


def self_play_requests() -> list[JudgeRequest]:
    """One finished scripted-vs-scripted dialogue per scenario, judged for both sides."""
    partner, out = ScriptedPartner(), []
    for s in default_scenarios():
        t: list = []
        while not should_end(t):
            t.append((len(t) % 2, partner.reply(s, t, len(t) % 2)))
        out += [JudgeRequest(s, tuple(t), 0), JudgeRequest(s, tuple(t), 1)]
    return out


def _rate(fn: Callable[[], int], min_s: float = 1.0) -> float:
    """Calls per second of ``fn`` (returns how many calls it made), repeated >= min_s."""
    n, t0 = 0, time.perf_counter()
    while True:
        n += fn()
        dt = time.perf_counter() - t0
        if dt >= min_s:
            return n / dt


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--latency-s", type=float, default=0.05,
                    help="fake server reply delay for the latency rows")
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--hf-model", default=None, help="local HF folder for the HFJudge row")
    args = ap.parse_args(argv)
    reqs = self_play_requests()
    rows = []
    rule = RuleJudge()
    rows.append(("RuleJudge.judge", "-", _rate(lambda: len(rule.judge_many(reqs)))))
    with FakeChatServer({"goal": 7}) as srv:
        http = OpenAICompatibleJudge(srv.base_url, "fake", dimensions=("goal",), timeout_s=10,
                                     max_workers=args.workers)
        rows.append(("OpenAICompatibleJudge.judge (serial)", "no",
                     _rate(lambda: sum(1 for r in reqs[:16] if http.judge(*r)))))
        rows.append((f"OpenAICompatibleJudge.judge_many ({args.workers} threads)", "no",
                     _rate(lambda: len(http.judge_many(reqs)))))
        with tempfile.TemporaryDirectory() as tmp:
            cached = CachedJudge(http, JudgeCache(os.path.join(tmp, "c.sqlite")))
            cached.judge_many(reqs)  # fill
            sent = srv.requests
            rows.append(("CachedJudge(OpenAICompatibleJudge).judge_many, all hits", "sqlite",
                         _rate(lambda: len(cached.judge_many(reqs)))))
            rows.append(("CachedJudge(OpenAICompatibleJudge).judge, all hits", "sqlite",
                         _rate(lambda: sum(1 for r in reqs if cached.judge(*r)))))
            assert srv.requests == sent, "cache hits reached the server"
            hits = cached.cache.hits
    with FakeChatServer({"goal": 7}, default=f"sleep:{args.latency_s}") as srv:
        slow = OpenAICompatibleJudge(srv.base_url, "fake", dimensions=("goal",), timeout_s=10,
                                     max_workers=args.workers)
        ms = f"{args.latency_s * 1000:.0f} ms server latency"
        rows.append((f"OpenAICompatibleJudge.judge (serial, {ms})", "no",
                     _rate(lambda: sum(1 for r in reqs[:8] if slow.judge(*r)))))
        rows.append((f"OpenAICompatibleJudge.judge_many ({args.workers} threads, {ms})", "no",
                     _rate(lambda: len(slow.judge_many(reqs)))))
    if args.hf_model:
        import torch

        torch.set_num_threads(args.torch_threads)
        hf = HFJudge(args.hf_model)
        rows.append((f"HFJudge expectation goal-only ({os.path.basename(args.hf_model)}, "
                     f"{args.torch_threads} torch thread(s))", "no",
                     _rate(lambda: len(hf.judge_many(reqs[:4])), min_s=2.0)))
    lines = ["| judge | cache | calls/s |", "|---|---|---:|"]
    lines += [f"| {name} | {cache} | {rate:,.0f} |" for name, cache, rate in rows]
    text = "\n".join(lines) + (
        f"\n\n{len(reqs)} requests ({len(reqs) // 2} scenarios x 2 sides, scripted self-play "
        f"transcripts); {hits} cache hits counted in the cached rows, no request reached the "
        f"server. Python {platform.python_version()}, {os.cpu_count()} CPUs.\n")
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    return text


if __name__ == "__main__":
    main()
