"""The aiohttp application: OpenAI-compatible routes over a `Batcher`, plus a thread runner.

Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /v1/models/{id},
GET /health, GET /stats (batcher counters: requests, generate_calls, rows, dropped, ...).

Handlers validate and tokenize, then submit one `GenRequest` per prompt to the batcher and await
its future. Every failure is answered as JSON in OpenAI's error shape: 4xx for bad requests
(malformed JSON, invalid fields, unknown model or route, prompts that do not fit), 500 for a
failure inside generation, 503 when the queue is full. Apps run with handler cancellation, so a
client that disconnects cancels its future and the batcher drops the request if it has not started;
otherwise the result is discarded.

Streaming (`stream: true`) is not incremental: the sampler decodes inside one jitted loop, so the
finished completion is sent as server-sent-event chunks (role, content, finish) and `[DONE]`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any

from aiohttp import web

from jaxllm.serving import protocol as P
from jaxllm.serving.batcher import Batcher, GenRequest, GenResult

log = logging.getLogger(__name__)

BATCHER = web.AppKey("batcher", Batcher)
LIMITS = web.AppKey("limits", P.Limits)
CREATED = web.AppKey("created", int)


def _error(status: int, message: str, type: str = "invalid_request_error",
           code: str | None = None) -> web.Response:
  return web.json_response(P.ApiError(message, status=status, type=type, code=code).body(),
                           status=status)


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
  try:
    return await handler(request)
  except P.ApiError as e:
    return web.json_response(e.body(), status=e.status)
  except web.HTTPException as e:
    if e.status < 400:
      raise
    code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(e.status)
    return _error(e.status, f"{e.reason}: {request.method} {request.path}", code=code)
  except (asyncio.CancelledError, ConnectionResetError):
    raise
  except Exception as e:  # noqa: BLE001 - the server must keep serving
    log.exception("request %s %s failed", request.method, request.path)
    return _error(500, f"internal error: {type(e).__name__}: {e}", type="server_error")


async def _json_body(request: web.Request) -> dict[str, Any]:
  raw = await request.read()
  try:
    body = json.loads(raw)
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise P.ApiError(f"the request body is not valid JSON: {e}", code="invalid_json") from None
  if not isinstance(body, dict):
    raise P.ApiError("the request body must be a JSON object.", code="invalid_json")
  return body


async def _generate(app: web.Application, prompts: list[list[int]], s: P.Sampling,
                    param: str) -> list[list[GenResult]]:
  batcher, limits = app[BATCHER], app[LIMITS]
  reqs = []
  for ids in prompts:
    max_tokens = P.resolve_max_tokens(len(ids), s.max_tokens, batcher.room(len(ids)), limits,
                                      param)
    reqs.append(GenRequest(prompt=ids, max_tokens=max_tokens, n=s.n, temperature=s.temperature,
                           top_p=s.top_p, top_k=s.top_k, min_p=s.min_p, seed=s.seed, stop=s.stop,
                           stop_token_ids=s.stop_token_ids))
  futures = []
  try:
    for r in reqs:
      futures.append(asyncio.wrap_future(batcher.submit(r)))
  except (RuntimeError, ValueError) as e:
    for f in futures:
      f.cancel()
    if isinstance(e, ValueError):
      raise P.ApiError(str(e), param=param, code="invalid_value") from None
    raise P.ApiError(f"server unavailable: {e}", status=503, type="server_error",
                     code="overloaded") from None
  try:
    return list(await asyncio.gather(*futures))
  except asyncio.CancelledError:
    for f in futures:
      f.cancel()
    raise
  except Exception as e:  # noqa: BLE001
    log.exception("generation failed")
    raise P.ApiError(f"generation failed: {type(e).__name__}: {e}", status=500,
                     type="server_error") from None


async def _sse(request: web.Request, chunks: list[dict[str, Any]]) -> web.StreamResponse:
  resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                     "Cache-Control": "no-cache"})
  try:
    await resp.prepare(request)
    for chunk in chunks:
      await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
  except (ConnectionResetError, ConnectionError):
    log.info("stream client went away")
  return resp


async def chat_completions(request: web.Request) -> web.StreamResponse:
  limits, batcher = request.app[LIMITS], request.app[BATCHER]
  tok = batcher.tokenizer
  body = await _json_body(request)
  P.check_model(body, limits)
  messages = P.parse_messages(body)
  s = P.parse_sampling(body, limits, chat=True)
  try:
    with batcher.tokenizer_lock:
      ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
  except Exception as e:  # noqa: BLE001 - template errors are the request's fault
    raise P.ApiError(f"could not apply the chat template: {e}", param="messages",
                     code="invalid_value") from None
  P.check_token_ids(ids, limits.vocab_size, "messages")
  (results,) = await _generate(request.app, [list(ids)], s, "messages")
  with batcher.tokenizer_lock:
    response = P.chat_response(limits.model_name, results, len(ids), s, tok)
  if s.stream:
    return await _sse(request, P.chat_chunks(response, s.include_usage))
  return web.json_response(response)


async def completions(request: web.Request) -> web.StreamResponse:
  limits, batcher = request.app[LIMITS], request.app[BATCHER]
  tok = batcher.tokenizer
  body = await _json_body(request)
  P.check_model(body, limits)
  with batcher.tokenizer_lock:
    prompts = P.parse_prompts(body, tok, limits.vocab_size)
  s = P.parse_sampling(body, limits, chat=False)
  if s.max_tokens is None:
    s.max_tokens = min(16, limits.default_max_tokens)  # OpenAI's default for completions
  results = await _generate(request.app, prompts, s, "prompt")
  with batcher.tokenizer_lock:
    response = P.completion_response(limits.model_name, results, [len(p) for p in prompts], s,
                                     tok)
  if s.stream:
    return await _sse(request, P.completion_chunks(response, s.include_usage))
  return web.json_response(response)


def _model_card(name: str, created: int) -> dict[str, Any]:
  return {"id": name, "object": "model", "created": created, "owned_by": "jaxllm"}


async def list_models(request: web.Request) -> web.Response:
  return web.json_response({"object": "list", "data": [
      _model_card(request.app[LIMITS].model_name, request.app[CREATED])]})


async def get_model(request: web.Request) -> web.Response:
  name = request.match_info["model"]
  if name != request.app[LIMITS].model_name:
    raise P.ApiError(f"The model '{name}' does not exist.", status=404, param="model",
                     code="model_not_found")
  return web.json_response(_model_card(name, request.app[CREATED]))


async def health(request: web.Request) -> web.Response:
  ok = request.app[BATCHER].running
  return web.json_response({"status": "ok" if ok else "stopped"}, status=200 if ok else 503)


async def stats(request: web.Request) -> web.Response:
  return web.json_response(request.app[BATCHER].snapshot())


def build_app(batcher: Batcher, *, model_name: str, max_new_tokens_limit: int = 4096,
              default_max_tokens: int = 256, client_max_size: int = 8 << 20) -> web.Application:
  """The aiohttp app; it starts the batcher on startup and stops it on cleanup."""
  cfg = batcher.sampler.cfg
  app = web.Application(middlewares=[error_middleware], client_max_size=client_max_size)
  app[BATCHER] = batcher
  app[LIMITS] = P.Limits(model_name=model_name, max_context=cfg.max_position_embeddings,
                         vocab_size=cfg.vocab_size, max_batch=batcher.max_batch,
                         max_new_tokens_limit=max_new_tokens_limit,
                         default_max_tokens=default_max_tokens)
  app[CREATED] = int(time.time())
  app.router.add_post("/v1/chat/completions", chat_completions)
  app.router.add_post("/v1/completions", completions)
  app.router.add_get("/v1/models", list_models)
  app.router.add_get("/v1/models/{model}", get_model)
  app.router.add_get("/health", health)
  app.router.add_get("/stats", stats)

  async def start(_):
    batcher.start()

  async def stop(_):
    await asyncio.get_running_loop().run_in_executor(None, batcher.stop)

  app.on_startup.append(start)
  app.on_cleanup.append(stop)
  return app


class ServerThread:
  """Runs an app on its own event loop in a daemon thread (for tests and notebooks).

      with ServerThread(app, port=0) as server:
        urllib.request.urlopen(server.base_url + "/models")
  """

  def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0):
    self.app, self.host, self.port = app, host, port
    self._loop = asyncio.new_event_loop()
    self._runner: web.AppRunner | None = None
    self._ready = threading.Event()
    self._error: BaseException | None = None
    self._thread = threading.Thread(target=self._run, name="jaxllm-server", daemon=True)

  @property
  def base_url(self) -> str:
    return f"http://{self.host}:{self.port}/v1"

  def _run(self) -> None:
    asyncio.set_event_loop(self._loop)
    try:
      self._loop.run_until_complete(self._start())
    except BaseException as e:  # noqa: BLE001 - reported to start()
      self._error = e
      self._ready.set()
      return
    self._ready.set()
    self._loop.run_forever()
    self._loop.run_until_complete(self._runner.cleanup())
    self._loop.close()

  async def _start(self) -> None:
    self._runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None)
    await self._runner.setup()
    site = web.TCPSite(self._runner, self.host, self.port)
    await site.start()
    self.port = self._runner.addresses[0][1]

  def start(self) -> "ServerThread":
    self._thread.start()
    self._ready.wait()
    if self._error is not None:
      raise RuntimeError(f"server failed to start: {self._error}") from self._error
    return self

  def stop(self) -> None:
    if self._thread.is_alive():
      self._loop.call_soon_threadsafe(self._loop.stop)
      self._thread.join(30)

  def __enter__(self) -> "ServerThread":
    return self.start()

  def __exit__(self, *exc) -> None:
    self.stop()
