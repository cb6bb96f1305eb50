"""OpenAI request validation and response shapes for /v1/chat/completions and /v1/completions.

Everything here is plain data in, plain data out (no HTTP), so it is easy to test. Invalid input
raises `ApiError`, which the app renders as `{"error": {"message", "type", "param", "code"}}`.

Supported request fields: model, messages / prompt (string, list of strings, token ids, or lists of
token ids), max_tokens (chat also max_completion_tokens), n, temperature, top_p, top_k, min_p,
stop (string or list), seed, stream, stream_options.include_usage, logprobs (chat: bool and
top_logprobs; completions: int), and the extension stop_token_ids. Returned logprobs are those of
the chosen tokens; alternatives (`top_logprobs`) are not computed by the sampler, so they come
back empty. Unsupported features (echo, suffix, logit_bias, tools, penalties other than 0) are
rejected with a 400 rather than silently ignored; unknown fields are ignored.
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from typing import Any, Sequence

from jaxllm.serving.batcher import GenResult

MAX_STOP_STRINGS = 16


class ApiError(Exception):
  """An error with an HTTP status, rendered in OpenAI's error shape."""

  def __init__(self, message: str, *, status: int = 400, type: str = "invalid_request_error",
               param: str | None = None, code: str | None = None):
    super().__init__(message)
    self.message, self.status, self.type, self.param, self.code = message, status, type, param, code

  def body(self) -> dict[str, Any]:
    return {"error": {"message": self.message, "type": self.type, "param": self.param,
                      "code": self.code}}


@dataclasses.dataclass
class Limits:
  """What the server can do, used to validate requests."""
  model_name: str
  max_context: int          # the model's max_position_embeddings
  vocab_size: int
  max_batch: int            # most samples (n) per request
  max_new_tokens_limit: int  # hard cap on max_tokens
  default_max_tokens: int   # when the request gives none (completions default to 16, as OpenAI)


@dataclasses.dataclass
class Sampling:
  """Validated sampling fields shared by both endpoints."""
  n: int = 1
  max_tokens: int | None = None
  temperature: float = 1.0
  top_p: float = 1.0
  top_k: int = 0
  min_p: float = 0.0
  seed: int | None = None
  stop: tuple[str, ...] = ()
  stop_token_ids: tuple[int, ...] | None = None
  stream: bool = False
  include_usage: bool = False
  logprobs: bool = False


# -- field helpers --------------------------------------------------------------------------------

def _number(body: dict, name: str, default: float, lo: float, hi: float) -> float:
  v = body.get(name)
  if v is None:
    return default
  if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
    raise ApiError(f"'{name}' must be a number.", param=name, code="invalid_type")
  if not lo <= v <= hi:
    raise ApiError(f"'{name}' must be between {lo} and {hi}, got {v}.", param=name,
                   code="invalid_value")
  return float(v)


def _integer(body: dict, name: str, default: int | None, lo: int, hi: int) -> int | None:
  v = body.get(name)
  if v is None:
    return default
  if isinstance(v, bool) or not isinstance(v, int):
    raise ApiError(f"'{name}' must be an integer.", param=name, code="invalid_type")
  if not lo <= v <= hi:
    raise ApiError(f"'{name}' must be between {lo} and {hi}, got {v}.", param=name,
                   code="invalid_value")
  return v


def _unsupported(body: dict, name: str, neutral: Sequence[Any] = (None,)) -> None:
  if name in body and body[name] not in neutral:
    raise ApiError(f"'{name}' is not supported by this server.", param=name,
                   code="unsupported_parameter")


def check_model(body: dict, limits: Limits) -> None:
  model = body.get("model")
  if model is None:
    raise ApiError("you must provide a 'model' parameter.", param="model", code="missing_field")
  if not isinstance(model, str):
    raise ApiError("'model' must be a string.", param="model", code="invalid_type")
  if model != limits.model_name:
    raise ApiError(f"The model '{model}' does not exist; this server serves "
                   f"'{limits.model_name}'.", status=404, param="model", code="model_not_found")


def parse_sampling(body: dict, limits: Limits, *, chat: bool) -> Sampling:
  """Validates the sampling fields of either endpoint."""
  for name in ("logit_bias", "tools", "functions", "suffix"):
    _unsupported(body, name, (None, {}, []))
  for name in ("presence_penalty", "frequency_penalty"):
    _unsupported(body, name, (None, 0, 0.0))
  _unsupported(body, "echo", (None, False))
  s = Sampling()
  s.n = _integer(body, "n", 1, 1, limits.max_batch)
  if body.get("best_of") not in (None, s.n):
    raise ApiError("'best_of' other than n is not supported.", param="best_of",
                   code="unsupported_parameter")
  name = "max_completion_tokens" if chat and body.get("max_tokens") is None else "max_tokens"
  s.max_tokens = _integer(body, name, None, 1, limits.max_new_tokens_limit)
  s.temperature = _number(body, "temperature", 1.0, 0.0, 100.0)
  s.top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
  top_k = _integer(body, "top_k", 0, -1, limits.vocab_size)
  s.top_k = max(top_k, 0)
  s.min_p = _number(body, "min_p", 0.0, 0.0, 1.0)
  s.seed = _integer(body, "seed", None, -(2 ** 63), 2 ** 64 - 1)
  if s.seed is not None:
    s.seed %= 2 ** 31
  stop = body.get("stop")
  if isinstance(stop, str):
    stop = [stop]
  if stop is not None and (not isinstance(stop, list) or len(stop) > MAX_STOP_STRINGS
                           or not all(isinstance(x, str) for x in stop)):
    raise ApiError(f"'stop' must be a string or a list of at most {MAX_STOP_STRINGS} strings.",
                   param="stop", code="invalid_type")
  s.stop = tuple(x for x in (stop or []) if x)
  ids = body.get("stop_token_ids")
  if ids is not None:
    if (not isinstance(ids, list) or not 0 < len(ids) <= 16
        or not all(_is_token(i, limits.vocab_size) for i in ids)):
      raise ApiError("'stop_token_ids' must be a list of 1 to 16 token ids.",
                     param="stop_token_ids", code="invalid_value")
    s.stop_token_ids = tuple(ids)
  stream = body.get("stream", False)
  if not isinstance(stream, bool):
    raise ApiError("'stream' must be a boolean.", param="stream", code="invalid_type")
  s.stream = stream
  opts = body.get("stream_options") or {}
  if not isinstance(opts, dict):
    raise ApiError("'stream_options' must be an object.", param="stream_options",
                   code="invalid_type")
  s.include_usage = bool(opts.get("include_usage", False))
  if chat:
    lp = body.get("logprobs", False)
    if lp is not None and not isinstance(lp, bool):
      raise ApiError("'logprobs' must be a boolean.", param="logprobs", code="invalid_type")
    _integer(body, "top_logprobs", 0, 0, 20)
    s.logprobs = bool(lp)
  else:
    s.logprobs = _integer(body, "logprobs", None, 0, 5) is not None
  return s


def _is_token(i: Any, vocab: int) -> bool:
  return isinstance(i, int) and not isinstance(i, bool) and 0 <= i < vocab


def _text_of(content: Any, where: str) -> str:
  if content is None:
    return ""
  if isinstance(content, str):
    return content
  if isinstance(content, list):
    parts = []
    for part in content:
      if not (isinstance(part, dict) and part.get("type") == "text"
              and isinstance(part.get("text"), str)):
        raise ApiError(f"{where}: only text content parts are supported.", param="messages",
                       code="invalid_value")
      parts.append(part["text"])
    return "".join(parts)
  raise ApiError(f"{where}: 'content' must be a string or a list of text parts.",
                 param="messages", code="invalid_type")


def parse_messages(body: dict) -> list[dict[str, str]]:
  messages = body.get("messages")
  if messages is None:
    raise ApiError("you must provide a 'messages' parameter.", param="messages",
                   code="missing_field")
  if not isinstance(messages, list) or not messages:
    raise ApiError("'messages' must be a non-empty list.", param="messages", code="invalid_type")
  out = []
  for i, m in enumerate(messages):
    where = f"messages[{i}]"
    if not isinstance(m, dict):
      raise ApiError(f"{where} must be an object.", param="messages", code="invalid_type")
    role = m.get("role")
    if role not in ("system", "developer", "user", "assistant", "tool"):
      raise ApiError(f"{where}: invalid 'role' {role!r}.", param="messages", code="invalid_value")
    if "content" not in m and role != "assistant":
      raise ApiError(f"{where}: missing 'content'.", param="messages", code="missing_field")
    out.append({"role": role, "content": _text_of(m.get("content"), where)})
  return out


def parse_prompts(body: dict, tokenizer: Any, vocab_size: int) -> list[list[int]]:
  """Completions `prompt`: str | list[str] | list[int] | list[list[int]] -> token id lists."""
  prompt = body.get("prompt")
  if prompt is None:
    raise ApiError("you must provide a 'prompt' parameter.", param="prompt", code="missing_field")
  if isinstance(prompt, str):
    prompts: list[Any] = [prompt]
  elif isinstance(prompt, list) and prompt and all(_is_token(t, vocab_size) for t in prompt):
    prompts = [prompt]
  elif isinstance(prompt, list) and prompt:
    prompts = prompt
  else:
    raise ApiError("'prompt' must be a string, a list of strings, a list of token ids or a list "
                   "of lists of token ids.", param="prompt", code="invalid_type")
  out = []
  for p in prompts:
    if isinstance(p, str):
      out.append(tokenizer.encode(p))
    elif isinstance(p, list) and p and all(_is_token(t, vocab_size) for t in p):
      out.append(list(p))
    else:
      raise ApiError(f"'prompt' entries must be strings or non-empty lists of token ids in "
                     f"[0, {vocab_size}).", param="prompt", code="invalid_value")
    if not out[-1]:
      raise ApiError("the prompt is empty after tokenization.", param="prompt",
                     code="invalid_value")
    check_token_ids(out[-1], vocab_size, "prompt")
  return out


def check_token_ids(ids: Sequence[int], vocab_size: int, param: str) -> None:
  """A tokenized prompt may hold ids the checkpoint has no embedding for (a tokenizer with tokens
  added past the model's vocabulary): reject the request, not the batch it would join."""
  bad = sorted({int(t) for t in ids if not 0 <= int(t) < vocab_size})
  if bad:
    raise ApiError(f"the tokenized prompt has token ids {bad[:8]} outside the model's vocabulary "
                   f"[0, {vocab_size}); the tokenizer and the checkpoint do not match.",
                   param=param, code="invalid_value")


def resolve_max_tokens(prompt_len: int, requested: int | None, room: int, limits: Limits,
                       param: str) -> int:
  """Checks the prompt fits the context and the cache; returns the max_tokens to use."""
  if prompt_len >= limits.max_context:
    raise ApiError(f"This model's maximum context length is {limits.max_context} tokens, but "
                   f"the prompt has {prompt_len} tokens.", param=param,
                   code="context_length_exceeded")
  if room < 1:
    raise ApiError(f"The prompt has {prompt_len} tokens, which does not fit this server's KV "
                   f"cache (prompts are padded to a power-of-two bucket, and the cache must "
                   f"hold it plus at least one new token).", param=param,
                   code="context_length_exceeded")
  budget = min(room, limits.max_context - prompt_len)
  if requested is None:
    return min(limits.default_max_tokens, budget)
  if requested > budget:
    raise ApiError(f"max_tokens={requested} is too large: the prompt has {prompt_len} tokens and "
                   f"at most {budget} new tokens fit after it (context {limits.max_context}).",
                   param="max_tokens", code="context_length_exceeded")
  return requested


# -- responses ------------------------------------------------------------------------------------

def new_id(prefix: str) -> str:
  return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(prompt_lens: Sequence[int], results: Sequence[GenResult]) -> dict[str, int]:
  p, c = int(sum(prompt_lens)), int(sum(len(r.tokens) for r in results))
  return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _token_strings(tokenizer: Any, tokens: Sequence[int]) -> list[str]:
  return [tokenizer.decode([t], skip_special_tokens=False) for t in tokens]


def chat_logprobs(tokenizer: Any, r: GenResult) -> dict[str, Any]:
  return {"content": [{"token": s, "logprob": lp, "bytes": list(s.encode("utf-8")),
                       "top_logprobs": []}
                      for s, lp in zip(_token_strings(tokenizer, r.tokens), r.logprobs)]}


def completion_logprobs(tokenizer: Any, r: GenResult) -> dict[str, Any]:
  strings = _token_strings(tokenizer, r.tokens)
  offsets, pos = [], 0
  for s in strings:
    offsets.append(pos)
    pos += len(s)
  return {"tokens": strings, "token_logprobs": list(r.logprobs),
          "top_logprobs": [None] * len(strings), "text_offset": offsets}


def chat_response(model: str, results: Sequence[GenResult], prompt_len: int, s: Sampling,
                  tokenizer: Any) -> dict[str, Any]:
  choices = [{"index": i, "message": {"role": "assistant", "content": r.text},
              "logprobs": chat_logprobs(tokenizer, r) if s.logprobs else None,
              "finish_reason": r.finish_reason} for i, r in enumerate(results)]
  return {"id": new_id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
          "model": model, "choices": choices, "usage": usage([prompt_len], results)}


def completion_response(model: str, per_prompt: Sequence[Sequence[GenResult]],
                        prompt_lens: Sequence[int], s: Sampling, tokenizer: Any) -> dict[str, Any]:
  flat = [r for rs in per_prompt for r in rs]
  choices = [{"index": i, "text": r.text,
              "logprobs": completion_logprobs(tokenizer, r) if s.logprobs else None,
              "finish_reason": r.finish_reason} for i, r in enumerate(flat)]
  return {"id": new_id("cmpl"), "object": "text_completion", "created": int(time.time()),
          "model": model, "choices": choices, "usage": usage(prompt_lens, flat)}


def chat_chunks(response: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
  """A finished chat.completion as the chunks a stream would have sent."""
  base = {k: response[k] for k in ("id", "created", "model")}
  base["object"] = "chat.completion.chunk"
  chunks = []
  for c in response["choices"]:
    i = c["index"]
    chunks.append({**base, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                        "logprobs": None, "finish_reason": None}]})
    chunks.append({**base, "choices": [{"index": i, "delta": {"content": c["message"]["content"]},
                                        "logprobs": c["logprobs"], "finish_reason": None}]})
    chunks.append({**base, "choices": [{"index": i, "delta": {}, "logprobs": None,
                                        "finish_reason": c["finish_reason"]}]})
  if include_usage:
    chunks.append({**base, "choices": [], "usage": response["usage"]})
  return chunks


def completion_chunks(response: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
  base = {k: response[k] for k in ("id", "object", "created", "model")}
  chunks = []
  for c in response["choices"]:
    chunks.append({**base, "choices": [{"index": c["index"], "text": c["text"],
                                        "logprobs": c["logprobs"], "finish_reason": None}]})
    chunks.append({**base, "choices": [{"index": c["index"], "text": "", "logprobs": None,
                                        "finish_reason": c["finish_reason"]}]})
  if include_usage:
    chunks.append({**base, "choices": [], "usage": response["usage"]})
  return chunks
