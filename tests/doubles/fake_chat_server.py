"""A fake OpenAI-compatible chat server (stdlib ``http.server``) for tests and benchmarks.

``with FakeChatServer(scores={"goal": 7}) as srv:`` serves ``POST /v1/chat/completions``
on ``127.0.0.1`` at a free port (``srv.base_url``) from a daemon thread. Each request
takes the next action of ``script`` (then ``default``):

* ``"ok"``: a chat completion whose content is ``json.dumps(scores)``;
* ``"500"``: HTTP 500; ``"sleep:<s>"``: wait ``s`` seconds, then ``"ok"``;
* ``"malformed"``: HTTP 200 with a body that is not JSON;
* ``"noscores"``: a valid completion whose content has no scores.

``srv.requests`` counts requests, ``srv.headers`` and ``srv.bodies`` keep what came in.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Sequence

__all__ = ["FakeChatServer"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops concurrent connects (1 s SYN retry)


class FakeChatServer:
    """See the module docstring."""

    def __init__(self, scores: dict | None = None, script: Sequence[str] = (),
                 default: str = "ok"):
        self.scores = dict(scores or {"goal": 7})
        self.script, self.default = list(script), default
        self.requests = 0
        self.headers: list[dict[str, str]] = []
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None

    def _next_action(self) -> str:
        with self._lock:
            self.requests += 1
            return self.script.pop(0) if self.script else self.default

    def _handler(self):
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                action = srv._next_action()
                with srv._lock:
                    srv.headers.append(dict(self.headers))
                    srv.bodies.append(json.loads(raw or b"{}"))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, b'{"error": "not found"}')
                if action.startswith("sleep:"):
                    time.sleep(float(action.split(":", 1)[1]))
                    action = "ok"
                if action == "500":
                    return self._send(500, b'{"error": "boom"}')
                if action == "malformed":
                    return self._send(200, b"<html>not json")
                content = "i can not tell" if action == "noscores" else json.dumps(srv.scores)
                body = {"id": "fake", "object": "chat.completion", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}]}
                return self._send(200, json.dumps(body).encode())

        return Handler

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "FakeChatServer":
        self._server = _Server(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeChatServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
