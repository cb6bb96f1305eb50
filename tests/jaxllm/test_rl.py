"""Online RL pieces: rollout layout and log-prob alignment, KL-shaped RLOO advantages with the KL
mask, the update against a hand-written REINFORCE gradient, and sharded == single device."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxllm.models import ModelConfig, Transformer
from jaxllm.rl import OnlineRL, PGConfig, Scored, collect, logprobs_fn, make_update
from jaxllm.rl.objective import shaped_advantages
from jaxllm.sampling import Sampler, SamplingParams
from jaxllm.tokenizers import ByteTokenizer
from jaxllm.train import nnx_logits_fn, token_logprobs

TOK = ByteTokenizer()
N = 4


@pytest.fixture(scope="module")
def model():
  cfg = ModelConfig(vocab_size=TOK.vocab_size, hidden_size=32, intermediate_size=64, num_layers=2,
                    num_heads=2, num_kv_heads=1, head_dim=16, max_position_embeddings=256,
                    bos_token_id=TOK.bos_token_id, eos_token_id=TOK.eos_token_id,
                    pad_token_id=TOK.pad_token_id)
  return Transformer(cfg, rngs=nnx.Rngs(0))


PROMPTS = [TOK.encode("ab"), TOK.encode("a longer one")]
SAMPLING = SamplingParams(max_new_tokens=8, temperature=1.0, n=N, seed=1, stop_token_ids=())


def test_rollout_layout_and_logprob_alignment(model):
  graphdef, params = nnx.split(model)
  r = collect(Sampler(model, TOK, cache_size=64), PROMPTS, SAMPLING, pad_id=TOK.pad_token_id)
  assert r.tokens.shape == (2 * N, 16 + 8) and r.prompt_len == 16
  assert list(r.prompt_index) == [0] * N + [1] * N and len(r.groups()) == 2
  for row in range(2 * N):
    p = PROMPTS[r.prompt_index[row]]
    assert list(r.tokens[row, 16 - len(p):16]) == p and not r.attention_mask[row, :16 - len(p)].any()
    assert r.loss_mask[row].sum() == r.lengths[row] == 8 and not r.loss_mask[row, :16].any()
  # The training forward scores the sampled tokens with the sampler's log-probs (T = 1).
  lp = logprobs_fn(nnx_logits_fn(graphdef))(params, {k: jnp.asarray(v) for k, v in
                                                       r.arrays().items()})
  np.testing.assert_allclose(np.asarray(lp)[r.loss_mask], r.sampler_logprobs[r.loss_mask],
                             rtol=1e-4, atol=1e-4)


def test_kl_shaped_rloo_advantages_and_kl_mask():
  b, t = 2 * N, 3
  rewards = jnp.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0])
  old = jnp.zeros((b, t)).at[:, 1:].set(-1.0)
  ref = jnp.zeros((b, t)).at[:, 1:].set(-1.5)           # k3 per token: e^-0.5 + 0.5 - 1
  batch = {"tokens": jnp.zeros((b, t), jnp.int32), "attention_mask": jnp.ones((b, t), bool),
           "loss_mask": jnp.ones((b, t), bool), "rewards": rewards,
           "kl_mask": jnp.array([True] * N + [False] * N)}
  cfg = PGConfig(kl_coef=0.1)
  adv, m = shaped_advantages(batch, old, ref, cfg, N)
  k3 = np.exp(-0.5) + 0.5 - 1.0
  shaped = np.asarray(rewards) - 0.1 * 2 * k3 * np.array([1.0] * N + [0.0] * N)  # 2 target tokens
  g = shaped.reshape(2, N)
  want = (g * N / (N - 1) - g.mean(1, keepdims=True) * N / (N - 1)).reshape(-1)
  np.testing.assert_allclose(np.asarray(adv), want, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(float(m["shaped_reward"]), shaped.mean(), rtol=1e-6)


def _batch(model, seed=1):
  r = collect(Sampler(model, TOK, cache_size=64), PROMPTS, SAMPLING, pad_id=TOK.pad_token_id)
  rewards = (r.tokens[:, 16] % 2).astype(np.float32)   # any deterministic per-rollout reward
  return r, dict(r.arrays(), rewards=rewards, kl_mask=np.array([True] * N + [False] * N))


def test_update_is_reinforce_with_rloo_and_entropy(model):
  graphdef, params = nnx.split(model)
  logits_fn = nnx_logits_fn(graphdef)
  tx = optax.sgd(0.1)
  cfg = PGConfig(kl_coef=0.01, entropy_coef=0.01)
  _, batch = _batch(model)
  batch = {k: jnp.asarray(v) for k, v in batch.items()}
  batch["ref_logprobs"] = logprobs_fn(logits_fn)(params, batch) - 0.1
  state = {"params": params, "opt_state": tx.init(params), "step": jnp.zeros((), jnp.int32),
           "rng": jax.random.PRNGKey(0)}
  new, metrics = make_update(logits_fn, tx, cfg, N)(state, batch)
  assert float(metrics["ratio"]) == pytest.approx(1.0, abs=1e-6)
  assert float(metrics["clip_fraction"]) == 0.0 and int(new["step"]) == 1

  # By hand: shaped rewards -> RLOO -> loss = -mean_tokens(A * lp) - 0.01 * mean_tokens(entropy).
  mask = batch["loss_mask"] & batch["attention_mask"]
  mask = mask.at[:, 0].set(False)
  lp0 = token_logprobs(_logits(logits_fn, params, batch), batch["tokens"])
  d = batch["ref_logprobs"] - lp0
  k3 = jnp.sum(jnp.where(mask & batch["kl_mask"][:, None], jnp.expm1(d) - d, 0.0), -1)
  g = (batch["rewards"] - 0.01 * k3).reshape(2, N)
  adv = (g - (g.sum(1, keepdims=True) - g) / (N - 1)).reshape(-1)

  def hand_loss(p):
    logits = _logits(logits_fn, p, batch)
    lp = token_logprobs(logits, batch["tokens"])
    logq = jax.nn.log_softmax(logits, -1)
    ent = -jnp.sum(jnp.exp(logq) * logq, -1)
    ent = jnp.pad(ent[:, :-1], ((0, 0), (1, 0)))
    tok = jnp.sum(mask)
    return (-jnp.sum(jnp.where(mask, adv[:, None] * lp, 0.0)) / tok
            - 0.01 * jnp.sum(jnp.where(mask, ent, 0.0)) / tok)

  grads = jax.grad(hand_loss)(params)
  want = jax.tree.map(lambda p, g_: p - 0.1 * g_, params, grads)
  chex.assert_trees_all_close(jax.tree.leaves(new["params"]), jax.tree.leaves(want), rtol=1e-4,
                              atol=1e-6)


def _logits(logits_fn, params, batch):
  from jaxllm.train import model_logits
  return model_logits(logits_fn, params, batch)


def test_sharded_rl_step_equals_single_device(model, devices):
  graphdef, params = nnx.split(model)
  tx = optax.adam(1e-2)

  def reward_fn(prompts, rollouts):
    r = np.array([float(t.count("a") > 0) for t in rollouts.texts], np.float32)
    return Scored(r, np.ones(len(r), bool), {"custom": float(r.mean())})

  def run(mesh):
    state = {"params": params, "opt_state": tx.init(params), "step": jnp.zeros((), jnp.int32),
             "rng": jax.random.PRNGKey(0)}
    sh = None
    if mesh is not None:
      sh = jax.tree.map(lambda _: NamedSharding(mesh, P()), state)
      state = jax.device_put(state, sh)
    rl = OnlineRL(graphdef, params, TOK, SAMPLING, PGConfig(num_minibatches=2), tx, reward_fn,
                  mesh=mesh, state_sharding=sh, cache_size=64)
    state = jax.tree.map(jnp.copy, state)
    state, m, rollouts, _ = rl.step(state, params, ["p0", "p1"], PROMPTS, seed=3)
    return state, m, rollouts

  auto = (jax.sharding.AxisType.Auto,)
  mesh8 = jax.make_mesh((8,), ("data",), axis_types=auto, devices=devices)
  mesh1 = jax.make_mesh((1,), ("data",), axis_types=auto, devices=devices[:1])
  s8, m8, r8 = run(mesh8)
  s1, m1, r1 = run(mesh1)
  assert r8.texts == r1.texts and m8["custom"] == m1["custom"]
  assert {"time/sample_s", "time/update_s", "entropy", "kl_ref", "reward"} <= set(m8)
  # Adam turns float-rounding differences of near-zero gradients into ~lr-sized steps, hence atol.
  chex.assert_trees_all_close(jax.device_get(s8["params"]), jax.device_get(s1["params"]),
                              rtol=1e-4, atol=2e-5)


def test_tight_layout_gives_the_same_update(model):
  """length_bucket trims padding only: the same rollouts give the same update (token-mean loss,
  positions from the attention mask)."""
  graphdef, params = nnx.split(model)
  tx = optax.sgd(1.0)

  def reward_fn(prompts, rollouts):
    r = np.array([float(t.count("a") > 0) for t in rollouts.texts], np.float32)
    return Scored(r, np.ones(len(r), bool))

  out = {}
  for lb in (0, 5):
    rl = OnlineRL(graphdef, params, TOK, SAMPLING, PGConfig(kl_coef=0.1), tx, reward_fn,
                  cache_size=64, length_bucket=lb)
    r = rl.sample(params, PROMPTS, seed=3)
    assert r.tokens.shape == ((2 * N, 16 + 8) if lb == 0 else (2 * N, 15 + 8))
    state = {"params": jax.tree.map(jnp.copy, params), "opt_state": tx.init(params),
             "step": jnp.zeros((), jnp.int32), "rng": jax.random.PRNGKey(0)}
    out[lb] = rl.step(state, params, ["p0", "p1"], PROMPTS, seed=3)
  assert out[0][2].texts == out[5][2].texts
  np.testing.assert_allclose(out[0][1]["loss"], out[5][1]["loss"], rtol=1e-5, atol=1e-7)
  chex.assert_trees_all_close(jax.device_get(out[0][0]["params"]),
                              jax.device_get(out[5][0]["params"]), rtol=1e-4, atol=1e-6)
