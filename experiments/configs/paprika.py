"""PAPRIKA: fine-tuning on self-generated multi-turn game trajectories (PAPERS.md section 6).

A base model is trained here from scratch by behaviour-cloning a noisy legal-move policy
(`jaxllm.paprika.policies`; or given as a local HF checkpoint), then each *arm* runs rounds of
collect -> train from it, and every round is scored on the held-out (eval) scenarios of every
group. Arms share one base model (`base.dir`) and one scenario pool.

  python -m experiments.main --config experiments/configs/paprika.py:smoke --workdir /tmp/paprika
  python -m experiments.main --config experiments/configs/paprika.py:testbed \
      --workdir runs/paprika/seed0 --config.seed=0 --config.base.dir=runs/paprika/base
  python -m experiments.main --config experiments/configs/paprika.py:loo-mastermind \
      --workdir runs/paprika/loo-mastermind
  python -m experiments.main --config experiments/configs/paprika.py:paper --workdir gs://... \
      --config.model_path=/path/to/Llama-3.1-8B-Instruct --config.mesh.fsdp=-1 --config.mesh.data=1

Arms (`--config.arms=sft,rpo,rpo_ucb`):
  sft      multi-turn SFT on each round's chosen trajectories (agent tokens only)
  rpo      RPO on each round's (chosen, rejected) pairs; scenarios drawn in proportion to the
           categories' sizes
  rpo_ucb  rpo with the UCB curriculum over (group, difficulty) categories, rewarded by the
           learning potential of each collected scenario
The base model itself is scored too (round 0). `loo-<group>` removes <group> from training (BC
data and rounds) and still evaluates it: leave-one-out transfer. `data.options` sets per-group
scenario options, e.g. '{"mastermind": {"length": 5}}' for a held-out variant.
"""
import ml_collections

from experiments.configs.sft import SHARDING_RULES
from experiments.runtime.optim import optim_config

RULE_GROUPS = ("wordle", "mastermind", "battleship", "minesweeper", "cellular_automata", "bandit")
SIM_GROUPS = ("twenty_questions", "guess_my_city", "customer_service", "murder_mystery")
GROUPS = RULE_GROUPS + SIM_GROUPS
ARMS = ("sft", "rpo", "rpo_ucb")
PRESETS = ("smoke", "testbed", "paper") + tuple(f"loo-{g}" for g in GROUPS)


def get_config(preset: str = "smoke") -> ml_collections.ConfigDict:
  if preset not in PRESETS:
    raise ValueError(f"unknown preset '{preset}'; valid: {', '.join(PRESETS)}")
  c = ml_collections.ConfigDict()
  c.trainer = "paprika"
  c.seed = 0                      # the arms' seed (collection sampling, scenario draws, update)
  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "tensor": 1})
  c.arms = "sft,rpo,rpo_ucb"
  c.model_path = ""               # a local HF checkpoint instead of the from-scratch base model
  c.sharding = ml_collections.ConfigDict()
  c.sharding.rules = SHARDING_RULES

  # ---------------------------------------------------------------- games (jaxllm.paprika.games)
  c.data = ml_collections.ConfigDict()
  c.data.seed = 0                 # fixed across arm seeds: every arm and seed sees the same pools
  c.data.groups = ",".join(GROUPS)
  c.data.holdout = ""             # a group left out of training (loo-<group>), still evaluated
  c.data.train_scenarios = 400    # per group, the pool BC data and rounds draw from
  c.data.eval_scenarios = 32      # per group, held out (never trained on, never selected on)
  c.data.options = "{}"           # JSON: per-group scenario options, e.g. {"bandit": {"arms": 3}}
  c.data.eval_options = "{}"      # JSON: options for the eval pools only (held-out variants:
                                  # {"mastermind": {"length": 5}} trains on 4 digits, tests on 5)
  c.data.terse = True             # terse game text and bare <Answer> turns (byte-level models)
  # The LLM-simulated groups' environment: "" plays the deterministic simulators; an
  # OpenAI-compatible base URL (`python -m jaxllm.serve ...` or remote) plays an env LLM at T = 0.
  c.data.env_base_url = ""
  c.data.env_model = ""

  # ---------------------------------------------------------------- base model (BC from scratch)
  c.base = ml_collections.ConfigDict()
  c.base.dir = ""                 # "": <workdir>/base; share it across seeds and arms
  c.base.bc_per_scenario = 2      # scripted trajectories per train scenario
  c.base.noise = (0.0, 1.0)       # the scripted policy's noise, uniform per trajectory
  c.base.hidden_size = 128
  c.base.intermediate_size = 384
  c.base.num_layers = 4
  c.base.num_heads = 4
  c.base.num_kv_heads = 2
  c.base.head_dim = 32
  c.base.seq_len = 2048
  c.base.batch_size = 16
  c.base.pack = True
  c.base.optim = optim_config(lr=2e-3, warmup_steps=50, end_lr_fraction=0.1, weight_decay=0.01,
                              decay_mask="matrices", b2=0.95, max_grad_norm=1.0)
  c.base.num_steps = 1500
  c.base.steps_per_call = 10

  # ---------------------------------------------------------------- collection (authors' values)
  c.collect = ml_collections.ConfigDict()
  c.collect.samples_per_scenario = 20
  c.collect.temperature = 1.5
  c.collect.min_p = 0.3
  c.collect.max_new_tokens = 128
  c.collect.max_context = 4096
  c.collect.max_invalid = 10
  c.collect.scenarios_per_round = 64
  c.collect.env_workers = 0       # threads for endpoint-backed environment steps
  c.collect.threshold = 2         # rejected successes must take >= this many more turns

  # ---------------------------------------------------------------- rounds of training
  c.train = ml_collections.ConfigDict()
  c.train.rounds = 4
  c.train.batch_size = 8          # pairs (rpo) or chats (sft) per step
  c.train.epochs = 1
  c.train.steps_per_call = 1
  c.train.log_every = 5
  c.train.checkpoint_every = 50
  c.train.keep_checkpoints = 1
  c.train.beta = 0.1              # RPO
  c.train.alpha = 1.0             # RPO: weight of the chosen NLL
  c.train.exclude_eos = True      # the DPO log-ratio sums skip end-of-turn tokens
  c.train.ucb_alpha = 1.0
  c.train.arms_by = "category"    # curriculum arms: "category" (group/difficulty) or "group"
  c.train.warmup_fraction = 0.04  # of each round's steps (the optimisers' warmup_steps is set)
  c.train.rpo_optim = optim_config(name="adamw", lr=2e-5, schedule="cosine", max_grad_norm=1.0)
  c.train.sft_optim = optim_config(name="adamw", lr=2e-5, schedule="cosine", max_grad_norm=1.0)

  # ---------------------------------------------------------------- evaluation
  c.eval = ml_collections.ConfigDict()
  c.eval.samples_per_scenario = 4
  c.eval.temperature = 0.7
  c.eval.min_p = 0.3

  if preset == "smoke":
    c.data.groups = "mastermind,cellular_automata,bandit"
    c.data.train_scenarios, c.data.eval_scenarios = 40, 4
    c.base.bc_per_scenario = 2
    c.base.hidden_size, c.base.intermediate_size, c.base.num_layers = 64, 192, 2
    c.base.num_heads, c.base.num_kv_heads, c.base.head_dim = 2, 1, 32
    c.base.num_steps, c.base.batch_size, c.base.seq_len = 300, 4, 2048
    c.base.optim.warmup_steps = 20
    c.collect.samples_per_scenario, c.collect.scenarios_per_round = 4, 6
    c.collect.max_new_tokens, c.collect.max_context = 40, 2048
    c.collect.max_invalid = 3
    c.train.rounds, c.train.batch_size = 1, 2
    c.eval.samples_per_scenario = 1
  elif preset.startswith("loo-"):
    c.data.holdout = preset[4:]
  elif preset == "paper":
    # Authors' sizes: Llama-3.1-8B-Instruct, verbose games with <Think>, 20 trajectories per
    # scenario, RPO lr 2e-7 cosine with 4% warm-up, 1 epoch; SFT lr 1e-6.
    c.data.terse = False
    c.collect.max_context = 16384
    c.collect.scenarios_per_round = 1024
    c.train.batch_size, c.train.rounds = 32, 1
    c.train.rpo_optim.lr, c.train.sft_optim.lr = 2e-7, 1e-6
    c.eval.samples_per_scenario = 4
    c.mesh = ml_collections.ConfigDict({"data": 1, "fsdp": -1, "tensor": 1})
  if preset == "testbed" or preset.startswith("loo-"):
    # CPU-sized (measured on the 2-core box: this 0.85M-param model trains at ~900 tokens/s at
    # 1024 tokens per row, ~370 at 2048): the four groups whose terse games fit 1024 bytes
    # (mean chat: wordle 489, mastermind 743, CA 318, minesweeper 349-620; battleship and bandit
    # run 1170-1490), 200 train scenarios per group, a 300-step BC base, rounds of 24 scenarios
    # x 8 trajectories. The RPO lr is set a priori for a model this small (no tuning on eval).
    c.data.groups = "wordle,mastermind,cellular_automata,minesweeper"
    c.data.train_scenarios, c.data.eval_scenarios = 200, 16
    c.base.seq_len, c.base.batch_size, c.base.num_steps = 1024, 8, 300
    c.base.optim.warmup_steps = 30
    # 40 new tokens: the longest terse reply, "<Answer>reveal 10 10</Answer>" + EOS, is 30.
    c.collect.max_new_tokens, c.collect.max_context = 40, 1024
    c.collect.samples_per_scenario, c.collect.scenarios_per_round = 8, 24
    c.train.rounds = 2
    c.train.rpo_optim.lr = c.train.sft_optim.lr = 1e-4
    c.eval.samples_per_scenario = 2
  return c
