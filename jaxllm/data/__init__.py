"""Small embedded data for LLM experiments that must run offline.

  corpus  multi-turn chats written for this repository (chats.json): `load_chats()`,
          `split_chats()`; `build_chats()` regenerates the file deterministically
  chat    chat -> (token ids, loss mask on the assistant spans of the chat template), and packing
          into fixed-length rows for training: `tokenize_chat()`, `pack_examples()`
"""
