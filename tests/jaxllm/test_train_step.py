"""Train step on a tiny NNX causal LM: LoRA (merge, adapter-only updates), sharded == unsharded
(full fine-tuning and LoRA on a tiny jaxllm Transformer)."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

from jaxllm import train
from jaxllm.models import ModelConfig, Transformer

V, D, H, DH, T, B = 11, 16, 2, 8, 6, 8


class TinyLM(nnx.Module):
  """Embedding + one causal self-attention layer (einsum kernels [D, H, Dh]) + unembedding."""

  def __init__(self, rngs: nnx.Rngs):
    init = lambda *shape: nnx.Param(0.3 * jax.random.normal(rngs.params(), shape))
    self.embed = init(V, D)
    self.pos = init(T, D)
    self.q, self.k, self.v = init(D, H, DH), init(D, H, DH), init(D, H, DH)
    self.o = init(H, DH, D)
    self.unembed = init(D, V)

  def __call__(self, tokens, positions, attention_mask):
    x = self.embed[...][tokens] + self.pos[...][positions]
    q, k, v = (jnp.einsum("btd,dhk->bthk", x, w[...]) for w in (self.q, self.k, self.v))
    s = jnp.einsum("bthk,bshk->bhts", q, k) / np.sqrt(DH)
    causal = jnp.tril(jnp.ones((T, T), bool))[None, None] & attention_mask[:, None, None, :]
    a = jax.nn.softmax(jnp.where(causal, s, -1e9), axis=-1)
    x = x + jnp.einsum("bhts,bshk,hkd->btd", a, v, self.o[...])
    return x @ self.unembed[...]


def make_model():
  return nnx.split(TinyLM(nnx.Rngs(0)))


def make_batch(seed=0, rollouts=False):
  rng = np.random.default_rng(seed)
  tokens = rng.integers(0, V, size=(B, T)).astype(np.int32)
  prompt_len = rng.integers(1, 3, size=B)
  length = rng.integers(4, T + 1, size=B)
  t = np.arange(T)[None]
  batch = {"tokens": tokens, "attention_mask": t < length[:, None],
           "loss_mask": (t >= prompt_len[:, None]) & (t < length[:, None])}
  if rollouts:
    batch["advantages"] = np.asarray(train.rloo_advantages(jnp.asarray(rng.random(B)), 4))
    batch["old_logprobs"] = -rng.random((B, T)).astype(np.float32)
    batch["ref_logprobs"] = -rng.random((B, T)).astype(np.float32)
  return {k: jnp.asarray(v) for k, v in batch.items()}


def test_lora_merge_and_adapter_only_training():
  graphdef, params = make_model()
  logits_fn = train.nnx_logits_fn(graphdef)
  in_dims = lambda path, shape: 2 if path == "o" else 1  # o: [H, Dh] -> D
  adapters = train.init_lora(jax.random.key(1), params, lambda p, x: p in ("q", "v", "o"),
                             rank=2, in_dims=in_dims)
  assert sorted(adapters) == ["o", "q", "v"]
  assert adapters["q"]["a"].shape == (D, 2) and adapters["q"]["b"].shape == (2, H, DH)
  assert adapters["o"]["a"].shape == (H, DH, 2) and adapters["o"]["b"].shape == (2, D)
  merged = jax.jit(train.merge_lora, static_argnums=2)(params, adapters, 4.0)
  chex.assert_trees_all_equal(merged, params)  # B = 0 at init

  # (alpha / r) A @ B on the flattened [in, out] view.
  adapters["o"]["b"] = jnp.ones((2, D))
  delta = train.lora_delta(adapters["o"], alpha=4.0)
  flat = (4.0 / 2) * adapters["o"]["a"].reshape(H * DH, 2) @ np.ones((2, D))
  np.testing.assert_allclose(delta.reshape(H * DH, D), flat, rtol=1e-6)
  adapters["o"]["b"] = jnp.zeros((2, D))

  lora_params = train.lora_params(params, adapters)
  optimizer = train.lora_optimizer(optax.adamw(1e-2, weight_decay=0.1))
  loss_fn = functools.partial(train.sft_loss, logits_fn=train.lora_logits_fn(logits_fn, 4.0))
  step = jax.jit(train.make_train_step(loss_fn, optimizer, max_grad_norm=1.0))
  state = train.init_train_state(lora_params, optimizer)
  batch = make_batch()
  base_loss = jax.jit(functools.partial(train.sft_loss, logits_fn=logits_fn))(params, batch)[0]
  new, metrics = step(state, batch)
  np.testing.assert_allclose(metrics["loss"], base_loss, rtol=1e-6)  # same model at init
  chex.assert_trees_all_equal(new["params"]["base"], params)  # frozen, weight decay included
  for name in adapters:
    assert np.abs(np.asarray(new["params"]["lora"][name]["b"])).max() > 0
  new, metrics2 = step(new, batch)
  assert float(metrics2["loss"]) < float(metrics["loss"])


def _shard_tree(tree, shardings):
  return jax.tree.map(jax.device_put, tree, shardings)


LOSSES = {
    "sft": lambda fn: functools.partial(train.sft_loss, logits_fn=fn),
    "pg": lambda fn: functools.partial(train.policy_gradient_loss, logits_fn=fn, clip_eps=0.2,
                                       kl_coef=0.05, aggregation="sequence"),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_sharded_step_equals_single_device(devices, name):
  graphdef, params = make_model()
  loss_fn = LOSSES[name](train.nnx_logits_fn(graphdef))
  optimizer = optax.adamw(3e-3, weight_decay=0.01)
  batches = [make_batch(seed, rollouts=name == "pg") for seed in range(3)]

  chex.clear_trace_counter()
  single = jax.jit(chex.assert_max_traces(train.make_train_step(loss_fn, optimizer, 1.0), n=1))
  state = jax.device_put(train.init_train_state(params, optimizer), devices[0])
  want = []
  for batch in batches:
    state, metrics = single(state, jax.device_put(batch, devices[0]))
    want.append((state, metrics))

  # chex keys trace counts by call stack and source, so both wrappers here would share one count.
  chex.clear_trace_counter()
  mesh = jax.make_mesh((2, 4), ("data", "fsdp"), axis_types=(AxisType.Auto,) * 2,
                       devices=devices)
  param_sh = train.fsdp_shardings(params, mesh)
  assert any(s.spec != P() for s in jax.tree.leaves(param_sh))
  state = train.init_train_state(params, optimizer)
  state_sh = train.train_state_shardings(optimizer, state, param_sh, mesh)
  state = _shard_tree(state, state_sh)
  batch_sh = train.batch_sharding(mesh)
  sharded = train.jit_train_step(
      chex.assert_max_traces(train.make_train_step(loss_fn, optimizer, 1.0), n=1),
      state_sh, batch_sh)
  for batch, (want_state, want_metrics) in zip(batches, want):
    batch = jax.device_put(batch, batch_sh)
    state, metrics = sharded(state, batch)
    chex.assert_trees_all_close(state, want_state, atol=1e-5, rtol=1e-5)
    chex.assert_trees_all_close(metrics, want_metrics, atol=1e-5, rtol=1e-5)
  assert int(state["step"]) == 3
  q = state["params"]["q"]
  assert isinstance(q.sharding, NamedSharding) and q.sharding.spec == param_sh["q"].spec
  mu = state["opt_state"][0].mu["q"]
  assert mu.sharding.spec == param_sh["q"].spec  # optimiser moments follow their parameter
  assert float(metrics["grad_norm"]) > 0 and {"loss", "update_norm"} <= set(metrics)


def test_sharded_lora_step_equals_single_device(devices):
  """LoRA on a mesh: frozen base (MaskedNode optimiser state) shards, jits and stays bit-exact."""
  cfg = ModelConfig(vocab_size=V, hidden_size=16, intermediate_size=32, num_layers=2, num_heads=2,
                    num_kv_heads=1, head_dim=8)
  graphdef, base = nnx.split(Transformer(cfg, rngs=nnx.Rngs(0)))
  base0 = jax.tree.map(np.array, base)
  in_dims = lambda path, shape: 2 if path.endswith("o_proj") else 1  # o: [H, Dh] -> D
  adapters = train.init_lora(jax.random.key(1), base,
                             lambda p, x: p.endswith(("q_proj", "v_proj", "o_proj")), rank=2,
                             in_dims=in_dims)
  assert len(adapters) == 3 * cfg.num_layers
  params = train.lora_params(base, adapters)
  optimizer = train.lora_optimizer(optax.adamw(1e-2, weight_decay=0.1))
  loss_fn = LOSSES["sft"](train.lora_logits_fn(train.nnx_logits_fn(graphdef), 4.0))
  init = functools.partial(train.init_train_state, optimizer=optimizer)
  batches = [make_batch(seed) for seed in range(3)]

  single = jax.jit(train.make_train_step(loss_fn, optimizer, 1.0))
  want = jax.device_put(init(params), devices[0])
  want_losses = []
  for batch in batches:
    want, metrics = single(want, jax.device_put(batch, devices[0]))
    want_losses.append(float(metrics["loss"]))

  chex.clear_trace_counter()
  mesh = jax.make_mesh((2, 4), ("data", "fsdp"), axis_types=(AxisType.Auto,) * 2,
                       devices=devices)
  param_sh = train.fsdp_shardings(params, mesh)
  assert param_sh["lora"]["layers/0/attn/q_proj"]["a"].spec == P("fsdp", None)
  state_sh = train.train_state_shardings(optimizer, jax.eval_shape(init, params), param_sh, mesh)
  adam_sh = state_sh["opt_state"].inner_states["train"].inner_state[0]
  assert adam_sh.mu["lora"] == param_sh["lora"] and adam_sh.nu["lora"] == param_sh["lora"]
  masked = jax.tree.leaves(adam_sh.mu["base"], is_leaf=lambda x: isinstance(x, optax.MaskedNode))
  assert masked and all(isinstance(x, optax.MaskedNode) for x in masked)  # no state, no sharding
  state = jax.jit(init, out_shardings=state_sh)(params)
  chex.assert_trees_all_equal_structs(state, want)
  batch_sh = train.batch_sharding(mesh)
  sharded = train.jit_train_step(
      chex.assert_max_traces(train.make_train_step(loss_fn, optimizer, 1.0), n=1),
      state_sh, batch_sh)
  losses = []
  for batch in batches:
    state, metrics = sharded(state, jax.device_put(batch, batch_sh))
    losses.append(float(metrics["loss"]))

  assert int(state["step"]) == 3
  np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
  assert losses[-1] < losses[0]
  # Entries are ~1e-2; atol covers the odd one cancelled to ~1e-5 (reduction-order noise ~1e-9).
  chex.assert_trees_all_close(state["params"]["lora"], want["params"]["lora"], rtol=1e-5,
                              atol=1e-7)
  for name in adapters:
    assert np.abs(np.asarray(state["params"]["lora"][name]["b"])).max() > 0
  q_a = state["params"]["lora"]["layers/0/attn/q_proj"]["a"]
  assert q_a.sharding.spec == P("fsdp", None)
  mu = state["opt_state"].inner_states["train"].inner_state[0].mu["lora"]
  assert mu["layers/0/attn/q_proj"]["a"].sharding.spec == P("fsdp", None)
  for got, init_value in zip(jax.tree.leaves(state["params"]["base"]), jax.tree.leaves(base0)):
    got = np.asarray(got)
    assert got.dtype == init_value.dtype and got.tobytes() == init_value.tobytes()  # bit-exact
