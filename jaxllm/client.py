"""A small synchronous client for OpenAI-compatible endpoints (jaxllm.serve or any other).

    client = ChatClient("http://127.0.0.1:8000/v1", model="tiny")
    text = client.chat([{"role": "user", "content": "hi"}], max_tokens=32, temperature=0.0)
    texts = client.chat("hi", n=4, temperature=0.8, seed=0)      # n > 1: a list of strings
    raw = client.chat_completion("hi", logprobs=True)           # the full response dict
    text = client.complete("Once upon a time", max_tokens=16, stop=["\\n"])

Sampling keyword arguments are sent as request fields unchanged (max_tokens, temperature, top_p,
n, stop, seed, logprobs, ...). Only the standard library is used (urllib). Connection failures and
HTTP 429/502/503/504 are retried with exponential backoff; other HTTP errors raise `APIError` with
the server's message, type, param and code; timeouts raise `APITimeoutError`.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Sequence

Messages = str | Sequence[dict[str, Any]]

RETRY_STATUSES = (429, 502, 503, 504)


class APIError(Exception):
  """An error answer (or no answer) from the endpoint."""

  def __init__(self, message: str, *, status: int | None = None, type: str | None = None,
               param: str | None = None, code: str | None = None, body: Any = None):
    super().__init__(f"[{status}] {message}" if status else message)
    self.message, self.status, self.type, self.param, self.code, self.body = (
        message, status, type, param, code, body)


class APIConnectionError(APIError):
  """The endpoint could not be reached (after retries)."""


class APITimeoutError(APIError):
  """The endpoint did not answer within the timeout."""


def _normalize_base_url(base_url: str) -> str:
  url = base_url.rstrip("/")
  if urllib.parse.urlparse(url).path in ("", "/"):
    url += "/v1"
  return url


class ChatClient:
  """Talks to `{base_url}/chat/completions`, `/completions` and `/models`.

  Args:
    base_url: e.g. "http://127.0.0.1:8000/v1" ("/v1" is appended when the URL has no path).
    model: the model id sent with every request.
    api_key: sent as "Authorization: Bearer ..." when given.
    timeout: seconds per HTTP attempt.
    max_retries: extra attempts after a connection failure or a 429/502/503/504 answer.
    backoff: first retry delay in seconds, doubled each time.
  """

  def __init__(self, base_url: str, model: str, api_key: str | None = None, *,
               timeout: float = 300.0, max_retries: int = 3, backoff: float = 0.5):
    self.base_url = _normalize_base_url(base_url)
    self.model = model
    self.api_key = api_key
    self.timeout = timeout
    self.max_retries = max_retries
    self.backoff = backoff

  # -- high level ----------------------------------------------------------------------------------

  def chat(self, messages: Messages, **sampling: Any) -> str | list[str]:
    """The assistant's reply text; a list of n texts when n > 1."""
    choices = self.chat_completion(messages, **sampling)["choices"]
    texts = [c["message"].get("content") or "" for c in sorted(choices, key=lambda c: c["index"])]
    return texts[0] if sampling.get("n", 1) == 1 and len(texts) == 1 else texts

  def complete(self, prompt: str | Sequence[int], **sampling: Any) -> str | list[str]:
    """The completion text; a list when n > 1."""
    choices = self.completion(prompt, **sampling)["choices"]
    texts = [c["text"] for c in sorted(choices, key=lambda c: c["index"])]
    return texts[0] if sampling.get("n", 1) == 1 and len(texts) == 1 else texts

  def chat_completion(self, messages: Messages, **sampling: Any) -> dict[str, Any]:
    """The full chat.completion response."""
    if isinstance(messages, str):
      messages = [{"role": "user", "content": messages}]
    return self._post("/chat/completions", {"messages": list(messages), **sampling})

  def completion(self, prompt: str | Sequence[Any], **sampling: Any) -> dict[str, Any]:
    """The full text_completion response (prompt: text, token ids, or a list of either)."""
    if not isinstance(prompt, str):
      prompt = list(prompt)
    return self._post("/completions", {"prompt": prompt, **sampling})

  def models(self) -> list[str]:
    return [m["id"] for m in self.request("GET", "/models")["data"]]

  # -- transport ---------------------------------------------------------------------------------

  def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("stream"):
      raise ValueError("ChatClient does not support stream=True; use the non-streaming calls.")
    return self.request("POST", path, {"model": self.model, **body})

  def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One JSON request with retries; returns the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json", "User-Agent": "jaxllm-client"}
    if data is not None:
      headers["Content-Type"] = "application/json"
    if self.api_key:
      headers["Authorization"] = f"Bearer {self.api_key}"
    url = self.base_url + path
    attempt = 0
    while True:
      req = urllib.request.Request(url, data=data, headers=headers, method=method)
      try:
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
          payload = resp.read()
        try:
          return json.loads(payload)
        except json.JSONDecodeError:
          raise APIError(f"{url} answered with non-JSON: {payload[:200]!r}") from None
      except urllib.error.HTTPError as e:
        error = self._http_error(e, url)
        retry_after = e.headers.get("Retry-After") if e.headers else None
        if e.code not in RETRY_STATUSES or attempt >= self.max_retries:
          raise error from None
        delay = self._delay(attempt, retry_after)
      except TimeoutError:
        raise APITimeoutError(f"{method} {url} timed out after {self.timeout}s.") from None
      except (urllib.error.URLError, ConnectionError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, TimeoutError):
          raise APITimeoutError(f"{method} {url} timed out after {self.timeout}s.") from None
        if attempt >= self.max_retries:
          raise APIConnectionError(f"could not reach {url} after {attempt + 1} attempts: "
                                   f"{reason}") from None
        delay = self._delay(attempt, None)
      attempt += 1
      time.sleep(delay)

  def _delay(self, attempt: int, retry_after: str | None) -> float:
    try:
      if retry_after is not None:
        return min(float(retry_after), 30.0)
    except ValueError:
      pass
    return self.backoff * (2 ** attempt)

  @staticmethod
  def _http_error(e: urllib.error.HTTPError, url: str) -> APIError:
    raw = e.read() if e.fp is not None else b""
    try:
      body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
      body = None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
      return APIError(str(err.get("message")), status=e.code, type=err.get("type"),
                      param=err.get("param"), code=err.get("code"), body=body)
    text = raw[:500].decode("utf-8", "replace") or e.reason
    return APIError(f"{url}: {text}", status=e.code, body=body)
