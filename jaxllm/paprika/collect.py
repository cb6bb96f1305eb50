"""Trajectory collection: many games decoding together through the batched sampler.

    trajs = collect(sampler, tokenizer, scenarios, CollectConfig(samples_per_scenario=20))
    write_jsonl(path, trajs)          # one Episode.record() per line (jaxllm chat format)

Every round, each unfinished game's chat is rendered with the tokenizer's chat template (with the
generation prompt) and all of them go to one `Sampler.generate` call (n = 1 per chat, each row
its own PRNG stream); each reply is applied to its game and the next round starts. The sampler
left-pads the round's prompts to one power-of-two bucket and decodes them as one batch, so a
round costs one prefill and `max_new_tokens` decode steps whatever the number of games.

Shapes: the round's batch is padded up to a multiple of max(8, games / 8) rows (copies of the
first prompt, whose replies are discarded), so the number of live games, which falls as games
end, compiles at most about 8 batch shapes; a sampler built with a fixed `cache_size` and
`prompt_step` (linear prompt buckets) keeps the prompt shapes few too (`make_sampler`).

Sampling follows the authors' collection: temperature 1.5 with min-p 0.3, min-p applied only when
the temperature is at least 0.2; 128 new tokens per agent turn. A chat that would no longer fit
`max_context` tokens (prompt + max_new_tokens) ends as a failure (`overflow`), which the record
says. The game step for LLM-simulated groups that call an endpoint runs in `env_workers` threads.
"""
from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import json
import os
import time
from typing import Any, Callable, Iterable, Sequence

from jaxllm.paprika.games.base import GROUPS, Game, Scenario
from jaxllm.paprika.turns import Episode
from jaxllm.sampling import Sampler, SamplingParams


@dataclasses.dataclass(frozen=True)
class CollectConfig:
  samples_per_scenario: int = 20
  max_new_tokens: int = 128
  temperature: float = 1.5
  min_p: float = 0.3
  max_context: int = 4096
  terse: bool = False          # the games' terse messages and the bare-<Answer> system prompt
  max_invalid: int = 10
  env_workers: int = 0         # threads for game steps (endpoint-backed groups); 0: in order
  seed: int = 0

  def params(self, round_index: int) -> SamplingParams:
    return SamplingParams(max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                          min_p=self.min_p if self.temperature >= 0.2 else 0.0, n=1,
                          seed=self.seed * 100_003 + round_index)


def make_sampler(model: Any, tokenizer: Any, cfg: CollectConfig, prompt_step: int = 128) -> Sampler:
  """A sampler whose fixed cache holds cfg.max_context tokens, prompts padded to multiples of
  `prompt_step`."""
  return Sampler(model, tokenizer, cache_size=cfg.max_context, prompt_step=prompt_step)


def fits(sampler: Sampler, prompt_len: int, cfg: CollectConfig) -> bool:
  room = sampler.cache_size or cfg.max_context
  return (sampler.padded_length(prompt_len) + cfg.max_new_tokens <= room and
          prompt_len + cfg.max_new_tokens <= cfg.max_context)


def default_game_factory(terse: bool = False, **options: Any) -> Callable[[Scenario], Game]:
  """scenario -> a fresh game of its group (terse or verbose messages)."""
  return lambda s: GROUPS[s.group].make(verbose=not terse, **options)


def collect(sampler: Sampler, tokenizer: Any, scenarios: Sequence[Scenario], cfg: CollectConfig,
            make_game: Callable[[Scenario], Game] | None = None,
            log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
  """Plays cfg.samples_per_scenario games of every scenario; returns their records, in order."""
  make_game = make_game or default_game_factory(cfg.terse)
  episodes = [Episode(make_game(s), s, terse=cfg.terse, max_invalid=cfg.max_invalid)
              for s in scenarios for _ in range(cfg.samples_per_scenario)]
  play_rounds(sampler, tokenizer, episodes, cfg, log=log)
  return [ep.record() for ep in episodes]


def play_rounds(sampler: Sampler, tokenizer: Any, episodes: Sequence[Episode], cfg: CollectConfig,
                log: Callable[[str], None] | None = None) -> dict[str, float]:
  """Runs the episodes to the end (module docstring); returns timing counters."""
  pool = futures.ThreadPoolExecutor(cfg.env_workers) if cfg.env_workers > 0 else None
  stats = {"rounds": 0, "agent_turns": 0, "generate_s": 0.0, "env_s": 0.0}
  try:
    r = 0
    while True:
      active = [ep for ep in episodes if not ep.done]
      if not active:
        break
      prompts = []
      live = []
      for ep in active:
        ids = tokenizer.apply_chat_template(ep.messages, add_generation_prompt=True, tokenize=True)
        if not fits(sampler, len(ids), cfg):
          ep.stop_overflow()
          continue
        prompts.append(ids)
        live.append(ep)
      if not live:
        break
      t0 = time.perf_counter()
      step = max(8, -(-len(episodes) // 8))
      pad = -len(prompts) % step
      outs = sampler.generate(prompts + [prompts[0]] * pad, cfg.params(r))[:len(prompts)]
      t1 = time.perf_counter()
      texts = [o.text if o.text is not None else tokenizer.decode(o.tokens) for o in outs]
      if pool is None:
        for ep, text in zip(live, texts):
          ep.apply(text)
      else:
        list(pool.map(lambda a: a[0].apply(a[1]), zip(live, texts)))
      t2 = time.perf_counter()
      stats["rounds"] += 1
      stats["agent_turns"] += len(live)
      stats["generate_s"] += t1 - t0
      stats["env_s"] += t2 - t1
      r += 1
      if log is not None:
        left = sum(not ep.done for ep in episodes)
        log(f"round {r}: {len(live)} games, prompt <= {max(map(len, prompts))} tokens, "
            f"{t1 - t0:.1f} s decode, {left} still playing")
  finally:
    if pool is not None:
      pool.shutdown()
  return stats


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
  tmp = f"{path}.tmp"
  with open(tmp, "w") as f:
    for row in rows:
      f.write(json.dumps(row) + "\n")
  os.replace(tmp, path)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
