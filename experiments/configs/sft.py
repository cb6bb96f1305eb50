"""Supervised fine-tuning of a decoder-only LLM on multi-turn chats (loss on assistant turns only).

smoke: a tiny Llama-style model trained from scratch with the byte-level tokenizer on the embedded
corpus (jaxllm/data/chats.json); a few minutes on a 2-core CPU. It logs a falling loss, reports
final train/eval loss and perplexity, and greedy-samples `eval.prompts` at the end.

finetune: a local Hugging Face checkpoint (Llama/Mistral/Qwen2/Qwen3 safetensors; its tokenizer
and chat template from the same directory), full fine-tuning or LoRA (`lora.rank` > 0), exported
in HF format to `export_dir` (default: MODEL_DIR/export).

  python -m experiments.main --config experiments/configs/sft.py:smoke --workdir /tmp/sft
  python -m experiments.main --config experiments/configs/sft.py:finetune --workdir /tmp/sft-ft \
      --config.model_path=/path/to/Qwen2.5-0.5B-Instruct [--config.lora.rank=16]

Other chats: `--config.data.corpus=FILE.json` (a JSON list of chats, each a list of
{"role", "content"} messages). Mesh: `--config.mesh.fsdp=-1 --config.mesh.data=1` shards the
parameters (FSDP) by `sharding.rules`; `mesh.tensor` adds tensor parallelism. Rules from the
command line: `--config.sharding.rules="(('embed', 'fsdp'), ('layers/.*/down_proj', ('tensor',)))"`.
"""
import ml_collections

from experiments.runtime.optim import optim_config

PRESETS = ("smoke", "finetune")
# FSDP over the embedding dimension, Megatron-style tensor parallelism over vocab, MLP and heads.
SHARDING_RULES = (("vocab", "tensor"), ("embed", "fsdp"), ("mlp", "tensor"), ("heads", "tensor"),
                  ("kv_heads", "tensor"))


def get_config(preset: str = "smoke") -> ml_collections.ConfigDict:
  if preset not in PRESETS:
    raise ValueError(f"unknown preset '{preset}'; valid: {', '.join(PRESETS)}")
  c = ml_collections.ConfigDict()
  c.trainer = "sft"
  c.seed = 0
  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "tensor": 1})
  c.init = "scratch"         # "scratch": random model + byte tokenizer; "pretrained": model_path
  c.model_path = ""          # pretrained: a local HF model directory (weights, tokenizer, template)
  c.export_dir = ""          # finetune: default MODEL_DIR/export; smoke: no export unless set

  # The from-scratch model (init="scratch"); a pretrained model's config.json defines its own.
  c.model = ml_collections.ConfigDict()
  c.model.hidden_size = 128
  c.model.intermediate_size = 384
  c.model.num_layers = 4
  c.model.num_heads = 4
  c.model.num_kv_heads = 2
  c.model.head_dim = 32
  c.model.dtype = "float32"         # compute dtype (bfloat16 on accelerators)
  c.model.param_dtype = "float32"   # storage dtype of the parameters

  c.data = ml_collections.ConfigDict()
  c.data.corpus = ""                # "": the embedded chats; else a JSON file of chats
  c.data.seq_len = 256
  c.data.batch_size = 8             # rows per step (split over mesh axes data x fsdp)
  c.data.pack = True                # several chats per row
  c.data.eval_fraction = 0.05       # held-out chats (the last ones in the file)

  c.lora = ml_collections.ConfigDict()
  c.lora.rank = 0                   # 0: full fine-tuning
  c.lora.alpha = 16.0
  c.lora.lr = 2e-4                  # replaces optim.lr when rank > 0
  c.lora.targets = "q,k,v,o,gate,up,down"  # projections that get adapters

  # Parameter placement (jaxllm.sharding), big_vision style: (pattern, mesh axes) pairs. A bare
  # name is a logical axis of the model's parameters ('vocab', 'embed', 'mlp', 'heads', 'kv_heads',
  # 'head_dim', 'norm'; unnamed ones replicate) -> its dimension's mesh axes. Anything else is a
  # regex over parameter paths ('layers/3/attn/q_proj') -> one entry per dimension, and wins over
  # the logical names, e.g. (r"layers/\d+/mlp/down_proj", ("tensor", "fsdp")). Sizes that do not
  # divide replicate. Optimiser moments follow their parameters; LoRA adapters their kernels.
  c.sharding = ml_collections.ConfigDict()
  c.sharding.rules = SHARDING_RULES

  # Warm-up, then cosine to 0.1 * lr; AdamW with weight decay on matrices only (ndim >= 2).
  c.optim = optim_config(lr=3e-3, warmup_steps=20, end_lr_fraction=0.1, weight_decay=0.01,
                         decay_mask="matrices", b2=0.95, max_grad_norm=1.0)

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 300
  c.train.steps_per_call = 10
  c.train.log_every = 20
  c.train.checkpoint_every = 100
  c.train.keep_checkpoints = 2

  c.eval = ml_collections.ConfigDict()
  c.eval.every = 100                # held-out loss every N steps (0: only at the end)
  c.eval.max_rows = 64              # held-out rows scored (0: all)
  c.eval.prompts = ("What is 7 plus 5?", "Spell the word 'candle' backwards.",
                    "What day comes after Friday?")
  c.eval.max_new_tokens = 48

  if preset == "finetune":
    c.init = "pretrained"
    c.data.seq_len = 512
    c.data.batch_size = 8
    c.optim.lr = 2e-5
    c.optim.warmup_steps = 10
    c.optim.weight_decay = 0.0
    c.train.num_steps = 200
    c.train.log_every = 10
    c.eval.every = 100
    c.eval.max_new_tokens = 64
  return c
