"""OpenAI-compatible serving for jaxllm models: request batching, HTTP app, protocol helpers.

    from jaxllm.serving import Batcher, ServerThread, build_app
    batcher = Batcher(Sampler(model, tokenizer, cache_size=1024), max_batch=16, batch_wait_ms=5)
    with ServerThread(build_app(batcher, model_name="tiny"), port=0) as server:
      print(server.base_url)  # http://127.0.0.1:<port>/v1

The command line entry point is `python -m jaxllm.serve` (jaxllm/serve.py).
"""

from jaxllm.serving.app import ServerThread, build_app
from jaxllm.serving.batcher import Batcher, GenRequest, GenResult
from jaxllm.serving.protocol import ApiError

__all__ = ["ApiError", "Batcher", "GenRequest", "GenResult", "ServerThread", "build_app"]
