"""AgentDAM studies through the runner: agents x privacy tasks x seeds in browsers, every action
judged, utility and leakage per site.

The pieces are library code: the tasks and their utility checks (`jaxllm.agentdam.tasks`), the
oracles (the tasks' `oracle` / `leaky_oracle` scripts behind `jaxllm.web.agents.OracleAgent`),
the LLM agent (`jaxllm.web.agents.GenericAgent`, with `jaxllm.agentdam.prompts` for the
mitigation), the judges (`jaxllm.agentdam.judges`) and the judged summaries
(`jaxllm.agentdam.study`). This file checks the config (one line per mistake), runs the episodes
on the web study's loop (`experiments.trainers.webagents.run_on_loop`: resumable, SIGTERM-safe),
judges them and writes:

  results.json   utility and leakage (per judge) per agent x site with standard errors, episode
                 counts and errors, judge agreement when two judges ran
  leaks.json     per task: which sensitive items each agent revealed, per judge
  judgments.jsonl  every action with its scores and reasons (resumable)
  privacy.png    utility and leakage bars per agent and site

With `train.enabled`, the oracles' per-action leak labels then train a small local agent
(`experiments.trainers.agentdam_policy`: pairs, a base agent, DPO and SFT arms, leakage before
and after on held-out tasks) under `<workdir>/policy/`; its rows join the table.
"""
from __future__ import annotations

import json
import os

import ml_collections

from experiments.errors import UserError
from experiments.results import write_results
from experiments.runtime import paths
from experiments.trainers.webagents import AGENT_KEYS, run_on_loop
from jaxllm.episodes.records import RecordStore
from jaxllm.web import BrowserNotFoundError, find_chromium
from jaxllm.web.study import BACKENDS, Limits, Study, plan, select_tasks

AGENT_LABELS = ("minimal", "leaky", "llm", "llm-mitigated")


def agent_table(config: ml_collections.ConfigDict) -> dict[str, tuple[str, dict]]:
  """label -> (agent name in jaxllm.web.agents.AGENTS, kwargs)."""
  from jaxllm.agentdam.prompts import mitigated_system_prompt  # pylint: disable=import-outside-toplevel
  labels = [a.strip() for a in config.agents.split(",") if a.strip()]
  if not labels:
    raise UserError("no agents selected; set --config.agents=minimal,leaky")
  table = {}
  for label in labels:
    if label not in AGENT_LABELS:
      raise UserError(f"unknown agent '{label}'; valid: {', '.join(AGENT_LABELS)} "
                      "(--config.agents=minimal,leaky)")
    if label == "minimal":
      table[label] = ("oracle", {})
    elif label == "leaky":
      table[label] = ("oracle", {"method": "leaky_oracle"})
    else:
      if not config.agent.base_url:
        raise UserError(f"agent '{label}' needs an OpenAI-compatible endpoint: pass "
                        "--config.agent.base_url=http://HOST:PORT/v1 (e.g. python -m jaxllm.serve)")
      kwargs = {k: config.agent[k] for k in AGENT_KEYS}
      if label == "llm-mitigated":
        kwargs["system_prompt"] = mitigated_system_prompt()
      table[label] = ("generic", kwargs)
  return table


def parse_hosts(text: str) -> dict[str, str]:
  """'__REDDIT__=http://h:9999,...' -> {'forum': 'http://h:9999', ...}."""
  from jaxllm.agentdam.tasks import PREFIXES  # pylint: disable=import-outside-toplevel
  out = {}
  for item in filter(None, (s.strip() for s in text.split(","))):
    key, sep, url = item.partition("=")
    if not sep or key not in PREFIXES or not url.startswith(("http://", "https://")):
      raise UserError(f"bad hosts entry {item!r}; write PLACEHOLDER=URL with a placeholder among "
                      f"{', '.join(PREFIXES)}, e.g. --config.hosts=__REDDIT__=http://127.0.0.1:9999")
    out[PREFIXES[key]] = url.rstrip("/")
  return out


def choose_tasks(config: ml_collections.ConfigDict) -> tuple[list[str], tuple | None]:
  """Task ids (and the worker init that registers a user's task files)."""
  from jaxllm.agentdam import tasks as dam  # pylint: disable=import-outside-toplevel
  init = None
  if config.task_dir:
    try:
      ids = dam.register_files(config.task_dir)
    except (OSError, ValueError) as e:
      raise UserError(f"task_dir {config.task_dir}: {e}") from None
    init = ("jaxllm.agentdam.tasks:register_files", {"path": config.task_dir})
  else:
    try:
      ids = select_tasks(config.tasks)
    except ValueError as e:
      raise UserError(str(e)) from None
    bad = [t for t in ids if not t.startswith("agentdam.")]
    if bad:
      raise UserError(f"{bad[0]} is not an AgentDAM task; set --config.tasks=agentdam or "
                      "agentdam.<site>.* (shop, forum, tracker)")
  if config.per_intent > 0:
    kept, seen = [], {}
    natural = lambda t: [int(p) if p.isdigit() else p for p in t.split(".")]
    for t in sorted(ids, key=natural):
      key = dam.get_spec(t).get("intent_key") or dam.get_spec(t)["intent_type"]
      if seen.get(key, 0) < config.per_intent:
        seen[key] = seen.get(key, 0) + 1
        kept.append(t)
    ids = kept
  return ids, init


def make_judges(config: ml_collections.ConfigDict) -> dict:
  from jaxllm.agentdam.judges import make_judge  # pylint: disable=import-outside-toplevel
  judges = {"offline": make_judge("offline")}
  if config.judge.base_url:
    judges["llm"] = make_judge("llm", base_url=config.judge.base_url, model=config.judge.model,
                               temperature=config.judge.temperature,
                               api_key_env=config.judge.api_key_env,
                               max_tokens=config.judge.max_tokens,
                               request_timeout_s=config.judge.request_timeout_s)
  return judges


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  from jaxllm.agentdam import study as dam_study  # pylint: disable=import-outside-toplevel
  if config.backend not in BACKENDS:
    raise UserError(f"unknown backend '{config.backend}'; valid: {', '.join(BACKENDS)}")
  if config.num_seeds < 1 or config.num_workers < 1:
    raise UserError(f"num_seeds={config.num_seeds} and num_workers={config.num_workers} must be "
                    ">= 1")
  agents = agent_table(config)
  tasks, init = choose_tasks(config)
  base_urls = parse_hosts(config.hosts)
  judges = make_judges(config)
  try:
    find_chromium()
  except BrowserNotFoundError as e:
    raise UserError(str(e)) from None

  seeds = range(config.seed, config.seed + config.num_seeds)
  specs = plan(agents, tasks, seeds)
  t = config.timeouts
  study = Study(workdir, specs, agents, store=RecordStore(workdir),
                num_workers=config.num_workers, backend=config.backend,
                limits=Limits(t.action_s, t.agent_s, t.episode_s, t.startup_s),
                max_retries=config.max_retries, max_steps=config.max_steps,
                timeout_ms=config.browser_timeout_ms, screenshots=config.screenshots,
                headless=config.headless, ray_address=config.ray_address or None,
                base_urls=base_urls, init=init)
  print(f"agentdam: {len(agents)} agent(s) x {len(tasks)} task(s) x {len(seeds)} seed(s) = "
        f"{len(specs)} episodes on {config.num_workers} {config.backend} worker(s); judges: "
        f"{', '.join(judges)}", flush=True)
  records = run_on_loop(study, specs, workdir)

  if not records:
    raise UserError(f"{workdir} holds no episode of this plan (a finished study with other seeds "
                    "or tasks?); use a fresh --workdir")
  judged = dam_study.judge_study(workdir, records, judges)
  rows = dam_study.privacy_summary(judged)
  leaks = dam_study.leak_table(judged)
  paths.write_text(paths.join(workdir, "leaks.json"), json.dumps(leaks, indent=1, sort_keys=True))
  out = {"episodes": len(judged), "tasks": len(tasks), "seeds": len(seeds), "rows": rows,
         "utility": {a: rows[f"{a} / ALL"]["utility"] for a in agents},
         "leakage": {j: {a: rows[f"{a} / ALL"][f"leakage_{j}"] for a in agents} for j in judges},
         "errors": {r["key"]: f"{r['error_kind']}: {r['error']}" for r in records
                    if r["status"] == "errored"}}
  if len(judges) > 1:
    out["judge_agreement"] = dam_study.agreement_rows(judged, "offline", "llm")
  plot_privacy(os.path.join(workdir, "privacy.png"), rows, list(agents), list(judges))
  table = {name: {k: v for k, v in row.items() if not k.endswith("_se")}
           | {"±": max(v for k, v in row.items() if k.endswith("_se"))} for name, row in rows.items()}
  if config.train.enabled:
    from experiments.trainers.agentdam_policy import train_policy  # pylint: disable=import-outside-toplevel
    out["policy"] = train_policy(config, workdir, judged)
    for arm in ("base",) + tuple(a for a in out["policy"] if a not in ("pairs", "base")):
      r = out["policy"][arm]
      table[f"local agent: {arm}"] = {"episodes": r["samples"], "utility": r["step_utility"],
                                      "leakage_offline": r["leakage"],
                                      "fork_leak": r["fork_leak"],
                                      "±": max(r["leakage_se"], r["step_utility_se"])}
  write_results(workdir, out, table, title=f"agentdam: utility and leakage per agent / site "
                                           f"(± = the largest standard error in the row), "
                                           f"{len(seeds)} seed(s); local agent rows: held-out "
                                           f"typing steps (step utility, sampled leakage, "
                                           f"fork_leak), workdir {workdir}")
  return out


def plot_privacy(path: str, rows: dict, agents: list[str], judges: list[str]) -> None:
  """Grouped bars: utility and leakage (per judge) for each agent, one panel per site."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  sites = sorted({name.split(" / ")[1] for name in rows})
  metrics = ["utility"] + [f"leakage_{j}" for j in judges]
  fig, axes = plt.subplots(1, len(sites), figsize=(3.6 * len(sites), 3.2), squeeze=False)
  width = 0.8 / len(metrics)
  for ax, site in zip(axes[0], sites):
    x = np.arange(len(agents))
    for i, m in enumerate(metrics):
      vals = [rows.get(f"{a} / {site}", {}).get(m, 0.0) for a in agents]
      errs = [rows.get(f"{a} / {site}", {}).get(f"{m}_se", 0.0) for a in agents]
      ax.bar(x + (i - (len(metrics) - 1) / 2) * width, vals, width, yerr=errs, label=m, capsize=2)
    ax.set_xticks(x, agents)
    ax.set_ylim(0, 1.05)
    ax.set_title(site)
  axes[0][0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
