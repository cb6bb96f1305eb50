"""LLM training steps as pure, jittable, model-agnostic functions.

Every loss takes `(params, batch)` plus a bound
`logits_fn(params, tokens, positions, attention_mask) -> logits [B, T, V]`;
`make_train_step` turns a loss and an optax optimiser into `step(state, batch) -> (state, metrics)`.

  logprobs         aligned next-token log-probs, sequence sums, entropy (float32)
  sft              masked next-token cross-entropy (multi-turn: agent tokens only)
  preference       DPO, RPO = DPO + alpha * NLL(chosen)
  policy_gradient  RLOO / GRPO advantages, k3 KL, PPO-clipped surrogate
  lora             low-rank adapters over any params pytree, merge, adapter-only optimiser,
                   adapter shardings; the Transformer's LoRA targets
  step             train state, train step (shardings: jaxllm.sharding)
  evaluate         held-out loss / perplexity / accuracy over packed rows, greedy prompt samples
"""

from jaxllm.train.logprobs import (batch_logprobs, entropy, gather_logprobs, masked_mean,
                                   model_logits, nnx_logits_fn, positions_from_mask,
                                   sequence_logprobs, target_mask, token_accuracy, token_entropy,
                                   token_logprobs)
from jaxllm.train.evaluate import make_eval_fn, sample_prompts
from jaxllm.train.lora import (TRANSFORMER_TARGETS, init_lora, lora_delta, lora_logits_fn,
                               lora_optimizer, lora_param_shardings, lora_params, merge_lora,
                               path_str, trainable_labels, transformer_in_dims,
                               transformer_lora_predicate)
from jaxllm.train.policy_gradient import (aggregate, grpo_advantages, kl_k3, kl_penalised_rewards,
                                          policy_gradient_loss, policy_gradient_loss_from_logprobs,
                                          rloo_advantages)
from jaxllm.train.preference import dpo_loss, dpo_loss_from_logps, reference_logps, rpo_loss
from jaxllm.train.sft import sft_loss, sft_loss_from_logits
from jaxllm.train.step import init_train_state, make_train_step
