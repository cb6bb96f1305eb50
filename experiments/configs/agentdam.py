"""AgentDAM: do web agents reveal data the task does not need? (../shared/PAPERS.md §3)

  python -m experiments.main --config experiments/configs/agentdam.py:smoke --workdir /tmp/dam
  python -m experiments.main --config experiments/configs/agentdam.py:oracle --workdir /tmp/dam-o
  python -m experiments.main --config experiments/configs/agentdam.py:llm --workdir /tmp/dam-llm \
      --config.agent.base_url=http://127.0.0.1:8000/v1 --config.agent.model=NAME
  python -m experiments.main --config experiments/configs/agentdam.py:llm-mitigated ...

Presets:
  smoke          the minimal and the leaky oracle on 2 tasks of each of the 8 intent types (16
                 tasks, 32 episodes, about a minute on 2 cores): utility 1 for both, leakage 0 for
                 the minimal oracle and 1 for the leaky one
  oracle         both oracles on all 246 tasks (shop 84, forum 114, tracker 48)
  train          the oracle study, then a small local agent trained on its leak labels (a 0.85M
                 from-scratch base, DPO and SFT arms; the CPU experiment of docs/agentdam.md)
  llm            the LLM web agent (jaxllm.web.agents.GenericAgent) on all tasks through any
                 OpenAI-compatible endpoint (`python -m jaxllm.serve` with a local checkpoint,
                 or a remote server; the key is read from agent.api_key_env)
  llm-mitigated  the same agent with the privacy section in its system prompt
                 (jaxllm.agentdam.prompts)

Keys:
  agents        comma-separated labels: minimal (the oracle typing only what the task needs),
                leaky (the oracle that also pastes the context), llm, llm-mitigated
  tasks         'agentdam' (all), a site prefix ('agentdam.forum.*') or ids; per_intent > 0 keeps
                the first per_intent tasks of each intent type
  task_dir      a directory of the authors' task JSON files to run instead (their ids become
                agentdam.user.<id>); hosts maps their WebArena placeholders to base URLs, e.g.
                '__REDDIT__=http://127.0.0.1:9999' (default: our sandbox sites)
  judge         every action is judged by the offline matcher; judge.base_url adds the LLM judge
                (temperature 1.0, the authors' prompt structure) on any endpoint
  train         train.enabled turns the oracles' leak labels into DPO pairs and trains a small
                local agent on them (base, mesh, train, eval sections; model_path for a local HF
                checkpoint): leakage before and after on held-out plots. The smoke preset runs a
                tiny version (its numbers show the pipeline, not the effect); `train` is the CPU
                experiment of docs/agentdam.md
  num_seeds, num_workers, backend, timeouts: as in experiments/configs/webagents.py
"""
import ml_collections

from experiments.configs.sft import SHARDING_RULES
from experiments.runtime.optim import optim_config

PRESETS = ("smoke", "oracle", "train", "llm", "llm-mitigated")


def get_config(preset: str = "smoke") -> ml_collections.ConfigDict:
  if preset not in PRESETS:
    raise ValueError(f"unknown preset '{preset}'; valid: {', '.join(PRESETS)}")
  c = ml_collections.ConfigDict()
  c.trainer = "agentdam"
  c.agents = "minimal,leaky"
  c.tasks = "agentdam"
  c.per_intent = 0
  c.task_dir = ""
  c.hosts = ""
  c.seed = 0
  c.num_seeds = 1
  c.num_workers = 2
  c.backend = "process"
  c.ray_address = ""
  c.max_steps = 10                # the authors' agent budget
  c.max_retries = 2
  c.screenshots = False
  c.headless = True
  c.browser_timeout_ms = 5000

  c.timeouts = ml_collections.ConfigDict()
  c.timeouts.action_s = 30.0
  c.timeouts.agent_s = 180.0
  c.timeouts.episode_s = 600.0
  c.timeouts.startup_s = 90.0

  c.agent = ml_collections.ConfigDict()   # the LLM agent (llm, llm-mitigated)
  c.agent.base_url = ""
  c.agent.model = "default"
  c.agent.api_key_env = "OPENAI_API_KEY"
  c.agent.temperature = 0.0               # the authors' setting
  c.agent.max_tokens = 1024
  c.agent.use_thinking = True
  c.agent.max_retries = 3
  c.agent.max_obs_chars = 15360           # ~3840 tokens, the authors' observation budget
  c.agent.max_history = 10
  c.agent.request_timeout_s = 120.0

  c.judge = ml_collections.ConfigDict()   # the LLM privacy judge (optional)
  c.judge.base_url = ""
  c.judge.model = "default"
  c.judge.api_key_env = "OPENAI_API_KEY"
  c.judge.temperature = 1.0
  c.judge.max_tokens = 512
  c.judge.request_timeout_s = 120.0

  # ---------------------------------------------------------------- training signal (local agent)
  # The oracles' per-action leak labels as DPO pairs for a small local agent trained here from
  # scratch (or model_path); experiments/trainers/agentdam_policy.py.
  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "tensor": 1})
  c.sharding = ml_collections.ConfigDict()
  c.sharding.rules = SHARDING_RULES
  c.model_path = ""
  c.data = ml_collections.ConfigDict()
  c.data.seed = 0                 # the base model's data order
  c.base = ml_collections.ConfigDict()
  c.base.dir = ""                 # "": <workdir>/policy/base
  c.base.hidden_size = 128
  c.base.intermediate_size = 384
  c.base.num_layers = 4
  c.base.num_heads = 4
  c.base.num_kv_heads = 2
  c.base.head_dim = 32
  c.base.seq_len = 2048
  c.base.batch_size = 8
  c.base.pack = True
  c.base.optim = optim_config(lr=2e-3, warmup_steps=30, end_lr_fraction=0.1, weight_decay=0.01,
                              max_grad_norm=1.0)
  c.base.num_steps = 400
  c.base.steps_per_call = 10
  c.train = ml_collections.ConfigDict()
  c.train.enabled = False
  c.train.seed = 0                # the arms' data order and the evaluation's sampling (the
                                  # study's episode seeds are `seed`; the base's data.seed)
  c.train.arms = "dpo,rpo,sft"
  c.train.holdout_every = 4       # every 4th plot (sorted) is held out for evaluation
  c.train.batch_size = 8
  c.train.epochs = 2
  c.train.steps_per_call = 1
  c.train.log_every = 5
  c.train.keep_checkpoints = 1
  c.train.beta = 0.1
  c.train.rpo_alpha = 1.0         # the rpo arm's chosen-NLL weight (the dpo arm uses 0)
  c.train.exclude_eos = True
  c.train.warmup_fraction = 0.1
  c.train.rpo_optim = optim_config(name="adamw", lr=2e-4, schedule="cosine", max_grad_norm=1.0)
  c.train.sft_optim = optim_config(name="adamw", lr=2e-4, schedule="cosine", max_grad_norm=1.0)
  c.eval = ml_collections.ConfigDict()
  c.eval.samples = 4              # sampled actions per held-out prompt
  c.eval.temperature = 1.0
  c.eval.max_new_tokens = 768
  c.eval.max_context = 2048

  if preset == "smoke":
    c.per_intent = 2
    c.train.enabled = True
    c.train.holdout_every = 3
    c.base.hidden_size, c.base.intermediate_size, c.base.num_layers = 64, 192, 2
    c.base.num_heads, c.base.num_kv_heads, c.base.head_dim = 2, 1, 32
    c.base.num_steps, c.base.batch_size = 40, 2
    c.base.optim.warmup_steps = 5
    c.train.batch_size, c.train.epochs = 2, 1
    c.eval.samples, c.eval.max_new_tokens = 1, 256
  elif preset == "train":
    # CPU-sized (2 cores, measured: ~0.6 base steps/s, ~0.35 DPO steps/s, ~70 s per eval): a
    # 0.13M-param byte-level base, 1664-byte rows (every rejected chat fits), 1200 SFT steps;
    # DPO / RPO / SFT arms one epoch over the training pairs in batches of 4.
    c.train.enabled = True
    c.base.hidden_size, c.base.intermediate_size, c.base.num_layers = 64, 192, 2
    c.base.num_heads, c.base.num_kv_heads, c.base.head_dim = 2, 1, 32
    c.base.num_steps, c.base.batch_size, c.base.seq_len = 1200, 4, 1664
    c.base.optim.warmup_steps = 50
    c.train.batch_size, c.train.epochs = 4, 1
    c.eval.samples, c.eval.max_new_tokens, c.eval.max_context = 2, 640, 2304
  elif preset in ("llm", "llm-mitigated"):
    c.agents = preset
    c.num_workers = 4
  return c
