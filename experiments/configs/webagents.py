"""Web-agent studies: (agent x task x seed) browser episodes over a pool of Chromium workers.

  python -m experiments.main --config experiments/configs/webagents.py:smoke --workdir /tmp/web
  python -m experiments.main --config experiments/configs/webagents.py:oracle --workdir /tmp/web-o
  python -m experiments.main --config experiments/configs/webagents.py:miniwob-smoke \
      --workdir /tmp/web-miniwob
  python -m experiments.main --config experiments/configs/webagents.py:llm --workdir /tmp/web-llm \
      --config.agent.base_url=http://127.0.0.1:8000/v1 --config.agent.model=NAME

Presets:
  smoke          the scripted oracle on every sandbox task, 2 seeds, 2 workers (a minute or two
                 on a 2-core CPU); every episode should succeed
  oracle         the oracle on every sandbox task, 5 seeds, 4 workers
  miniwob-smoke  the oracle on the MiniWoB++ tasks that have scripted solutions, 2 seeds
  llm            the GenericAgent (AgentLab style) on every sandbox task, 3 seeds, against any
                 OpenAI-compatible endpoint (`python -m jaxllm.serve ...` or a remote one; the key
                 is read from the environment variable named by agent.api_key_env)

Keys:
  agents     comma-separated agent names (jaxllm.web.agents.AGENTS: oracle, generic)
  tasks      comma-separated task ids, site prefixes ('shop.*') or groups: 'sandbox' (the four
             sandbox sites), 'miniwob' (every MiniWoB++ task), 'miniwob-oracle' (those with a
             scripted solution)
  seed, num_seeds   seeds seed .. seed + num_seeds - 1
  backend    'process' (multiprocessing workers on this host) or 'ray' (Ray actors; ray_address
             '' starts a local Ray, 'auto' or host:port joins a cluster)
  timeouts   per browser action, per agent decision and per episode (seconds); a worker that
             exceeds one is killed with its browser and replaced, and the episode relaunched up to
             max_retries times
  screenshots  a PNG per step next to the step records (workdir/episodes/...)
"""
import ml_collections

PRESETS = ("smoke", "oracle", "miniwob-smoke", "llm")


def get_config(preset: str = "smoke") -> ml_collections.ConfigDict:
  if preset not in PRESETS:
    raise ValueError(f"unknown preset '{preset}'; valid: {', '.join(PRESETS)}")
  c = ml_collections.ConfigDict()
  c.trainer = "webagents"
  c.agents = "oracle"
  c.tasks = "sandbox"
  c.seed = 0
  c.num_seeds = 2
  c.num_workers = 2
  c.backend = "process"
  c.ray_address = ""
  c.max_steps = 15
  c.max_retries = 2
  c.screenshots = False
  c.headless = True
  c.browser_timeout_ms = 5000     # Playwright's limit for one browser operation

  c.timeouts = ml_collections.ConfigDict()
  c.timeouts.action_s = 30.0      # one browser phase (reset, or an action and its observation)
  c.timeouts.agent_s = 180.0      # one agent decision (an LLM call with its retries)
  c.timeouts.episode_s = 600.0
  c.timeouts.startup_s = 90.0     # a new worker: spawn, imports, sandbox sites

  # Settings of the LLM agent ('generic'); the oracle ignores them.
  c.agent = ml_collections.ConfigDict()
  c.agent.base_url = ""
  c.agent.model = "default"
  c.agent.api_key_env = "OPENAI_API_KEY"
  c.agent.temperature = 0.0
  c.agent.max_tokens = 1024
  c.agent.use_thinking = True
  c.agent.max_retries = 3         # extra requests after a reply without a valid action
  c.agent.max_obs_chars = 20000
  c.agent.max_history = 20
  c.agent.request_timeout_s = 120.0

  if preset == "oracle":
    c.num_seeds = 5
    c.num_workers = 4
  elif preset == "miniwob-smoke":
    c.tasks = "miniwob-oracle"
  elif preset == "llm":
    c.agents = "generic"
    c.num_seeds = 3
    c.num_workers = 4
    c.max_steps = 20
  return c
