"""Tokenizers with one small interface: encode / decode / apply_chat_template and special ids.

    tok = load_tokenizer("/path/to/hf_model_dir")   # AutoTokenizer + the checkpoint's chat template
    tok = ByteTokenizer()                           # 256 bytes + BOS/EOS/PAD, for tiny models

    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                  tokenize=True)
    text = tok.decode(ids)

Chat templates are rendered to a string first and then encoded without adding special tokens (the
template writes them itself), the same way for both kinds of tokenizer.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

Message = dict[str, Any]

DEFAULT_BYTE_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


class HFTokenizer:
  """A transformers tokenizer loaded from a local directory (never downloads)."""

  def __init__(self, tokenizer: Any, extra_eos_ids: Sequence[int] = ()):
    self.hf = tokenizer
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    self.eos_token_ids = tuple(dict.fromkeys(ids + [int(i) for i in extra_eos_ids]))

  @property
  def vocab_size(self) -> int:
    return len(self.hf)

  @property
  def bos_token_id(self) -> int | None:
    return self.hf.bos_token_id

  @property
  def eos_token_id(self) -> int | None:
    return self.eos_token_ids[0] if self.eos_token_ids else None

  @property
  def pad_token_id(self) -> int | None:
    if self.hf.pad_token_id is not None:
      return self.hf.pad_token_id
    return self.eos_token_id

  def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
    return list(self.hf.encode(text, add_special_tokens=add_special_tokens))

  def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
    return self.hf.decode(list(ids), skip_special_tokens=skip_special_tokens)

  def apply_chat_template(self, messages: Sequence[Message], add_generation_prompt: bool = True,
                          tokenize: bool = False, **kwargs) -> str | list[int]:
    if not self.hf.chat_template:
      raise ValueError("this tokenizer has no chat_template; add one to tokenizer_config.json "
                       "(or chat_template.jinja) in the model directory.")
    text = self.hf.apply_chat_template(list(messages), tokenize=False,
                                       add_generation_prompt=add_generation_prompt, **kwargs)
    return self.encode(text, add_special_tokens=False) if tokenize else text


def load_tokenizer(path: str | os.PathLike) -> HFTokenizer:
  """AutoTokenizer from a local HF directory; EOS ids also from generation_config.json."""
  from transformers import AutoTokenizer

  path = Path(path)
  if not path.is_dir():
    raise FileNotFoundError(f"{path} is not a directory; pass a local Hugging Face model dir.")
  tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
  extra: list[int] = []
  gen = path / "generation_config.json"
  if gen.exists():
    eos = json.loads(gen.read_text()).get("eos_token_id")
    extra = [eos] if isinstance(eos, int) else list(eos or [])
  return HFTokenizer(tok, extra)


def render_chat_template(template: str, messages: Sequence[Message], **variables) -> str:
  """Renders a HF-style jinja chat template in a sandbox (trim_blocks, lstrip_blocks)."""
  from jinja2.sandbox import ImmutableSandboxedEnvironment

  def raise_exception(message):
    raise ValueError(message)

  env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
  env.globals["raise_exception"] = raise_exception
  return env.from_string(template).render(messages=list(messages), **variables)


class ByteTokenizer:
  """UTF-8 bytes 0..255 plus BOS=256, EOS=257, PAD=258 (vocab_size 259).

  Special tokens are written "<|bos|>", "<|eos|>", "<|pad|>" in text; `encode` recognises them,
  so chat templates can emit them.
  """

  bos_token, eos_token, pad_token = "<|bos|>", "<|eos|>", "<|pad|>"
  bos_token_id, eos_token_id, pad_token_id = 256, 257, 258
  vocab_size = 259

  def __init__(self, chat_template: str = DEFAULT_BYTE_CHAT_TEMPLATE):
    self.chat_template = chat_template
    self._special = {self.bos_token: 256, self.eos_token: 257, self.pad_token: 258}
    self._special_re = re.compile("(" + "|".join(re.escape(s) for s in self._special) + ")")

  @property
  def eos_token_ids(self) -> tuple[int, ...]:
    return (self.eos_token_id,)

  def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
    ids = [self.bos_token_id] if add_special_tokens else []
    for piece in self._special_re.split(text):
      if piece in self._special:
        ids.append(self._special[piece])
      elif piece:
        ids.extend(piece.encode("utf-8"))
    return ids

  def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
    names = {v: k for k, v in self._special.items()}
    out, run = [], bytearray()
    for i in ids:
      i = int(i)
      if i < 256:
        run.append(i)
        continue
      out.append(run.decode("utf-8", errors="replace"))
      run = bytearray()
      if not skip_special_tokens and i in names:
        out.append(names[i])
    out.append(run.decode("utf-8", errors="replace"))
    return "".join(out)

  def apply_chat_template(self, messages: Sequence[Message], add_generation_prompt: bool = True,
                          tokenize: bool = False, **kwargs) -> str | list[int]:
    text = render_chat_template(self.chat_template, messages,
                                add_generation_prompt=add_generation_prompt,
                                bos_token=self.bos_token, eos_token=self.eos_token, **kwargs)
    return self.encode(text, add_special_tokens=False) if tokenize else text
