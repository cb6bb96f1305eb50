"""SRT: self-rewarded training, self-consistency as the RL reward (PAPERS.md section 2).

  rewards     reward functions for jaxllm.rl.OnlineRL (ground truth, self-consistency,
              offline pseudo-labels) and the per-batch collapse diagnostics
  evaluate    held-out accuracy, majority-vote accuracy and confidence thresholds
  curriculum  offline easiest-prompts curriculum, online majority filter, early stopping
"""
from jaxllm.srt.curriculum import EarlyStopping, easiest, online_keep_mask
from jaxllm.srt.evaluate import THRESHOLDS, Evaluation, evaluate, prompt_ids
from jaxllm.srt.rewards import KINDS, RewardSpec, diagnostics, score_batch

__all__ = ["EarlyStopping", "Evaluation", "KINDS", "RewardSpec", "THRESHOLDS", "diagnostics",
           "easiest", "evaluate", "online_keep_mask", "prompt_ids", "score_batch"]
