"""Rewards for LLM RL: final-answer extraction, math equivalence, self-consistency (SRT) and
ground truth.

  extract_boxed(text) -> str | None
  self_consistency_rewards(responses, min_majority=0.0, soft=False) -> list[float]  # one group
  vote(responses, min_majority, soft) -> GroupVote   # + majority, its share, the KL mask
  ground_truth_rewards(responses, truth) -> list[float]
  equivalent(a, b) -> bool                           # math-verify, cached
"""
from jaxllm.rewards.boxed import PROMPT_SUFFIX, extract_boxed
from jaxllm.rewards.consistency import (GroupVote, ground_truth_rewards, majority_answer,
                                        self_consistency_rewards, vote)
from jaxllm.rewards.equivalence import equivalent

__all__ = ["PROMPT_SUFFIX", "GroupVote", "equivalent", "extract_boxed", "ground_truth_rewards",
           "majority_answer", "self_consistency_rewards", "vote"]
