"""SRT: online RL with the model's own majority answer as the reward (PAPERS.md section 2).

A base model is trained here from scratch by SFT on the reasoning testbed's step-by-step
solutions (jaxllm.reasoning; or given as a local HF checkpoint), then each *arm* runs online RL
from it: the ground-truth baseline, SRT, and SRT with each mitigation. Arms share one base model
(`base.dir`) and one testbed; each trains in `<workdir>/<arm>/`, resumable, and results.json
compares them on the held-out test split (at the end, and at the best validation step: early
stopping).

  python -m experiments.main --config experiments/configs/srt.py:smoke --workdir /tmp/srt
  python -m experiments.main --config experiments/configs/srt.py:testbed --workdir runs/srt/seed0 \
      --config.seed=0 --config.base.dir=runs/srt/base
  python -m experiments.main --config experiments/configs/srt.py:paper --workdir gs://.../srt \
      --config.model_path=/path/to/Qwen2.5-Math-7B --config.mesh.fsdp=-1 --config.mesh.data=1

Arms (`--config.arms=ground_truth,srt,...`):
  ground_truth       reward = correctness against the hidden label (the baseline)
  srt                reward = agreement with the group's majority answer
  srt_soft           reward = the frequency of the rollout's answer
  srt_threshold      srt with rl.min_majority (groups below it: reward 0 and no KL term)
  srt_pseudo_label   offline pseudo-labels: agreement with the frozen base model's majority
  srt_curriculum     srt on the easiest rl.curriculum_fraction of prompts by base majority share
  srt_online_filter  srt, training only on each batch's top rl.online_keep_fraction prompts
Early stopping (the third mitigation) is measured on every arm: the test accuracy of the
checkpoint with the best labelled validation accuracy (`rl.patience` > 0 also stops the run).

Testbed prompt decision: the authors' suffix ("Let's think step by step and output the final
answer within \\boxed{}.") is kept for pretrained checkpoints (paper preset); the from-scratch
byte-level models use the shorter `data.suffix` below, which halves their sequence length.
"""
import ml_collections

from experiments.configs.sft import SHARDING_RULES
from experiments.runtime.optim import optim_config

PRESETS = ("smoke", "testbed", "paper")
ARMS = ("ground_truth", "srt", "srt_soft", "srt_threshold", "srt_pseudo_label", "srt_curriculum",
        "srt_online_filter")


def get_config(preset: str = "smoke") -> ml_collections.ConfigDict:
  if preset not in PRESETS:
    raise ValueError(f"unknown preset '{preset}'; valid: {', '.join(PRESETS)}")
  c = ml_collections.ConfigDict()
  c.trainer = "srt"
  c.seed = 0                       # the RL seed (sampling, prompt order, update)
  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "tensor": 1})
  c.arms = "ground_truth,srt"
  c.model_path = ""                # a local HF checkpoint instead of the from-scratch base model
  c.sharding = ml_collections.ConfigDict()
  c.sharding.rules = SHARDING_RULES   # as the sft config (jaxllm.sharding rules)

  # ---------------------------------------------------------------- testbed (jaxllm.reasoning)
  c.data = ml_collections.ConfigDict()
  c.data.seed = 0                  # fixed across RL seeds: every arm and seed sees the same splits
  c.data.tasks = (("arith", {"terms": (2, 5), "digits": (1, 2)}),)
  c.data.sft_size = 20000
  c.data.rl_size = 2000
  c.data.val_size = 128
  c.data.test_size = 256
  c.data.suffix = "Think step by step, answer in \\boxed{}."

  # ---------------------------------------------------------------- base model (SFT from scratch)
  c.base = ml_collections.ConfigDict()
  c.base.dir = ""                  # "": <workdir>/base; share it across seeds and runs
  c.base.hidden_size = 128
  c.base.intermediate_size = 384
  c.base.num_layers = 4
  c.base.num_heads = 4
  c.base.num_kv_heads = 2
  c.base.head_dim = 32
  c.base.seq_len = 256
  c.base.batch_size = 32
  c.base.optim = optim_config(lr=2e-3, warmup_steps=20, end_lr_fraction=0.1, weight_decay=0.01,
                              decay_mask="matrices", b2=0.95, max_grad_norm=1.0)
  c.base.num_steps = 1000
  c.base.steps_per_call = 10
  c.base.eval_samples = 16         # samples per prompt when scoring the base model

  # ---------------------------------------------------------------- online RL (jaxllm.rl)
  c.rl = ml_collections.ConfigDict()
  c.rl.prompts_per_step = 16
  c.rl.samples_per_prompt = 16
  c.rl.max_new_tokens = 64
  c.rl.temperature = 1.0
  c.rl.min_majority = 0.5          # srt_threshold
  c.rl.curriculum_fraction = 1 / 3  # srt_curriculum: the easiest third
  c.rl.online_keep_fraction = 0.5  # srt_online_filter
  c.rl.kl_coef = 0.001             # KL to the frozen base in the reward (k3)
  c.rl.entropy_coef = 0.001
  c.rl.clip_eps = 0.2
  c.rl.num_minibatches = 1
  c.rl.num_epochs = 1
  c.rl.old_logprobs = "recompute"  # or "sampler": the sampler's log-probs (exact at T = 1)
  c.rl.length_bucket = 0           # > 0: tight rollout layout (jaxllm.rl.collect)
  # lr chosen on the validation split (ground-truth arm, 40 steps; docs/srt_fidelity.md):
  # 1e-4 fell below the base model, 1e-5 did not move, 3e-5 was best at step 20.
  c.rl.optim = optim_config(name="adam", lr=3e-5, schedule="constant", warmup_steps=0,
                            max_grad_norm=1.0)
  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 60
  c.train.steps_per_call = 1
  c.train.log_every = 1
  c.train.checkpoint_every = 10
  c.train.keep_checkpoints = 2
  c.train.eval_every = 20
  c.rl.val_samples = 16            # samples per validation prompt (T = rl.temperature)
  c.rl.test_samples = 16
  c.rl.patience = 0                # > 0: stop after this many evaluations without improvement

  if preset == "testbed":
    c.rl.old_logprobs, c.rl.length_bucket = "sampler", 16   # exact at T = 1; saves a forward
  if preset == "smoke":
    c.data.sft_size, c.data.rl_size, c.data.val_size, c.data.test_size = 3000, 200, 16, 32
    c.data.tasks = (("arith", {"terms": (2, 3), "digits": 1}),)
    c.base.hidden_size, c.base.intermediate_size, c.base.num_layers = 64, 192, 2
    c.base.num_heads, c.base.num_kv_heads, c.base.head_dim = 2, 1, 32
    c.base.num_steps, c.base.batch_size, c.base.seq_len = 400, 16, 128
    c.base.eval_samples = 4
    c.rl.prompts_per_step, c.rl.samples_per_prompt, c.rl.max_new_tokens = 4, 8, 32
    c.rl.val_samples = c.rl.test_samples = 4
    c.train.num_steps, c.train.checkpoint_every, c.train.eval_every = 4, 2, 2
  elif preset == "paper":
    # Authors' sizes: Qwen2.5-Math-7B, 16 prompts x 32 rollouts, lr 1e-6, 3072 new tokens,
    # validation 32 samples at T = 1 every 100 steps.
    c.data.suffix = "Let's think step by step and output the final answer within \\boxed{}."
    c.data.tasks = (("arith", {"terms": (4, 8), "digits": (2, 3)}),
                    ("multiply", {"digits": (2, 4)}), ("linear", {"digits": (1, 2)}))
    c.rl.samples_per_prompt, c.rl.max_new_tokens = 32, 3072
    c.rl.optim = optim_config(name="adam", lr=1e-6, schedule="constant", max_grad_norm=1.0)
    c.rl.val_samples = c.rl.test_samples = 32
    c.train.num_steps, c.train.eval_every, c.train.checkpoint_every = 1000, 100, 50
    c.train.log_every = 10
    c.mesh = ml_collections.ConfigDict({"data": 1, "fsdp": -1, "tensor": 1})
  return c
