"""Train step on a tiny NNX causal LM: LoRA (merge, adapter-only updates), sharded == unsharded
(FSDP-by-size on a toy LM; full fine-tuning and LoRA on a tiny jaxllm Transformer placed by
logical rules, adapters sharded like their kernels), all through plain jax.jit with shardings."""

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

from jaxllm import sharding, train
from jaxllm.models import ModelConfig, Transformer, logical_to_mesh_rules, model_shardings

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


def _jit_sharded(step, state_sh, mesh):
  """The one jit path: explicit in/out shardings, the state donated (as experiments.runtime.run)."""
  return jax.jit(step, in_shardings=(state_sh, sharding.batch_sharding(mesh)),
                 out_shardings=(state_sh, sharding.replicated(mesh)), donate_argnums=0)


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
  param_sh = sharding.fsdp_sharding(params, mesh, min_size=0)
  assert any(s.spec != P() for s in jax.tree.leaves(param_sh))
  state = train.init_train_state(params, optimizer)
  state_sh = sharding.train_state_shardings(state, param_sh, mesh)
  state = _shard_tree(state, state_sh)
  batch_sh = sharding.batch_sharding(mesh)
  sharded = _jit_sharded(
      chex.assert_max_traces(train.make_train_step(loss_fn, optimizer, 1.0), n=1), state_sh, mesh)
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


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_sharded_transformer_step_equals_single_device(devices, lora):
  """A Transformer on a (data, fsdp, tensor) mesh, placed by logical rules: full fine-tuning and
  LoRA (frozen base with MaskedNode optimiser state, adapters sharded like their kernels) shard,
  jit once and match one device; the LoRA base stays bit-exact."""
  cfg = ModelConfig(vocab_size=V, hidden_size=16, intermediate_size=32, num_layers=2, num_heads=2,
                    num_kv_heads=1, head_dim=8)
  graphdef, base = nnx.split(Transformer(cfg, rngs=nnx.Rngs(0)))
  base0 = jax.tree.map(np.array, base)
  logits_fn = train.nnx_logits_fn(graphdef)
  optimizer = optax.adamw(1e-2, weight_decay=0.1)
  mesh = jax.make_mesh((2, 2, 2), ("data", "fsdp", "tensor"), axis_types=(AxisType.Auto,) * 3,
                       devices=devices)
  param_sh = model_shardings(base, mesh, logical_to_mesh_rules())
  params = base
  if lora:
    adapters = train.init_lora(jax.random.key(1), base, train.transformer_lora_predicate("q,v,o"),
                               rank=2, in_dims=train.transformer_in_dims)
    assert len(adapters) == 3 * cfg.num_layers
    params = train.lora_params(base, adapters)
    param_sh = train.lora_param_shardings(param_sh, adapters)
    optimizer = train.lora_optimizer(optimizer)
    logits_fn = train.lora_logits_fn(logits_fn, 4.0)
    # q [embed, heads, head_dim] is (fsdp, tensor, None): A [embed, r], B [r, heads, head_dim].
    assert param_sh["lora"]["layers/0/attn/q_proj"]["a"].spec == P("fsdp", None)
    assert param_sh["lora"]["layers/0/attn/q_proj"]["b"].spec == P(None, "tensor", None)
    # o [heads, head_dim, embed] is (tensor, None, fsdp): A [heads, head_dim, r], B [r, embed].
    assert param_sh["lora"]["layers/1/attn/o_proj"]["a"].spec == P("tensor", None, None)
    assert param_sh["lora"]["layers/1/attn/o_proj"]["b"].spec == P(None, "fsdp")
  loss_fn = LOSSES["sft"](logits_fn)
  init = functools.partial(train.init_train_state, optimizer=optimizer)
  batches = [make_batch(seed) for seed in range(3)]

  single = jax.jit(train.make_train_step(loss_fn, optimizer, 1.0))
  want = jax.device_put(init(params), devices[0])
  want_losses = []
  for batch in batches:
    want, metrics = single(want, jax.device_put(batch, devices[0]))
    want_losses.append(float(metrics["loss"]))

  chex.clear_trace_counter()
  state_sh = sharding.train_state_shardings(jax.eval_shape(init, params), param_sh, mesh)
  if lora:
    adam_sh = state_sh["opt_state"].inner_states["train"].inner_state[0]
    assert adam_sh.mu["lora"] == param_sh["lora"] and adam_sh.nu["lora"] == param_sh["lora"]
    masked = jax.tree.leaves(adam_sh.mu["base"],
                             is_leaf=lambda x: isinstance(x, optax.MaskedNode))
    assert masked and all(isinstance(x, optax.MaskedNode) for x in masked)  # no state, no sharding
  state = jax.jit(init, out_shardings=state_sh)(params)
  chex.assert_trees_all_equal_structs(state, want)
  sharded = _jit_sharded(
      chex.assert_max_traces(train.make_train_step(loss_fn, optimizer, 1.0), n=1), state_sh, mesh)
  losses = []
  for batch in batches:
    state, metrics = sharded(state, jax.device_put(batch, sharding.batch_sharding(mesh)))
    losses.append(float(metrics["loss"]))

  assert int(state["step"]) == 3
  np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
  trained = state["params"]["lora"] if lora else state["params"]
  # Entries are ~1e-2. Tensor- and fsdp-split matmuls reduce in another order, and Adam turns that
  # noise in near-zero gradients into update noise (~1e-6 here, a 1e-4 fraction of the lr).
  chex.assert_trees_all_close(trained, want["params"]["lora"] if lora else want["params"],
                              rtol=1e-5, atol=1e-5)
  if not lora:
    q = state["params"]["layers"][0]["attn"]["q_proj"].value
    assert q.sharding.spec == P("fsdp", "tensor", None)
    mu = state["opt_state"][0].mu["layers"][0]["attn"]["q_proj"].value
    assert mu.sharding.spec == q.sharding.spec  # optimiser moments follow their parameter
    return
  assert losses[-1] < losses[0]
  for name in adapters:
    assert np.abs(np.asarray(state["params"]["lora"][name]["b"])).max() > 0
  q_b = state["params"]["lora"]["layers/0/attn/q_proj"]["b"]
  assert q_b.sharding.spec == P(None, "tensor", None)
  mu = state["opt_state"].inner_states["train"].inner_state[0].mu["lora"]
  assert mu["layers/0/attn/q_proj"]["a"].sharding.spec == P("fsdp", None)
  for got, init_value in zip(jax.tree.leaves(state["params"]["base"]), jax.tree.leaves(base0)):
    got = np.asarray(got)
    assert got.dtype == init_value.dtype and got.tobytes() == init_value.tobytes()  # bit-exact
