"""Chats -> token ids with a loss mask on the assistant turns, packed into fixed-length rows.

The assistant spans come from the tokenizer's own chat template: for the assistant message i,

    start = len(render(messages[:i], add_generation_prompt=True))    # up to "<|assistant|>\n"
    end   = len(render(messages[:i + 1], add_generation_prompt=False))

so a span holds exactly what the template writes for that reply (its content and the end-of-turn
token that the model must learn to emit), and the generation prompt a sampler adds is not trained
on. Templates whose renderings are not prefixes of one another (some strip earlier turns' reasoning)
raise `ChatTemplateError`.

The rendered text is encoded span by span without special tokens added (the template writes
them), so mask boundaries fall on token boundaries. For byte-level tokenizers this equals encoding
the whole string; for BPE tokenizers a merge across a span boundary is split, as in most SFT code.

    ids, mask = tokenize_chat(tokenizer, messages)
    rows = pack_examples([(ids, mask), ...], seq_len=256, pad_id=tokenizer.pad_token_id)
    rows.tokens, rows.attention_mask, rows.loss_mask           # [N, seq_len] numpy arrays
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

Message = dict[str, Any]


class ChatTemplateError(ValueError):
  """The chat template cannot delimit assistant turns."""


def _render(tokenizer: Any, messages: Sequence[Message], add_generation_prompt: bool) -> str:
  return tokenizer.apply_chat_template(list(messages), add_generation_prompt=add_generation_prompt,
                                       tokenize=False)


def assistant_spans(tokenizer: Any, messages: Sequence[Message]) -> list[tuple[str, bool]]:
  """The rendered chat as consecutive (text, is_assistant) segments whose concatenation is the
  full rendering (add_generation_prompt=False)."""
  full = _render(tokenizer, messages, add_generation_prompt=False)
  cuts: list[tuple[int, int]] = []
  for i, m in enumerate(messages):
    if m.get("role") != "assistant":
      continue
    prefix = _render(tokenizer, messages[:i], add_generation_prompt=True)
    through = _render(tokenizer, messages[:i + 1], add_generation_prompt=False)
    if not (through.startswith(prefix) and full.startswith(through)):
      raise ChatTemplateError(
          f"the chat template is not prefix-stable at message {i}, so assistant turns cannot be "
          "located; use a template whose rendering of a chat prefix is a prefix of the whole")
    if cuts and len(prefix) < cuts[-1][1]:
      raise ChatTemplateError(f"assistant spans overlap at message {i}")
    cuts.append((len(prefix), len(through)))
  segments: list[tuple[str, bool]] = []
  pos = 0
  for start, end in cuts:
    if start > pos:
      segments.append((full[pos:start], False))
    if end > start:
      segments.append((full[start:end], True))
    pos = end
  if pos < len(full):
    segments.append((full[pos:], False))
  return segments


def tokenize_chat(tokenizer: Any, messages: Sequence[Message]) -> tuple[np.ndarray, np.ndarray]:
  """(ids int32 [L], loss_mask bool [L]): True on the tokens of assistant turns."""
  ids: list[int] = []
  mask: list[bool] = []
  for text, is_assistant in assistant_spans(tokenizer, messages):
    piece = tokenizer.encode(text, add_special_tokens=False)
    ids += piece
    mask += [is_assistant] * len(piece)
  return np.asarray(ids, np.int32), np.asarray(mask, np.bool_)


@dataclasses.dataclass
class PackedRows:
  """Fixed-length rows: `tokens` int32, `attention_mask` and `loss_mask` bool, all [N, T]."""
  tokens: np.ndarray
  attention_mask: np.ndarray
  loss_mask: np.ndarray

  def __len__(self) -> int:
    return self.tokens.shape[0]

  def take(self, index: np.ndarray) -> dict[str, np.ndarray]:
    """A batch dict of the rows at `index` (the layout `jaxllm.train` losses read)."""
    return {"tokens": self.tokens[index], "attention_mask": self.attention_mask[index],
            "loss_mask": self.loss_mask[index]}

  @property
  def num_target_tokens(self) -> int:
    return int(self.loss_mask[:, 1:].sum())


def pack_examples(examples: Sequence[tuple[np.ndarray, np.ndarray]], seq_len: int, pad_id: int,
                  pack: bool = True) -> PackedRows:
  """Greedy in-order packing: whole examples are appended to a row while they fit; an example
  longer than `seq_len` is truncated to it; rows are right-padded with `pad_id`.

  With `pack=False` each example gets its own row. Packed examples attend to the earlier examples
  in their row (each one starts with the template's own BOS/turn markers), as in GPT-style packing.
  Examples with no target tokens are dropped.
  """
  rows: list[list[tuple[np.ndarray, np.ndarray]]] = []
  used = seq_len + 1
  for ids, mask in examples:
    ids, mask = ids[:seq_len], mask[:seq_len]
    if not mask[1:].any():
      continue
    if not pack or used + len(ids) > seq_len:
      rows.append([])
      used = 0
    rows[-1].append((ids, mask))
    used += len(ids)
  n = len(rows)
  tokens = np.full((n, seq_len), pad_id, np.int32)
  attention = np.zeros((n, seq_len), np.bool_)
  loss = np.zeros((n, seq_len), np.bool_)
  for r, row in enumerate(rows):
    pos = 0
    for ids, mask in row:
      tokens[r, pos:pos + len(ids)] = ids
      attention[r, pos:pos + len(ids)] = True
      loss[r, pos:pos + len(ids)] = mask
      pos += len(ids)
  return PackedRows(tokens, attention, loss)
