"""How well a privacy judge agrees with hand labels, and how well two judges agree.

    python -m jaxllm.agentdam.agreement                                     # offline judge
    python -m jaxllm.agentdam.agreement --base_url http://127.0.0.1:8000/v1 --model judge

    labels = load_labels()                      # data/judge_labels.jsonl unless a path is given
    report = agreement(make_judge("offline"), labels)
    report["accuracy"], report["recall_by_kind"]["paraphrase"], report["disagreements"]
    agreement_between(verdicts_a, verdicts_b)   # Cohen's kappa and raw agreement

The labelled set holds single actions with their SENSITIVE_DATA, a label (1: the action reveals
an item) and a kind: verbatim, partial, number_format, date_format, typo and paraphrase are
leaks; clean, placeholder and near_miss are not. Each judge's own binary call is used
(`Verdict.leak`: score > 0 for the LLM judge, score >= 0.5 for the offline one). Precision,
recall and F1 treat a leak as the positive class; a ratio with an empty denominator is 0.0.
`recall_by_kind` covers kinds that hold leaks, `accuracy_by_kind` every kind (for the clean
kinds it is the share judged clean).

The CLI prints markdown tables: judge x accuracy / precision / recall / F1, then recall by kind
and accuracy on the clean kinds, then the ids each judge gets wrong (and Cohen's kappa between
the judges when both run). The LLM judge samples at temperature 1.0 (the paper's setting), so
its numbers vary from run to run; pass --seed where the endpoint honours it.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

from jaxllm.agentdam.judges import Judge, Verdict, is_leak, make_judge

LABELS_PATH = Path(__file__).parent / "data" / "judge_labels.jsonl"
_FIELDS = ("id", "action", "sensitive_data", "label", "kind")


def load_labels(path: str | Path | None = None) -> list[dict[str, Any]]:
  """The labelled actions, one JSON object a line; raises ValueError naming a bad line."""
  path = Path(path) if path else LABELS_PATH
  rows = []
  for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}:{n}: not JSON: {e}") from None
    missing = [f for f in _FIELDS if f not in row]
    if missing or row["label"] not in (0, 1) or not isinstance(row["sensitive_data"], list):
      raise ValueError(f"{path}:{n}: needs {', '.join(_FIELDS)} with label 0 or 1 and a list "
                       f"of sensitive data (missing: {missing})")
    rows.append(row)
  return rows


def _ratio(a: float, b: float) -> float:
  return a / b if b else 0.0


def _binary(values: Sequence[Verdict | bool | int]) -> list[bool]:
  return [is_leak(v) if isinstance(v, Verdict) else bool(v) for v in values]


def agreement(judge: Judge, labels: list[dict[str, Any]]) -> dict[str, Any]:
  """Accuracy, precision, recall, F1, confusion counts, per-kind numbers and disagreements."""
  verdicts = [judge.judge(row["action"], row["sensitive_data"]) for row in labels]
  preds = [judge.is_leak(v) for v in verdicts]
  gold = [bool(row["label"]) for row in labels]
  tp = sum(p and g for p, g in zip(preds, gold))
  fp = sum(p and not g for p, g in zip(preds, gold))
  fn = sum(g and not p for p, g in zip(preds, gold))
  tn = len(gold) - tp - fp - fn
  precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
  kinds: dict[str, list[tuple[bool, bool]]] = {}
  for row, p, g in zip(labels, preds, gold):
    kinds.setdefault(row["kind"], []).append((p, g))
  return {
    "judge": judge.name,
    "n": len(labels),
    "accuracy": _ratio(tp + tn, len(labels)),
    "precision": precision,
    "recall": recall,
    "f1": _ratio(2 * precision * recall, precision + recall),
    "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    "recall_by_kind": {k: _ratio(sum(p for p, g in pg if g), sum(g for _, g in pg))
                       for k, pg in kinds.items() if any(g for _, g in pg)},
    "accuracy_by_kind": {k: _ratio(sum(p == g for p, g in pg), len(pg)) for k, pg in kinds.items()},
    "count_by_kind": {k: len(pg) for k, pg in kinds.items()},
    "disagreements": [row["id"] for row, p, g in zip(labels, preds, gold) if p != g],
    "verdicts": verdicts,
  }


def agreement_between(judge_a_verdicts: Sequence[Verdict | bool | int],
                      judge_b_verdicts: Sequence[Verdict | bool | int]) -> dict[str, Any]:
  """Raw agreement and Cohen's kappa of two judges' binary calls on the same actions.

  Verdicts are read by their own `leak` call; plain booleans or 0/1 are accepted too. Kappa is
  1.0 when both judges give one constant, identical answer, and 0.0 when chance agreement is
  total but the answers differ.
  """
  a, b = _binary(judge_a_verdicts), _binary(judge_b_verdicts)
  if len(a) != len(b):
    raise ValueError(f"the two judges judged different numbers of actions: {len(a)} vs {len(b)}")
  n = len(a)
  both = sum(x and y for x, y in zip(a, b))
  neither = sum(not x and not y for x, y in zip(a, b))
  observed = _ratio(both + neither, n)
  pa, pb = _ratio(sum(a), n), _ratio(sum(b), n)
  chance = pa * pb + (1 - pa) * (1 - pb)
  kappa = (observed - chance) / (1 - chance) if chance < 1 else (1.0 if observed == 1 else 0.0)
  return {"n": n, "agreement": observed, "kappa": kappa, "both_leak": both,
          "both_clean": neither, "only_a": sum(x and not y for x, y in zip(a, b)),
          "only_b": sum(y and not x for x, y in zip(a, b))}


def format_tables(reports: list[dict[str, Any]]) -> str:
  """Markdown tables for one or more `agreement` reports."""
  lines = ["| judge | n | accuracy | precision | recall | F1 | tp | fp | fn | tn |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for r in reports:
    c = r["confusion"]
    lines.append(f"| {r['judge']} | {r['n']} | {r['accuracy']:.3f} | {r['precision']:.3f} | "
                 f"{r['recall']:.3f} | {r['f1']:.3f} | {c['tp']} | {c['fp']} | {c['fn']} | "
                 f"{c['tn']} |")
  names = " | ".join(r["judge"] for r in reports)
  for title, key, pick in (("recall by kind (leaks)", "recall_by_kind", True),
                           ("accuracy by kind (non-leaks: share judged clean)", "accuracy_by_kind",
                            False)):
    kinds = [k for k in reports[0]["count_by_kind"]
             if (k in reports[0]["recall_by_kind"]) == pick]
    lines += ["", f"{title}:", "", f"| kind | n | {names} |",
              "|---|---|" + "---|" * len(reports)]
    for k in kinds:
      cells = " | ".join(f"{r[key][k]:.3f}" for r in reports)
      lines.append(f"| {k} | {reports[0]['count_by_kind'][k]} | {cells} |")
  lines.append("")
  for r in reports:
    lines.append(f"{r['judge']} disagrees with the labels on: "
                 f"{', '.join(r['disagreements']) or 'none'}")
  return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--base_url", default="", help="OpenAI-compatible URL for the LLM judge")
  parser.add_argument("--model", default="default", help="model id sent to the endpoint")
  parser.add_argument("--api_key_env", default="OPENAI_API_KEY")
  parser.add_argument("--temperature", type=float, default=1.0)
  parser.add_argument("--max_tokens", type=int, default=512)
  parser.add_argument("--seed", type=int, default=None)
  parser.add_argument("--labels", default=None, help="a judge_labels.jsonl file")
  args = parser.parse_args(argv)
  labels = load_labels(args.labels)
  reports = [agreement(make_judge("offline"), labels)]
  if args.base_url:
    judge = make_judge("llm", base_url=args.base_url, model=args.model,
                       api_key_env=args.api_key_env, temperature=args.temperature,
                       max_tokens=args.max_tokens, seed=args.seed)
    try:
      reports.append(agreement(judge, labels))
    except RuntimeError as e:
      raise SystemExit(str(e)) from None
  print(format_tables(reports))
  if len(reports) == 2:
    between = agreement_between(reports[0]["verdicts"], reports[1]["verdicts"])
    print(f"\noffline vs llm: agreement {between['agreement']:.3f}, "
          f"Cohen's kappa {between['kappa']:.3f} on {between['n']} actions")


if __name__ == "__main__":
  main()
