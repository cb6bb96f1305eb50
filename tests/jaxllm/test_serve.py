"""OpenAI-compatible server: batching parity with unbatched generation, protocol shapes, errors,
client disconnects, the ChatClient, and the `python -m jaxllm.serve` command line.

One tiny random byte-vocabulary checkpoint serves everything. All prompts fit one prompt bucket
and every generate call is padded to max_batch rows, so the whole module compiles few shapes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from jaxllm import serve
from jaxllm.client import APIConnectionError, APIError, ChatClient
from jaxllm.hf_io import load_hf_model
from jaxllm.sampling import Sampler, SamplingParams
from jaxllm.serving import Batcher, GenRequest, ServerThread, build_app
from jaxllm.tokenizers import ByteTokenizer, load_tokenizer
from tests.jaxllm.hf_models import make_hf_model

MODEL = "tiny-bytes"
CACHE, BUCKET, MAX_BATCH = 64, 32, 8
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
  directory = tmp_path_factory.mktemp("serve_ckpt")
  make_hf_model("llama_bytes", directory)
  return directory


@pytest.fixture(scope="module")
def server(checkpoint):
  tok = ByteTokenizer()
  sampler = Sampler(load_hf_model(checkpoint), tok, cache_size=CACHE, prompt_bucket=BUCKET)
  batcher = Batcher(sampler, max_batch=MAX_BATCH, batch_wait_ms=50, fixed_rows=True)
  app = build_app(batcher, model_name=MODEL, max_new_tokens_limit=CACHE, default_max_tokens=8)
  with ServerThread(app) as srv:
    srv.batcher, srv.sampler, srv.tok = batcher, sampler, tok
    yield srv


def http(srv, method: str, path: str, body=None, raw: bytes | None = None):
  """(status, decoded JSON body) for one request; error statuses do not raise."""
  data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
  req = urllib.request.Request(f"http://{srv.host}:{srv.port}{path}", data=data, method=method,
                               headers={"Content-Type": "application/json"})
  try:
    with urllib.request.urlopen(req, timeout=60) as resp:
      return resp.status, json.loads(resp.read())
  except urllib.error.HTTPError as e:
    return e.code, json.loads(e.read())


def greedy_reference(srv, ids: list[int], max_new: int):
  return srv.sampler.generate([ids], SamplingParams(max_new_tokens=max_new, temperature=0.0))[0]


def test_models_endpoint(server):
  status, body = http(server, "GET", "/v1/models")
  assert status == 200 and body["object"] == "list"
  assert [m["id"] for m in body["data"]] == [MODEL]
  assert http(server, "GET", f"/v1/models/{MODEL}")[1]["id"] == MODEL
  assert ChatClient(f"http://{server.host}:{server.port}", MODEL).models() == [MODEL]


def test_concurrent_greedy_requests_are_batched_and_match_unbatched(server):
  prompts = [f"prompt {i}: {'xyz' * (i % 5)}" for i in range(32)]
  client = ChatClient(server.base_url, MODEL)
  results: list = [None] * len(prompts)
  barrier = threading.Barrier(len(prompts))

  def ask(i):
    barrier.wait()
    results[i] = client.completion(prompts[i], max_tokens=10, temperature=0.0, logprobs=0)

  before = server.batcher.snapshot()
  threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
  for t in threads:
    t.start()
  for t in threads:
    t.join(120)
  after = server.batcher.snapshot()
  calls = after["generate_calls"] - before["generate_calls"]
  assert after["completed"] - before["completed"] == len(prompts)
  assert len(prompts) // MAX_BATCH <= calls < len(prompts)  # batching happened
  for prompt, response in zip(prompts, results):
    ids = server.tok.encode(prompt)
    ref = greedy_reference(server, ids, 10)
    (choice,) = response["choices"]
    assert choice["text"] == ref.text
    assert choice["finish_reason"] == ref.finish_reason
    assert response["usage"] == {"prompt_tokens": len(ids), "completion_tokens": len(ref.tokens),
                                 "total_tokens": len(ids) + len(ref.tokens)}
    lp = choice["logprobs"]
    assert len(lp["token_logprobs"]) == len(ref.tokens) == len(lp["tokens"])
    assert lp["token_logprobs"] == pytest.approx(ref.logprobs.tolist(), abs=1e-5)


def test_plan_groups_compatible_requests(server):
  def req(length=5, **kw):
    return GenRequest(prompt=[1] * length, max_tokens=kw.pop("max_tokens", 4), **kw)

  greedy = [req(temperature=0.0), req(temperature=0.0, top_p=0.5, n=2), req(temperature=0.0,
                                                                             max_tokens=9)]
  sampled = [req(temperature=0.7), req(temperature=0.7)]
  seeded = [req(temperature=0.7, seed=1), req(temperature=0.7, seed=1)]
  calls = server.batcher.plan(greedy + sampled + seeded)
  assert sorted(len(c) for c in calls) == [1, 1, 2, 3]
  # Rows are capped at max_batch; a long prompt's padded length leaves no room for a long reply.
  many = [req(temperature=0.0, n=3) for _ in range(4)]
  assert [sum(r.n for r in c) for c in server.batcher.plan(many)] == [6, 6]
  mixed = [req(length=40, max_tokens=20, temperature=0.0), req(length=5, max_tokens=40,
                                                               temperature=0.0)]
  assert len(server.batcher.plan(mixed)) == 2


def test_chat_applies_template_stop_strings_seed_and_logprobs(server):
  client = ChatClient(server.base_url, MODEL)
  messages = [{"role": "user", "content": "hi"}]
  raw = client.chat_completion(messages, max_tokens=12, temperature=0, logprobs=True)
  ids = server.tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
  ref = greedy_reference(server, ids, 12)
  (choice,) = raw["choices"]
  assert raw["object"] == "chat.completion" and raw["model"] == MODEL
  assert raw["usage"]["prompt_tokens"] == len(ids)
  assert choice["message"] == {"role": "assistant", "content": ref.text}
  content = choice["logprobs"]["content"]
  assert len(content) == len(ref.tokens)
  assert set(content[0]) == {"token", "logprob", "bytes", "top_logprobs"}
  assert all(c["logprob"] <= 0 for c in content)
  # Stop strings cut the text (and tokens) before the first match.
  text = ref.text
  assert len(text) >= 4, text
  stop = text[2:4]
  cut = client.chat_completion(messages, max_tokens=12, temperature=0, stop=[stop, "\x00never"])
  assert cut["choices"][0]["message"]["content"] == text[:text.find(stop)]
  assert cut["choices"][0]["finish_reason"] == "stop"
  # A seed makes sampling reproducible; n gives that many choices.
  kw = dict(max_tokens=6, temperature=1.0, top_p=0.9, n=3, seed=7)
  a, b = client.chat(messages, **kw), client.chat(messages, **kw)
  assert isinstance(a, list) and len(a) == 3 and a == b


def test_streaming_sends_chunks_and_done(server):
  body = {"model": MODEL, "prompt": "stream me", "max_tokens": 6, "temperature": 0,
          "stream": True, "stream_options": {"include_usage": True}}
  req = urllib.request.Request(f"{server.base_url}/completions", data=json.dumps(body).encode(),
                               headers={"Content-Type": "application/json"})
  with urllib.request.urlopen(req, timeout=60) as resp:
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    lines = [l for l in resp.read().decode().split("\n") if l.startswith("data: ")]
  assert lines[-1] == "data: [DONE]"
  chunks = [json.loads(l[len("data: "):]) for l in lines[:-1]]
  text = "".join(c["text"] for ch in chunks for c in ch["choices"])
  plain = http(server, "POST", "/v1/completions", {**body, "stream": False})[1]
  assert text == plain["choices"][0]["text"]
  assert chunks[-1]["usage"] == plain["usage"]
  assert [c["finish_reason"] for ch in chunks for c in ch["choices"]][-1] in ("stop", "length")
  # Chat: role, content and finish chunks per choice.
  chat = {"model": MODEL, "messages": [{"role": "user", "content": "hey"}], "max_tokens": 5,
          "temperature": 0, "stream": True}
  req = urllib.request.Request(f"{server.base_url}/chat/completions",
                               data=json.dumps(chat).encode(),
                               headers={"Content-Type": "application/json"})
  with urllib.request.urlopen(req, timeout=60) as resp:
    lines = [l for l in resp.read().decode().split("\n") if l.startswith("data: ")]
  chunks = [json.loads(l[len("data: "):]) for l in lines[:-1]]
  assert lines[-1] == "data: [DONE]"
  assert {ch["object"] for ch in chunks} == {"chat.completion.chunk"}
  deltas = [c["delta"] for ch in chunks for c in ch["choices"]]
  assert deltas[0]["role"] == "assistant"
  plain = http(server, "POST", "/v1/chat/completions", {**chat, "stream": False})[1]
  assert "".join(d.get("content", "") for d in deltas) == plain["choices"][0]["message"]["content"]


BAD_REQUESTS = [
    ("/v1/chat/completions", b"{not json", 400, None),
    ("/v1/chat/completions", b"[1, 2]", 400, None),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, 400, "model"),
    ("/v1/chat/completions", {"model": "gpt-9", "messages": []}, 404, "model"),
    ("/v1/chat/completions", {"model": MODEL}, 400, "messages"),
    ("/v1/chat/completions", {"model": MODEL, "messages": "hi"}, 400, "messages"),
    ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "robot", "content": "x"}]},
     400, "messages"),
    ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                              "temperature": "hot"}, 400, "temperature"),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "n": 0}, 400, "n"),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "max_tokens": -1}, 400, "max_tokens"),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "stop": 5}, 400, "stop"),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "top_p": 1.5}, 400, "top_p"),
    ("/v1/completions", {"model": MODEL, "prompt": [[1, 99999]]}, 400, "prompt"),
    ("/v1/completions", {"model": MODEL}, 400, "prompt"),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "echo": True}, 400, "echo"),
    ("/v1/nothing", {}, 404, None),
]


@pytest.mark.parametrize("path,body,status,param", BAD_REQUESTS)
def test_malformed_requests_get_openai_errors(server, path, body, status, param):
  raw = body if isinstance(body, bytes) else None
  got, payload = http(server, "POST", path, None if raw else body, raw=raw)
  assert got == status, payload
  assert set(payload["error"]) == {"message", "type", "param", "code"}
  assert payload["error"]["message"] and payload["error"]["param"] == param


def test_method_not_allowed_is_json(server):
  status, payload = http(server, "GET", "/v1/chat/completions")
  assert status == 405 and payload["error"]["code"] == "method_not_allowed"


def test_prompts_that_do_not_fit_get_400(server):
  def post(prompt, **kw):
    return http(server, "POST", "/v1/completions", {"model": MODEL, "prompt": prompt, **kw})

  status, body = post("x" * 200)  # longer than max_position_embeddings (128)
  assert status == 400 and body["error"]["code"] == "context_length_exceeded"
  assert "maximum context length is 128" in body["error"]["message"]
  status, body = post("x" * 40)  # fits the model, not the 64-slot cache once padded to 64
  assert status == 400 and "KV cache" in body["error"]["message"]
  status, body = post("short", max_tokens=CACHE)  # prompt fits, max_tokens does not
  assert status == 400 and body["error"]["param"] == "max_tokens"
  assert post("short", max_tokens=2)[0] == 200


def test_disconnecting_clients_do_not_break_the_server(server):
  body = json.dumps({"model": MODEL, "prompt": "bye", "max_tokens": 20, "temperature": 0})
  head = (f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          f"Content-Length: {len(body)}\r\n\r\n")
  for payload, pause in ((head + body, 0.0), (head + body, 0.2), (head + body[:5], 0.0)):
    with socket.create_connection((server.host, server.port)) as sock:
      sock.sendall(payload.encode())
      time.sleep(pause)
  client = ChatClient(server.base_url, MODEL)
  assert client.complete("still alive", max_tokens=3, temperature=0) is not None
  deadline = time.time() + 30
  while time.time() < deadline:  # every submitted request was either answered or dropped
    s = server.batcher.snapshot()
    if s["queued"] == 0 and s["requests"] == s["completed"] + s["dropped"] + s["failed"]:
      break
    time.sleep(0.1)
  else:
    pytest.fail(f"requests left hanging: {s}")


def test_generation_errors_become_500_and_serving_continues(server, monkeypatch):
  def boom(*args, **kwargs):
    raise RuntimeError("device on fire")

  body = {"model": MODEL, "prompt": "x", "max_tokens": 2, "temperature": 0}
  monkeypatch.setattr(server.sampler, "generate", boom)
  status, payload = http(server, "POST", "/v1/completions", body)
  assert status == 500 and payload["error"]["type"] == "server_error"
  assert "device on fire" in payload["error"]["message"]
  monkeypatch.undo()
  assert http(server, "POST", "/v1/completions", body)[0] == 200


def test_client_errors_are_clear(server):
  with pytest.raises(APIError) as info:
    ChatClient(server.base_url, "gpt-9").chat("hi")
  assert info.value.status == 404 and info.value.code == "model_not_found"
  with socket.socket() as s:  # a port nobody listens on
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  dead = ChatClient(f"http://127.0.0.1:{port}/v1", MODEL, max_retries=2, backoff=0.01)
  with pytest.raises(APIConnectionError, match="after 3 attempts"):
    dead.complete("hi")


def _hf_byte_tokenizer(directory: Path) -> None:
  """A byte-level tokenizer whose 259 ids fit the checkpoint's vocabulary, with a chat template."""
  import tokenizers as hf_tokenizers
  import transformers

  bpe = hf_tokenizers.Tokenizer(hf_tokenizers.models.BPE(unk_token=None))
  bpe.pre_tokenizer = hf_tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
  bpe.decoder = hf_tokenizers.decoders.ByteLevel()
  trainer = hf_tokenizers.trainers.BpeTrainer(
      vocab_size=259, special_tokens=["<pad>", "<s>", "</s>"],
      initial_alphabet=hf_tokenizers.pre_tokenizers.ByteLevel.alphabet())
  bpe.train_from_iterator(["hello"], trainer)
  template = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
              "{% if add_generation_prompt %}<s>assistant: {% endif %}")
  transformers.PreTrainedTokenizerFast(
      tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
      chat_template=template).save_pretrained(directory)


@pytest.fixture(scope="module")
def hf_tokenizer_checkpoint(checkpoint, tmp_path_factory):
  """The checkpoint plus a Hugging Face tokenizer (and chat template) in the same directory."""
  directory = tmp_path_factory.mktemp("serve_ckpt_hf_tok")
  for f in checkpoint.iterdir():
    (directory / f.name).write_bytes(f.read_bytes())
  _hf_byte_tokenizer(directory)
  return directory


def test_command_line_build_with_checkpoint_tokenizer(server, hf_tokenizer_checkpoint):
  directory = hf_tokenizer_checkpoint
  args = serve.parse_args(["--model", str(directory), "--max-batch", str(MAX_BATCH),
                           "--fixed-batch", "--cache-size", str(CACHE), "--prompt-bucket",
                           str(BUCKET), "--default-max-tokens", "4"])
  with ServerThread(serve.build(args)) as srv:
    client = ChatClient(srv.base_url, directory.name)
    assert client.models() == [directory.name]
    raw = client.chat_completion("hello", temperature=0)
    # The checkpoint's HF chat template was applied: "<s>user: hello</s><s>assistant: ".
    expected = load_tokenizer(directory).apply_chat_template(
        [{"role": "user", "content": "hello"}], add_generation_prompt=True, tokenize=True)
    assert raw["usage"]["prompt_tokens"] == len(expected) == 25
    assert raw["usage"]["completion_tokens"] <= 4


def test_command_line_process(checkpoint):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
  env.pop("XLA_FLAGS", None)
  cmd = [sys.executable, "-m", "jaxllm.serve", "--model", str(checkpoint), "--port", "0",
         "--tokenizer", "byte", "--served-model-name", "cli", "--cache-size", "64",
         "--prompt-bucket", "32"]
  proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
  try:
    line = proc.stdout.readline()
    assert "listening on" in line, proc.stderr.read() if proc.poll() is not None else line
    client = ChatClient(line.split()[-1], "cli", timeout=60)
    assert client.models() == ["cli"]
    with pytest.raises(APIError) as info:  # answered without generating anything
      client.complete("x" * 100)
    assert info.value.status == 400 and info.value.code == "context_length_exceeded"
  finally:
    proc.terminate()
    proc.wait(30)
  assert proc.returncode == 0
