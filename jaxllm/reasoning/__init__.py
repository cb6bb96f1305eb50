"""Procedural reasoning tasks and the train / RL / validation / test testbed built from them."""
from jaxllm.reasoning.tasks import GENERATORS, Problem, reasoning_gym_problems, score
from jaxllm.reasoning.testbed import (SPLITS, ReasoningSpec, make_splits, prompt_messages,
                                      sft_chat)

__all__ = ["GENERATORS", "Problem", "SPLITS", "ReasoningSpec", "make_splits", "prompt_messages",
           "reasoning_gym_problems", "score", "sft_chat"]
