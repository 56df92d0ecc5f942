"""OpenAICompatibleJudge against a local fake server (http.server on port 0, a thread):
success, retry after a 500, timeout, unreachable, malformed replies, the API key header,
the thread pool, and the disk cache (hits never reach the server)."""
from __future__ import annotations

import socket
import time

import pytest

from rllib_istar.envs.social.cache import CachedJudge, JudgeCache, cache_key
from doubles.fake_chat_server import FakeChatServer
from rllib_istar.envs.social.judges import (
    JudgeParseError,
    JudgeRequest,
    JudgeUnreachableError,
    OpenAICompatibleJudge,
)
from rllib_istar.envs.social.judges.openai_compat import chat_url
from rllib_istar.envs.social.scenarios import default_scenarios

SC = {s.id: s for s in default_scenarios()}
T = [(1, "hello the bike is 80 dollars"), (0, "i can pay 50"), (1, "deal 50 dollars it is")]
SCORES = {"believability": 8, "relationship": 2, "knowledge": 5, "secret": 0,
          "social_rules": -1, "financial_and_material_benefits": 3, "goal": 9}


def _judge(url, **kw):
    kw.setdefault("backoff_s", 0.01)
    kw.setdefault("timeout_s", 5.0)
    return OpenAICompatibleJudge(url, "fake-model", api_key_env="SOCIAL_TEST_KEY", **kw)


def test_success_sends_the_request_and_the_key(monkeypatch):
    monkeypatch.setenv("SOCIAL_TEST_KEY", "sk-test-123")
    with FakeChatServer(SCORES) as srv:
        judge = _judge(srv.base_url)
        assert judge.judge(SC["neg_bike"], T, 0) == {k: float(v) for k, v in SCORES.items()}
        assert srv.requests == 1
        assert srv.headers[0]["Authorization"] == "Bearer sk-test-123"
        body = srv.bodies[0]
        assert body["model"] == "fake-model" and body["temperature"] == 0.0
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert "turn 3 Ben said deal 50 dollars it is" in body["messages"][1]["content"]
        assert "goal 0 to 10" in body["messages"][1]["content"]
    monkeypatch.delenv("SOCIAL_TEST_KEY")
    with FakeChatServer({"goal": 4}) as srv:
        assert _judge(srv.base_url, dimensions=("goal",)).judge(SC["neg_bike"], T, 1) == \
            {"goal": 4.0}
        assert "Authorization" not in srv.headers[0]


def test_chat_url():
    assert chat_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h:1/v1/chat/completions") == "http://h:1/v1/chat/completions"


def test_retries_after_a_500():
    with FakeChatServer({"goal": 6}, script=["500", "500"]) as srv:
        judge = _judge(srv.base_url, dimensions=("goal",), max_retries=2)
        assert judge.judge(SC["neg_bike"], T, 0) == {"goal": 6.0}
        assert srv.requests == 3 and judge.num_requests == 3
    with FakeChatServer({"goal": 6}, default="500") as srv:
        with pytest.raises(JudgeUnreachableError, match=r"after 2 tries \(last: HTTP 500\)"):
            _judge(srv.base_url, dimensions=("goal",), max_retries=1).judge(SC["neg_bike"], T, 0)


def test_timeout_is_a_one_line_error():
    with FakeChatServer({"goal": 6}, default="sleep:1.5") as srv:
        judge = _judge(srv.base_url, dimensions=("goal",), timeout_s=0.2, max_retries=1)
        t0 = time.perf_counter()
        with pytest.raises(JudgeUnreachableError) as e:
            judge.judge(SC["neg_bike"], T, 0)
        assert time.perf_counter() - t0 < 1.2
        msg = str(e.value)
        assert "\n" not in msg and srv.base_url in msg and "no reply within 0.2 s" in msg
        assert "raise timeout_s" in msg


def test_unreachable_is_a_one_line_error():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(JudgeUnreachableError) as e:
        _judge(url, max_retries=1).judge(SC["neg_bike"], T, 0)
    msg = str(e.value)
    assert "\n" not in msg and f"{url}/chat/completions" in msg
    assert "after 2 tries" in msg and "start the server or set base_url" in msg


@pytest.mark.parametrize("action,match", [
    ("malformed", "is not an OpenAI chat completion JSON"),
    ("noscores", "cannot read scores"),
])
def test_unparseable_replies_are_one_line_errors(action, match):
    with FakeChatServer({"goal": 6}, default=action) as srv:
        with pytest.raises(JudgeParseError, match=match) as e:
            _judge(srv.base_url).judge(SC["neg_bike"], T, 0)
        assert "\n" not in str(e.value) and srv.base_url in str(e.value)
        assert srv.requests == 1  # a parse error is not retried


def test_judge_many_runs_concurrently_in_order():
    with FakeChatServer({"goal": 5}, default="sleep:0.2") as srv:
        judge = _judge(srv.base_url, dimensions=("goal",), max_workers=8)
        reqs = [JudgeRequest(SC["neg_bike"], T[:k + 1], 0) for k in range(3)] * 3
        t0 = time.perf_counter()
        out = judge.judge_many(reqs)
        elapsed = time.perf_counter() - t0
        assert out == [{"goal": 5.0}] * 9 and srv.requests == 9
        assert elapsed < 9 * 0.2 * 0.6, elapsed  # serial would take 1.8 s


def test_cache_hits_do_not_reach_the_server(tmp_path):
    path = tmp_path / "judge.sqlite"
    with FakeChatServer({"goal": 7}) as srv:
        cached = CachedJudge(_judge(srv.base_url, dimensions=("goal",)), JudgeCache(path))
        assert cached.judge(SC["neg_bike"], T, 0) == {"goal": 7.0}
        assert cached.judge(SC["neg_bike"], T, 0) == {"goal": 7.0}
        assert srv.requests == 1 and (cached.cache.hits, cached.cache.misses) == (1, 1)
        cached.judge(SC["neg_bike"], T, 1)  # another agent: another key
        assert srv.requests == 2
        reqs = [(SC["neg_bike"], T, 0), (SC["neg_bike"], T[:1], 0), (SC["neg_bike"], T[:1], 0),
                (SC["fav_ladder"], T, 0)]
        assert cached.judge_many(reqs) == [{"goal": 7.0}] * 4
        assert srv.requests == 4  # two distinct misses sent once each
        assert len(cached.cache) == 4
        # a new process (a new cache object on the same file) hits without the server
        again = CachedJudge(_judge(srv.base_url, dimensions=("goal",)), JudgeCache(path))
        assert again.judge_many(reqs) == [{"goal": 7.0}] * 4
        assert srv.requests == 4 and again.cache.hits == 3  # a batch looks a key up once
        # a different model id is a different key
        other = CachedJudge(OpenAICompatibleJudge(srv.base_url, "other", dimensions=("goal",)),
                            JudgeCache(path))
        other.judge(SC["neg_bike"], T, 0)
        assert srv.requests == 5


def test_cache_key():
    k = cache_key("openai", "m", "neg_bike", T, 0)
    assert k == cache_key("openai", "m", "neg_bike", [list(x) for x in T], 0)
    assert len({k, cache_key("openai", "m", "neg_bike", T, 1),
                cache_key("rule", "m", "neg_bike", T, 0),
                cache_key("openai", "m", "neg_sofa", T, 0),
                cache_key("openai", "m", "neg_bike", T[:2], 0)}) == 5
