"""Request batching: one worker thread turns concurrent requests into few `Sampler.generate` calls.

    batcher = Batcher(sampler, max_batch=16, batch_wait_ms=5).start()
    future = batcher.submit(GenRequest(prompt=[1, 2, 3], max_tokens=16, temperature=0.0))
    results = future.result()  # list[GenResult], one per sample (n)

The worker blocks for a first request, then keeps collecting for `batch_wait_ms` (or until
`max_batch` rows are queued). Requests whose future was cancelled meanwhile (the client went away)
are dropped. The rest are grouped by the settings one `generate` call shares (temperature, top-k,
top-p, min-p, stop token ids, seed) and packed into calls of at most `max_batch` rows whose padded
prompt length leaves room in the KV cache for every member's `max_tokens`. Within a call each
request contributes `n` copies of its prompt; the call decodes max(max_tokens) steps and each
request keeps its own prefix, so `max_tokens`, `n` and stop strings never split a group. Stop
strings are matched here on host, on the decoded text.

Equality with unbatched generation: greedy rows do not depend on their neighbours. A sampled
request with an explicit `seed` runs in a call of its own, as rows 0..n-1, so it reproduces
`Sampler.generate([prompt], SamplingParams(n=n, seed=seed, ...))`; unseeded sampled requests share
calls under a fresh random seed. Row counts are padded to powers of two, or always to `max_batch`
with `fixed_rows=True` (repeating the first row, whose outputs are discarded), to bound the number
of compiled shapes.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import queue
import random
import threading
import time
from typing import Any

from jaxllm.sampling import Sampler, SamplingParams

log = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class GenRequest:
  """One prompt (token ids) with its sampling settings; `future` receives list[GenResult]."""
  prompt: list[int]
  max_tokens: int
  n: int = 1
  temperature: float = 1.0
  top_p: float = 1.0
  top_k: int = 0
  min_p: float = 0.0
  seed: int | None = None
  stop: tuple[str, ...] = ()
  stop_token_ids: tuple[int, ...] | None = None
  future: concurrent.futures.Future = dataclasses.field(default_factory=concurrent.futures.Future)

  def group_key(self) -> tuple[Any, ...]:
    """Requests with equal keys can share one generate call."""
    if self.temperature <= 0:  # greedy: filters and seed are irrelevant
      return (0.0, 0, 1.0, 0.0, self.stop_token_ids, None)
    seed_key = None if self.seed is None else ("alone", id(self))
    return (float(self.temperature), int(self.top_k), float(self.top_p), float(self.min_p),
            self.stop_token_ids, seed_key)


@dataclasses.dataclass
class GenResult:
  """One sample. `tokens` include the stop token id that ended it; `text` excludes it."""
  tokens: list[int]
  logprobs: list[float]
  text: str
  finish_reason: str  # "stop" or "length"


def bucket(length: int, minimum: int) -> int:
  """Padded prompt length used by Sampler: minimum * 2**k >= length."""
  size = minimum
  while size < length:
    size *= 2
  return size


def _row_bucket(rows: int, max_rows: int) -> int:
  size = 1
  while size < rows:
    size *= 2
  return max(rows, min(size, max_rows))


class Batcher:
  """Owns the sampler: a single worker thread runs every generate call.

  Args:
    sampler: a Sampler with a tokenizer and a fixed `cache_size`.
    max_batch: most rows (prompt copies) per generate call, and per collection round.
    batch_wait_ms: how long to keep collecting after the first request of a round arrives.
    max_queue: submissions beyond this many waiting requests are refused (RuntimeError).
    fixed_rows: pad every call to exactly `max_batch` rows (one compiled shape per prompt
      bucket; best on accelerators or when compilation is slow) instead of a power of two.
  """

  def __init__(self, sampler: Sampler, *, max_batch: int = 16, batch_wait_ms: float = 5.0,
               max_queue: int = 4096, fixed_rows: bool = False):
    if sampler.tokenizer is None:
      raise ValueError("the batcher needs a Sampler with a tokenizer.")
    if not sampler.cache_size:
      raise ValueError("the batcher needs a Sampler with a fixed cache_size.")
    self.sampler = sampler
    self.tokenizer = sampler.tokenizer
    self.cache_size = int(sampler.cache_size)
    self.prompt_bucket = int(sampler.prompt_bucket)
    self.max_batch = int(max_batch)
    self.batch_wait = batch_wait_ms / 1000.0
    self.max_queue = max_queue
    self.fixed_rows = fixed_rows
    self.stats = {"requests": 0, "completed": 0, "dropped": 0, "failed": 0,
                  "generate_calls": 0, "rows": 0, "padded_rows": 0, "rounds": 0}
    self._lock = threading.Lock()
    # Held around every tokenizer call (HF fast tokenizers are not safe to share across threads).
    self.tokenizer_lock = threading.Lock()
    self._queue: queue.Queue[GenRequest] = queue.Queue()
    self._stopping = threading.Event()
    self._thread: threading.Thread | None = None

  # -- public ------------------------------------------------------------------------------------

  def start(self) -> "Batcher":
    if self._thread is None or not self._thread.is_alive():
      self._stopping.clear()
      self._thread = threading.Thread(target=self._loop, name="jaxllm-batcher", daemon=True)
      self._thread.start()
    return self

  def stop(self, timeout: float = 30.0) -> None:
    self._stopping.set()
    if self._thread is not None:
      self._thread.join(timeout)
    self._thread = None
    while True:  # fail whatever is still queued
      try:
        req = self._queue.get_nowait()
      except queue.Empty:
        break
      if not req.future.done():
        req.future.set_exception(RuntimeError("the server is shutting down."))

  @property
  def running(self) -> bool:
    return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

  def default_stop_ids(self) -> tuple[int, ...]:
    ids = getattr(self.tokenizer, "eos_token_ids", None) or self.sampler.cfg.eos_token_ids
    return tuple(int(i) for i in ids)

  def room(self, prompt_len: int) -> int:
    """New tokens that fit in the cache after a prompt of this length (<= 0: prompt too long)."""
    return self.cache_size - bucket(prompt_len, self.prompt_bucket)

  def submit(self, req: GenRequest) -> concurrent.futures.Future:
    if not self.running:
      raise RuntimeError("the batcher is not running.")
    if self._queue.qsize() >= self.max_queue:
      raise RuntimeError(f"too many queued requests (max_queue={self.max_queue}).")
    if req.n > self.max_batch:
      raise ValueError(f"n={req.n} is larger than max_batch={self.max_batch}.")
    if req.max_tokens > self.room(len(req.prompt)):
      raise ValueError("prompt plus max_tokens do not fit the KV cache.")
    with self._lock:
      self.stats["requests"] += 1
    self._queue.put(req)
    return req.future

  def snapshot(self) -> dict[str, int]:
    with self._lock:
      return dict(self.stats, queued=self._queue.qsize())

  # -- worker ------------------------------------------------------------------------------------

  def _bump(self, key: str, by: int = 1) -> None:
    with self._lock:
      self.stats[key] += by

  def _loop(self) -> None:
    while not self._stopping.is_set():
      batch = self._collect()
      if not batch:
        continue
      self._bump("rounds")
      live = [r for r in batch if r.future.set_running_or_notify_cancel()]
      self._bump("dropped", len(batch) - len(live))
      for group in self.plan(live):
        if self._stopping.is_set():
          for r in group:
            r.future.set_exception(RuntimeError("the server is shutting down."))
          continue
        self._run(group)

  def _collect(self) -> list[GenRequest]:
    try:
      first = self._queue.get(timeout=0.1)
    except queue.Empty:
      return []
    batch, rows = [first], first.n
    deadline = time.monotonic() + self.batch_wait
    while rows < self.max_batch:
      remaining = deadline - time.monotonic()
      try:
        req = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
      except queue.Empty:
        break
      batch.append(req)
      rows += req.n
    return batch

  def plan(self, reqs: list[GenRequest]) -> list[list[GenRequest]]:
    """Splits requests into generate calls (see the module docstring)."""
    by_key: dict[tuple[Any, ...], list[GenRequest]] = {}
    for r in reqs:
      by_key.setdefault(r.group_key(), []).append(r)
    calls: list[list[GenRequest]] = []
    for members in by_key.values():
      members = sorted(members, key=lambda r: -bucket(len(r.prompt), self.prompt_bucket))
      groups: list[tuple[int, list[GenRequest]]] = []  # (padded prompt length, members)
      for r in members:
        for p_len, g in groups:
          if (sum(x.n for x in g) + r.n <= self.max_batch
              and p_len + r.max_tokens <= self.cache_size):
            g.append(r)
            break
        else:
          groups.append((bucket(len(r.prompt), self.prompt_bucket), [r]))
      calls.extend(g for _, g in groups)
    return calls

  def _run(self, group: list[GenRequest]) -> None:
    first = group[0]
    stop_ids = first.stop_token_ids if first.stop_token_ids is not None else self.default_stop_ids()
    rows = [r.prompt for r in group for _ in range(r.n)]
    n_real = len(rows)
    target = self.max_batch if self.fixed_rows else _row_bucket(n_real, self.max_batch)
    rows += [rows[0]] * (target - n_real)
    seed = first.seed if first.seed is not None else random.getrandbits(31)
    params = SamplingParams(max_new_tokens=max(r.max_tokens for r in group),
                            temperature=max(float(first.temperature), 0.0), top_k=first.top_k,
                            top_p=first.top_p, min_p=first.min_p, n=1,
                            stop_token_ids=stop_ids, seed=seed)
    try:
      self._bump("generate_calls")
      self._bump("rows", n_real)
      self._bump("padded_rows", len(rows) - n_real)
      outs = self.sampler.generate(rows, params)
      i = 0
      for r in group:
        with self.tokenizer_lock:
          results = [self._finish(outs[i + j].tokens, outs[i + j].logprobs, r, stop_ids)
                     for j in range(r.n)]
        i += r.n
        if not r.future.done():
          r.future.set_result(results)
      self._bump("completed", len(group))
    except Exception as e:  # noqa: BLE001 - any failure goes to the waiting requests
      log.exception("generate failed for a group of %d requests", len(group))
      self._bump("failed", len(group))
      for r in group:
        if not r.future.done():
          r.future.set_exception(e)

  def _finish(self, tokens: list[int], logprobs: Any, r: GenRequest,
              stop_ids: tuple[int, ...]) -> GenResult:
    """Cuts a row to the request's max_tokens and stop strings; decodes its text."""
    toks = [int(t) for t in tokens[:r.max_tokens]]
    lps = [float(x) for x in list(logprobs)[:len(toks)]]
    stopped = bool(toks) and toks[-1] in stop_ids
    body = toks[:-1] if stopped else toks
    text = self.tokenizer.decode(body)
    stops = [s for s in r.stop if s]
    hits = [text.find(s) for s in stops if s in text]
    if hits:
      lo, hi = 1, len(body)  # smallest k whose decoded prefix contains a stop string
      while lo < hi:
        mid = (lo + hi) // 2
        prefix = self.tokenizer.decode(body[:mid])
        if any(s in prefix for s in stops):
          hi = mid
        else:
          lo = mid + 1
      toks, lps, text, stopped = body[:lo], lps[:lo], text[:min(hits)], True
    return GenResult(tokens=toks, logprobs=lps, text=text,
                     finish_reason="stop" if stopped else "length")
