"""Online RL for LLMs (shared by SRT, MRT, PAPRIKA and the helper policy).

  rollouts   P prompts x n samples from the jitted sampler (shared prefill) as a training batch
  objective  KL-shaped rewards, RLOO / GRPO advantages, PPO-clip + entropy update (pure)
  step       OnlineRL: sample with the current params -> host reward function -> update
"""
from jaxllm.rl.objective import PGConfig, logprobs_fn, make_update, shaped_advantages
from jaxllm.rl.rollouts import Rollouts, collect
from jaxllm.rl.step import OnlineRL, RewardFn, Scored

__all__ = ["OnlineRL", "PGConfig", "RewardFn", "Rollouts", "Scored", "collect", "logprobs_fn",
           "make_update", "shaped_advantages"]
