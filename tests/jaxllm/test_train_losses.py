"""Hand-computed checks of jaxllm.train: log-probs, SFT, DPO/RPO, RLOO/GRPO, PPO clipping, KL."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxllm import train

V = 5


def np_log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def bigram_logits_fn(params, tokens, positions, attention_mask):
  """A causal LM in one line: the logits at t depend only on tokens[t]."""
  del positions, attention_mask
  return params["w"][tokens]


@pytest.fixture
def case():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 4, V)).astype(np.float32) * 2.0
  tokens = np.array([[1, 4, 0, 2], [3, 3, 1, 0]], np.int32)
  # Sequence 0: prompt = token 0-1, answer = 2-3. Sequence 1: prompt 0, answer 1-2, padding at 3.
  loss_mask = np.array([[0, 0, 1, 1], [0, 1, 1, 0]], bool)
  attn = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], bool)
  return logits, tokens, loss_mask, attn


# --------------------------------------------------------------------------------------------------
# log-probs
# --------------------------------------------------------------------------------------------------


def test_token_logprobs_entropy_and_sums(case):
  logits, tokens, loss_mask, _ = case
  ls = np_log_softmax(logits.astype(np.float64))
  want = np.zeros((2, 4))
  for b in range(2):
    for t in range(1, 4):
      want[b, t] = ls[b, t - 1, tokens[b, t]]  # next-token shift, aligned with tokens
  got = train.token_logprobs(jnp.asarray(logits), jnp.asarray(tokens))
  np.testing.assert_allclose(got, want, atol=1e-6)

  ent = np.zeros((2, 4))
  ent[:, 1:] = -(np.exp(ls) * ls).sum(-1)[:, :-1]
  np.testing.assert_allclose(train.token_entropy(jnp.asarray(logits)), ent, atol=1e-6)

  seq = train.sequence_logprobs(got, jnp.asarray(loss_mask))
  np.testing.assert_allclose(seq, [want[0, 2] + want[0, 3], want[1, 1] + want[1, 2]], atol=1e-6)


def test_logprobs_stable_in_bf16_with_huge_logits():
  # Position 0 predicts token 1; its logits put all mass on token 0 (a gap of 3e4 in bf16).
  logits = jnp.array([[[3e4, 0.0, -3e4], [0.0, 3e4, 0.0]]], jnp.bfloat16)
  lp = train.token_logprobs(logits, jnp.array([[1, 0]]))
  assert lp.dtype == jnp.float32
  np.testing.assert_allclose(lp, [[0.0, 0.0]], atol=1e-6)
  lp = train.token_logprobs(logits, jnp.array([[1, 2]]))
  np.testing.assert_allclose(lp[0, 1], -2 * 29952.0, rtol=1e-6)  # bf16(3e4) = 29952, exact in f32


# --------------------------------------------------------------------------------------------------
# SFT
# --------------------------------------------------------------------------------------------------


def test_sft_loss_hand_values(case):
  logits, tokens, loss_mask, attn = case
  ls = np_log_softmax(logits.astype(np.float64))
  # Targets: (b=0,t=2), (0,3), (1,1), (1,2); each predicted from position t - 1.
  targets = [(0, 2), (0, 3), (1, 1), (1, 2)]
  nll = [-ls[b, t - 1, tokens[b, t]] for b, t in targets]
  hits = [float(np.argmax(logits[b, t - 1]) == tokens[b, t]) for b, t in targets]
  loss, m = train.sft_loss_from_logits(jnp.asarray(logits), jnp.asarray(tokens),
                                       jnp.asarray(loss_mask & attn))
  np.testing.assert_allclose(loss, np.mean(nll), rtol=1e-6)  # mean over the 4 target tokens
  assert float(m["tokens"]) == 4.0
  np.testing.assert_allclose(m["accuracy"], np.mean(hits))
  np.testing.assert_allclose(m["perplexity"], np.exp(np.mean(nll)), rtol=1e-6)


def test_sft_mask_excludes_prompt_tokens(case):
  logits, tokens, loss_mask, attn = case
  fn = lambda lg, tk: train.sft_loss_from_logits(lg, tk, jnp.asarray(loss_mask & attn))[0]
  base = fn(jnp.asarray(logits), jnp.asarray(tokens))
  changed = tokens.copy()
  changed[0, :2] = [4, 2]   # prompt tokens of sequence 0 (not targets)
  changed[1, 0] = 0         # prompt token of sequence 1
  changed[1, 3] = 4         # padding
  np.testing.assert_allclose(fn(jnp.asarray(logits), jnp.asarray(changed)), base, rtol=0)
  # No gradient reaches logits whose next token is not a target.
  g = jax.grad(fn)(jnp.asarray(logits), jnp.asarray(tokens))
  np.testing.assert_array_equal(np.abs(g).sum(-1) > 0, [[0, 1, 1, 0], [1, 1, 0, 0]])


def test_sft_loss_through_a_model(case):
  _, tokens, loss_mask, attn = case
  w = np.random.default_rng(1).normal(size=(V, V)).astype(np.float32)
  batch = {"tokens": jnp.asarray(tokens), "attention_mask": jnp.asarray(attn),
           "loss_mask": jnp.asarray(loss_mask)}
  loss, m = train.sft_loss({"w": jnp.asarray(w)}, batch, logits_fn=bigram_logits_fn)
  ls = np_log_softmax(w.astype(np.float64))
  want = -np.mean([ls[tokens[b, t - 1], tokens[b, t]] for b, t in [(0, 2), (0, 3), (1, 1), (1, 2)]])
  np.testing.assert_allclose(loss, want, rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# DPO / RPO
# --------------------------------------------------------------------------------------------------


def test_dpo_hand_values():
  pi_c, pi_r = np.array([-3.0, -5.0]), np.array([-4.0, -2.0])
  ref_c, ref_r = np.array([-3.5, -4.0]), np.array([-3.0, -2.5])
  beta = 0.1
  h = (pi_c - ref_c) - (pi_r - ref_r)  # [0.5 + 1.0, -1.0 - 0.5] = [1.5, -1.5]
  np.testing.assert_allclose(h, [1.5, -1.5])
  want = np.log1p(np.exp(-beta * h))
  losses, m = train.dpo_loss_from_logps(*map(jnp.asarray, (pi_c, pi_r, ref_c, ref_r)), beta=beta)
  np.testing.assert_allclose(losses, want, rtol=1e-6)
  np.testing.assert_allclose(m["rewards/chosen"], np.mean(beta * (pi_c - ref_c)), rtol=1e-6)
  np.testing.assert_allclose(m["rewards/rejected"], np.mean(beta * (pi_r - ref_r)), rtol=1e-6)
  np.testing.assert_allclose(m["rewards/margins"], 0.0, atol=1e-7)
  assert float(m["rewards/accuracy"]) == 0.5
  # The gradient pushes chosen log-probs up and rejected ones down.
  g = jax.grad(lambda c, r: train.dpo_loss_from_logps(c, r, ref_c, ref_r, beta)[0].sum(),
               argnums=(0, 1))(jnp.asarray(pi_c), jnp.asarray(pi_r))
  np.testing.assert_allclose(g[0], -beta / (1 + np.exp(beta * h)), rtol=1e-6)
  assert (np.asarray(g[0]) < 0).all() and (np.asarray(g[1]) > 0).all()


def _pref_batch():
  chosen = np.array([[1, 2, 3, 4], [0, 1, 1, 0]], np.int32)
  rejected = np.array([[1, 2, 0, 0], [0, 4, 2, 2]], np.int32)
  attn = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], bool)
  lmask = np.array([[0, 0, 1, 1], [0, 1, 1, 0]], bool)
  return {"chosen_tokens": chosen, "rejected_tokens": rejected,
          "chosen_attention_mask": attn, "rejected_attention_mask": attn,
          "chosen_loss_mask": lmask, "rejected_loss_mask": lmask}


def test_rpo_hand_values_and_gradient_direction():
  rng = np.random.default_rng(2)
  w_ref = rng.normal(size=(V, V)).astype(np.float32)
  w = w_ref + 0.3 * rng.normal(size=(V, V)).astype(np.float32)
  batch = {k: jnp.asarray(v) for k, v in _pref_batch().items()}
  ref = jax.jit(functools.partial(train.reference_logps, bigram_logits_fn))(
      {"w": jnp.asarray(w_ref)}, batch)
  batch.update(ref)

  def np_seq(wm, toks, mask):
    ls = np_log_softmax(wm.astype(np.float64))
    return np.array([sum(ls[toks[b, t - 1], toks[b, t]] for t in range(1, 4) if mask[b, t])
                     for b in range(2)])

  nb = _pref_batch()
  m_ok = nb["chosen_loss_mask"] & nb["chosen_attention_mask"]
  ref_c = np_seq(w_ref, nb["chosen_tokens"], m_ok)
  ref_r = np_seq(w_ref, nb["rejected_tokens"], m_ok)
  np.testing.assert_allclose(ref["ref_chosen_logps"], ref_c, rtol=1e-5)
  pi_c, pi_r = np_seq(w, nb["chosen_tokens"], m_ok), np_seq(w, nb["rejected_tokens"], m_ok)
  beta, alpha = 0.1, 1.0
  dpo = np.mean(np.log1p(np.exp(-beta * ((pi_c - ref_c) - (pi_r - ref_r)))))
  nll = np.mean(-pi_c / m_ok.sum(-1))  # per-sequence length-normalised (2 tokens each here)
  rpo = jax.jit(functools.partial(train.rpo_loss, logits_fn=bigram_logits_fn, beta=beta,
                                  alpha=alpha))
  loss, m = rpo({"w": jnp.asarray(w)}, batch)
  np.testing.assert_allclose(loss, dpo + alpha * nll, rtol=1e-5)
  np.testing.assert_allclose(m["nll"], nll, rtol=1e-5)
  _, m_tok = jax.jit(functools.partial(train.rpo_loss, logits_fn=bigram_logits_fn,
                                       nll_normalisation="token"))({"w": jnp.asarray(w)}, batch)
  np.testing.assert_allclose(m_tok["nll"], -pi_c.sum() / m_ok.sum(), rtol=1e-5)

  # A small SGD step on plain DPO from the reference raises chosen and lowers rejected log-probs.
  params = {"w": jnp.asarray(w_ref)}
  dpo_fn = jax.jit(functools.partial(train.dpo_loss, logits_fn=bigram_logits_fn, beta=beta))
  g = jax.jit(jax.grad(lambda p: dpo_fn(p, batch)[0]))(params)
  new = jax.tree.map(lambda p, d: p - 1.0 * d, params, g)
  _, m0 = dpo_fn(params, batch)
  _, m1 = dpo_fn(new, batch)
  assert float(m1["logps/chosen"]) > float(m0["logps/chosen"])
  assert float(m1["logps/rejected"]) < float(m0["logps/rejected"])
  assert float(m1["rewards/margins"]) > 0.0 and float(m1["dpo_loss"]) < float(m0["dpo_loss"])


def test_rpo_dpo_exclude_ids_drop_eos_from_the_log_ratio_only():
  """PAPRIKA's EOS exclusion: token 4 (chosen row 0, position 3) leaves the DPO sums, not the NLL."""
  rng = np.random.default_rng(3)
  w_ref = rng.normal(size=(V, V)).astype(np.float32)
  w = w_ref + 0.3 * rng.normal(size=(V, V)).astype(np.float32)
  batch = {k: jnp.asarray(v) for k, v in _pref_batch().items()}
  ref = train.reference_logps(bigram_logits_fn, {"w": jnp.asarray(w_ref)}, batch,
                              dpo_exclude_ids=(4,))
  nb = _pref_batch()
  ls_ref = np_log_softmax(w_ref.astype(np.float64))
  # chosen row 0 targets t=2,3 -> tokens 3, 4; with 4 excluded only (2 -> 3) counts.
  np.testing.assert_allclose(ref["ref_chosen_logps"][0], ls_ref[2, 3], rtol=1e-5)
  # rejected row 1 targets t=1,2 -> tokens 4, 2; 4 excluded leaves (4 -> 2).
  np.testing.assert_allclose(ref["ref_rejected_logps"][1], ls_ref[4, 2], rtol=1e-5)
  batch.update(ref)
  _, m_all = train.rpo_loss({"w": jnp.asarray(w)}, batch, logits_fn=bigram_logits_fn)
  _, m_ex = train.rpo_loss({"w": jnp.asarray(w)}, batch, logits_fn=bigram_logits_fn,
                           dpo_exclude_ids=(4,))
  np.testing.assert_allclose(m_ex["nll"], m_all["nll"], rtol=1e-6)   # NLL keeps token 4
  ls = np_log_softmax(w.astype(np.float64))
  assert nb["chosen_tokens"][0, 3] == 4
  np.testing.assert_allclose(m_ex["logps/chosen"], np.mean([ls[2, 3], ls[0, 1] + ls[1, 1]]),
                             rtol=1e-5)


# --------------------------------------------------------------------------------------------------
# Policy gradient
# --------------------------------------------------------------------------------------------------


def test_rloo_and_grpo_advantages():
  r = jnp.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0])
  # RLOO, group 1: a 1 sees others (0, 1, 1) -> 1 - 2/3; the 0 sees (1, 1, 1) -> -1.
  # Group 2: a 0 sees (0, 0, 1) -> -1/3; the 1 sees (0, 0, 0) -> 1.
  np.testing.assert_allclose(train.rloo_advantages(r, 4),
                             [1 / 3, -1, 1 / 3, 1 / 3, -1 / 3, -1 / 3, -1 / 3, 1], rtol=1e-6)
  # GRPO, group 1: mean 0.75, unbiased std sqrt((3 * 0.25^2 + 0.75^2) / 3) = 0.5.
  np.testing.assert_allclose(train.grpo_advantages(r, 4, eps=0.0),
                             [0.5, -1.5, 0.5, 0.5, -0.5, -0.5, -0.5, 1.5], rtol=1e-6)
  # Population std (ddof=0): sqrt(0.75 / 4).
  np.testing.assert_allclose(train.grpo_advantages(r, 4, eps=0.0, ddof=0)[:2],
                             np.array([0.25, -0.75]) / np.sqrt(0.1875), rtol=1e-6)
  # Identical rewards: zero advantages, no NaN.
  np.testing.assert_array_equal(train.grpo_advantages(jnp.ones(4), 2), np.zeros(4))
  with pytest.raises(ValueError):
    train.rloo_advantages(r, 3)


def test_ppo_clipping_at_ratios_around_one():
  eps = 0.2
  ratios = np.array([0.5, 0.9, 1.1, 1.5])
  old = np.full((2, 4), -1.0, np.float32)
  logp = (old + np.log(ratios)).astype(np.float32)
  adv = np.array([1.0, -1.0], np.float32)
  mask = np.ones((2, 4), bool)
  # A > 0: -min(r, clip r) = [-0.5, -0.9, -1.1, -1.2]; clipped (no gradient) only at r = 1.5.
  # A < 0: max(r, clip r) = [0.8, 0.9, 1.1, 1.5]; clipped only at r = 0.5.
  want = np.array([[-0.5, -0.9, -1.1, -1.2], [0.8, 0.9, 1.1, 1.5]])
  fn = lambda lp: train.policy_gradient_loss_from_logprobs(
      lp, jnp.asarray(adv), jnp.asarray(mask), jnp.asarray(old), clip_eps=eps)
  (loss, m), g = jax.value_and_grad(fn, has_aux=True)(jnp.asarray(logp))
  np.testing.assert_allclose(loss, want.mean(), rtol=1e-6)
  np.testing.assert_allclose(m["clip_fraction"], 2 / 8)
  # d/dlogp of -A * r = -A * r / 8 where unclipped, 0 where clipped.
  want_g = -adv[:, None] * ratios[None] / 8
  want_g[0, 3] = want_g[1, 0] = 0.0
  np.testing.assert_allclose(g, want_g, rtol=1e-5, atol=1e-7)
  # Without clipping every token keeps its gradient.
  loss_nc, m_nc = train.policy_gradient_loss_from_logprobs(
      jnp.asarray(logp), jnp.asarray(adv), jnp.asarray(mask), jnp.asarray(old), clip_eps=None)
  np.testing.assert_allclose(loss_nc, (-adv[:, None] * ratios[None]).mean(), rtol=1e-6)
  assert float(m_nc["clip_fraction"]) == 0.0


def test_kl_k3_and_reward_penalty():
  pi = jnp.array([[-1.0, -2.0, -0.5]])
  np.testing.assert_array_equal(train.kl_k3(pi, pi), np.zeros((1, 3)))
  ref = jnp.array([[-1.5, -1.0, -0.5]])
  d = np.array([-0.5, 1.0, 0.0])
  want = np.exp(d) - d - 1
  np.testing.assert_allclose(train.kl_k3(pi, ref)[0], want, rtol=1e-6)
  mask = jnp.array([[True, True, False]])
  r, kl = train.kl_penalised_rewards(jnp.array([1.0]), pi, ref, mask, beta=0.001)
  np.testing.assert_allclose(kl, [want[0] + want[1]], rtol=1e-6)
  np.testing.assert_allclose(r, [1.0 - 0.001 * (want[0] + want[1])], rtol=1e-6)
  r1, _ = train.kl_penalised_rewards(jnp.array([1.0]), pi, ref, mask, beta=0.1, estimator="k1")
  np.testing.assert_allclose(r1, [1.0 - 0.1 * (0.5 - 1.0)], rtol=1e-6)


def test_kl_in_loss_and_aggregation():
  logp = jnp.array([[-1.0, -2.0, -3.0], [-1.0, -1.0, -1.0]])
  ref = logp + jnp.array([[0.0, 0.5, 0.0], [0.0, 0.0, 0.0]])
  mask = jnp.array([[True, True, True], [True, False, False]])
  adv = jnp.array([1.0, 2.0])
  k = np.exp(0.5) - 0.5 - 1
  # On-policy (ratio 1): per-token surrogate = -A.
  # Token mean: (-1 * 3 - 2) / 4; sequence mean: (-1 - 2) / 2.
  for agg, pg, kl in [("token", -5 / 4, k / 4), ("sequence", -3 / 2, (k / 3) / 2)]:
    loss, m = train.policy_gradient_loss_from_logprobs(logp, adv, mask, None, ref, kl_coef=0.05,
                                                       aggregation=agg)
    np.testing.assert_allclose(m["pg_loss"], pg, rtol=1e-6)
    np.testing.assert_allclose(m["kl"], kl, rtol=1e-5)
    np.testing.assert_allclose(loss, pg + 0.05 * kl, rtol=1e-6)
  # REINFORCE gradient: -A / number of tokens on each masked token (token mean), KL term aside.
  g = jax.grad(lambda lp: train.policy_gradient_loss_from_logprobs(lp, adv, mask)[0])(logp)
  np.testing.assert_allclose(g, [[-0.25, -0.25, -0.25], [-0.5, 0, 0]], rtol=1e-6)


def test_policy_gradient_loss_through_a_model(case):
  _, tokens, loss_mask, attn = case
  w = np.random.default_rng(3).normal(size=(V, V)).astype(np.float32)
  batch = {"tokens": jnp.asarray(tokens), "attention_mask": jnp.asarray(attn),
           "loss_mask": jnp.asarray(loss_mask), "advantages": jnp.array([1.0, -1.0])}
  loss, m = train.policy_gradient_loss({"w": jnp.asarray(w)}, batch, logits_fn=bigram_logits_fn)
  np.testing.assert_allclose(loss, 0.0, atol=1e-7)  # on-policy: -(1 + 1 - 1 - 1) / 4
  ls = np_log_softmax(w.astype(np.float64))
  ent = -(np.exp(ls) * ls).sum(-1)
  want = np.mean([ent[tokens[b, t - 1]] for b, t in [(0, 2), (0, 3), (1, 1), (1, 2)]])
  np.testing.assert_allclose(m["entropy"], want, rtol=1e-5)
  assert float(m["clip_fraction"]) == 0.0 and float(m["tokens"]) == 4.0
