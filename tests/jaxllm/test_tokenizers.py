"""HF tokenizer loading with a chat template (built locally), and the byte-level tokenizer."""

from __future__ import annotations

import json

import pytest
import tokenizers as hf_tokenizers
import transformers

from jaxllm.tokenizers import ByteTokenizer, load_tokenizer

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIALS = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
  directory = tmp_path_factory.mktemp("tok")
  bpe = hf_tokenizers.Tokenizer(hf_tokenizers.models.BPE(unk_token=None))
  bpe.pre_tokenizer = hf_tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
  bpe.decoder = hf_tokenizers.decoders.ByteLevel()
  trainer = hf_tokenizers.trainers.BpeTrainer(
      vocab_size=300, special_tokens=SPECIALS,
      initial_alphabet=hf_tokenizers.pre_tokenizers.ByteLevel.alphabet())
  bpe.train_from_iterator(["hello world, the quick brown fox jumps over the lazy dog"] * 20,
                          trainer)
  fast = transformers.PreTrainedTokenizerFast(
      tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
      chat_template=CHAT_TEMPLATE)
  fast.save_pretrained(directory)
  im_end = fast.convert_tokens_to_ids("<|im_end|>")
  (directory / "generation_config.json").write_text(json.dumps({"eos_token_id": [2, im_end]}))
  return directory


def test_hf_tokenizer_round_trip_and_chat_template(tokenizer_dir):
  tok = load_tokenizer(tokenizer_dir)
  text = "hello world, the lazy fox"
  ids = tok.encode(text, add_special_tokens=False)
  assert tok.decode(ids) == text
  assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (1, 2, 0)
  assert tok.eos_token_ids == (2, 4)
  messages = [{"role": "user", "content": "hello"}]
  rendered = tok.apply_chat_template(messages, add_generation_prompt=True)
  assert rendered == "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
  ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
  assert ids[0] == 3 and ids.count(4) == 1
  assert tok.decode(ids, skip_special_tokens=False) == rendered


def test_missing_directory_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="Hugging Face"):
    load_tokenizer(tmp_path / "nope")


def test_byte_tokenizer():
  tok = ByteTokenizer()
  ids = tok.encode("héllo")
  assert ids[0] == tok.bos_token_id and ids[1:] == list("héllo".encode())
  assert tok.decode(ids) == "héllo"
  assert tok.decode(ids, skip_special_tokens=False) == "<|bos|>héllo"
  assert tok.encode("a<|eos|>b", add_special_tokens=False) == [97, 257, 98]
  messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
  text = tok.apply_chat_template(messages, add_generation_prompt=True)
  assert text == "<|bos|><|system|>\nbe brief<|eos|>\n<|user|>\nhi<|eos|>\n<|assistant|>\n"
  ids = tok.apply_chat_template(messages, tokenize=True)
  assert ids[0] == 256 and ids.count(257) == 2 and max(ids) < tok.vocab_size
  assert tok.decode(ids, skip_special_tokens=False) == text
