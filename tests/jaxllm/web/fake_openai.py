"""A tiny OpenAI-compatible endpoint for tests: canned chat replies, requests recorded.

  with FakeOpenAI(["<action>noop()</action>"]) as server:
    server.url             # 'http://127.0.0.1:PORT/v1'
    server.requests        # request bodies received (dicts)

Replies are served in order; the last one repeats once the list runs out. A reply may also be a
function of the request body (for replies that depend on the prompt).
"""
from __future__ import annotations

import http.server
import json
import threading
from typing import Any, Callable

Reply = str | Callable[[dict[str, Any]], str]


class FakeOpenAI:

  def __init__(self, replies: list[Reply]):
    self.replies = list(replies)
    self.requests: list[dict[str, Any]] = []
    self._lock = threading.Lock()
    outer = self

    class Handler(http.server.BaseHTTPRequestHandler):

      def log_message(self, *args: Any) -> None:  # quiet
        pass

      def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with outer._lock:
          outer.requests.append(body)
          reply = outer.replies[min(len(outer.requests), len(outer.replies)) - 1]
        text = reply(body) if callable(reply) else reply
        data = json.dumps({
          "id": "fake", "object": "chat.completion", "model": body.get("model", ""),
          "choices": [{"index": 0, "finish_reason": "stop",
                       "message": {"role": "assistant", "content": text}}],
          "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
    self.thread.start()

  @property
  def url(self) -> str:
    return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

  def close(self) -> None:
    self.server.shutdown()
    self.server.server_close()

  def __enter__(self) -> "FakeOpenAI":
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()
