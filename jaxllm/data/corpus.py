"""The embedded chat corpus: short multi-turn dialogues written for this repository.

`chats.json` (next to this file) is a JSON list of conversations, each a list of
{"role": "system" | "user" | "assistant", "content": str} messages. The dialogues are composed
from hand-written templates and word lists in this module (arithmetic with follow-ups, spelling,
word facts, days and months, opposites, plurals, small talk), so the file is ours to redistribute
and is regenerated bit-for-bit by

    python -m jaxllm.data.corpus            # rewrites jaxllm/data/chats.json

The answers follow fixed patterns that a tiny byte-level model learns in a few hundred steps,
which makes the corpus a fast, offline check that SFT on assistant turns works end to end.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Callable

Message = dict[str, str]
Chat = list[Message]

CORPUS_PATH = Path(__file__).with_name("chats.json")
NUM_CHATS = 1000

SYSTEM_PROMPTS = ("You are a helpful assistant.", "You are a friendly tutor. Answer briefly.",
                  "Answer every question in one short sentence.")
GREETINGS = (("Hello!", "Hello! How can I help you today?"),
             ("Hi there.", "Hi! What would you like to know?"),
             ("Good morning!", "Good morning! What can I do for you?"),
             ("Hey, are you there?", "Yes, I am here. How can I help?"))
THANKS = (("Thanks!", "You're welcome!"),
          ("Thank you, that helps.", "Glad I could help."),
          ("Great, thanks a lot.", "Any time. Have a nice day!"),
          ("That is all for now.", "All right. Goodbye!"))
WORDS = ("apple", "river", "garden", "pencil", "window", "orange", "castle", "planet", "bread",
         "candle", "forest", "silver", "rabbit", "winter", "ladder", "button", "market", "doctor",
         "island", "kitten", "mirror", "rocket", "summer", "teapot", "violin", "yellow", "zebra",
         "anchor", "basket", "cookie", "dragon", "engine", "flower", "guitar", "hammer", "jacket",
         "lemon", "magnet", "needle", "pillow", "puzzle", "saddle", "tomato", "tunnel", "wallet",
         "cloud", "stone", "horse", "music", "paper", "light", "sugar", "table", "water")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
OPPOSITES = (("hot", "cold"), ("big", "small"), ("fast", "slow"), ("up", "down"), ("light", "dark"),
             ("open", "closed"), ("early", "late"), ("happy", "sad"), ("full", "empty"),
             ("young", "old"), ("loud", "quiet"), ("hard", "soft"), ("wet", "dry"),
             ("near", "far"), ("strong", "weak"), ("high", "low"), ("new", "old"),
             ("left", "right"), ("thick", "thin"), ("rich", "poor"))
PLURALS = (("box", "boxes"), ("child", "children"), ("mouse", "mice"), ("city", "cities"),
           ("leaf", "leaves"), ("foot", "feet"), ("tooth", "teeth"), ("bus", "buses"),
           ("knife", "knives"), ("person", "people"), ("sheep", "sheep"), ("goose", "geese"),
           ("baby", "babies"), ("wolf", "wolves"), ("dish", "dishes"), ("cat", "cats"),
           ("book", "books"), ("woman", "women"), ("fox", "foxes"), ("story", "stories"))
SOUNDS = (("cow", "moo"), ("dog", "woof"), ("cat", "meow"), ("duck", "quack"), ("sheep", "baa"),
          ("owl", "hoot"), ("frog", "ribbit"), ("lion", "roar"), ("bee", "buzz"),
          ("snake", "hiss"), ("horse", "neigh"), ("mouse", "squeak"))
COLORS = (("the sky on a clear day", "blue"), ("fresh grass", "green"), ("snow", "white"),
          ("a ripe banana", "yellow"), ("coal", "black"), ("a ripe tomato", "red"),
          ("an orange", "orange"), ("a lemon", "yellow"), ("milk", "white"),
          ("a crow", "black"), ("a pumpkin", "orange"), ("a lime", "green"))
CATEGORIES = {"fruits": ("apple", "pear", "plum", "cherry", "grape", "peach", "mango", "lemon"),
              "colors": ("red", "blue", "green", "yellow", "purple", "orange", "white", "black"),
              "animals": ("dog", "cat", "horse", "rabbit", "fox", "owl", "bear", "deer"),
              "tools": ("hammer", "saw", "drill", "wrench", "ladder", "shovel", "pliers", "rake"),
              "vegetables": ("carrot", "onion", "potato", "pea", "bean", "leek", "cabbage", "beet")}


def _and_list(items: list[str]) -> str:
  return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


def _arithmetic(r: random.Random) -> list[Message]:
  a, b = r.randint(0, 20), r.randint(0, 20)
  op = r.choice(("plus", "times", "minus"))
  if op == "minus" and b > a:
    a, b = b, a
  value = {"plus": a + b, "times": a * b, "minus": a - b}[op]
  ask = r.choice(("What is {a} {op} {b}?", "Can you compute {a} {op} {b}?", "{a} {op} {b} = ?"))
  turns = [{"role": "user", "content": ask.format(a=a, op=op, b=b)},
           {"role": "assistant", "content": f"{a} {op} {b} is {value}."}]
  if r.random() < 0.6:
    c = r.randint(1, 9)
    follow = r.choice(("plus", "minus")) if value >= c else "plus"
    new = value + c if follow == "plus" else value - c
    verb = "add" if follow == "plus" else "take away"
    turns += [{"role": "user", "content": f"And if you {verb} {c}?"},
              {"role": "assistant", "content": f"{value} {follow} {c} is {new}."}]
  return turns


def _spelling(r: random.Random) -> list[Message]:
  w = r.choice(WORDS)
  kind = r.randrange(4)
  if kind == 0:
    return [{"role": "user", "content": f"Spell the word '{w}' backwards."},
            {"role": "assistant", "content": f"Backwards, '{w}' is '{w[::-1]}'."}]
  if kind == 1:
    return [{"role": "user", "content": f"How many letters are in the word '{w}'?"},
            {"role": "assistant", "content": f"The word '{w}' has {NUMBER_WORDS[len(w)]} letters."}]
  if kind == 2:
    return [{"role": "user", "content": f"Write '{w}' in capital letters."},
            {"role": "assistant", "content": w.upper()}]
  return [{"role": "user", "content": f"What is the first letter of '{w}'?"},
          {"role": "assistant", "content": f"The first letter of '{w}' is '{w[0]}'."}]


def _calendar(r: random.Random) -> list[Message]:
  if r.random() < 0.5:
    i = r.randrange(7)
    turns = [{"role": "user", "content": f"What day comes after {DAYS[i]}?"},
             {"role": "assistant", "content": f"{DAYS[(i + 1) % 7]} comes after {DAYS[i]}."}]
    if r.random() < 0.5:
      turns += [{"role": "user", "content": "And the day before it?"},
                {"role": "assistant", "content": f"{DAYS[(i - 1) % 7]} comes before {DAYS[i]}."}]
    return turns
  i = r.randrange(12)
  return [{"role": "user", "content": f"Which month follows {MONTHS[i]}?"},
          {"role": "assistant", "content": f"{MONTHS[(i + 1) % 12]} follows {MONTHS[i]}."}]


def _words(r: random.Random) -> list[Message]:
  kind = r.randrange(4)
  if kind == 0:
    a, b = r.choice(OPPOSITES)
    if r.random() < 0.5:
      a, b = b, a
    return [{"role": "user", "content": f"What is the opposite of '{a}'?"},
            {"role": "assistant", "content": f"The opposite of '{a}' is '{b}'."}]
  if kind == 1:
    s, p = r.choice(PLURALS)
    return [{"role": "user", "content": f"What is the plural of '{s}'?"},
            {"role": "assistant", "content": f"The plural of '{s}' is '{p}'."}]
  if kind == 2:
    animal, sound = r.choice(SOUNDS)
    return [{"role": "user", "content": f"What sound does a {animal} make?"},
            {"role": "assistant", "content": f"A {animal} says '{sound}'."}]
  thing, color = r.choice(COLORS)
  return [{"role": "user", "content": f"What color is {thing}?"},
          {"role": "assistant", "content": f"{thing[0].upper() + thing[1:]} is {color}."}]


def _lists(r: random.Random) -> list[Message]:
  name = r.choice(sorted(CATEGORIES))
  n = r.randint(2, 4)
  items = r.sample(CATEGORIES[name], n)
  answer = f"Here are {NUMBER_WORDS[n]} {name}: {_and_list(items)}."
  turns = [{"role": "user", "content": f"Name {NUMBER_WORDS[n]} {name}."},
           {"role": "assistant", "content": answer}]
  if r.random() < 0.5:
    rest = [x for x in CATEGORIES[name] if x not in items]
    extra = r.choice(rest)
    turns += [{"role": "user", "content": "One more, please."},
              {"role": "assistant", "content": f"Another one is {extra}."}]
  return turns


def _counting(r: random.Random) -> list[Message]:
  start, n = r.randint(1, 15), r.randint(3, 6)
  seq = [str(start + i) for i in range(n)]
  if r.random() < 0.5:
    return [{"role": "user", "content": f"Count from {seq[0]} to {seq[-1]}."},
            {"role": "assistant", "content": ", ".join(seq) + "."}]
  return [{"role": "user", "content": f"Count down from {seq[-1]} to {seq[0]}."},
          {"role": "assistant", "content": ", ".join(reversed(seq)) + "."}]


TOPICS: tuple[Callable[[random.Random], list[Message]], ...] = (
    _arithmetic, _spelling, _calendar, _words, _lists, _counting)


def _chat(r: random.Random) -> Chat:
  chat: Chat = []
  if r.random() < 0.3:
    chat.append({"role": "system", "content": r.choice(SYSTEM_PROMPTS)})
  if r.random() < 0.4:
    q, a = r.choice(GREETINGS)
    chat += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
  for _ in range(r.randint(1, 3)):
    chat += r.choice(TOPICS)(r)
  if r.random() < 0.4:
    q, a = r.choice(THANKS)
    chat += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
  return chat


def build_chats(num_chats: int = NUM_CHATS, seed: int = 0) -> list[Chat]:
  """The corpus, deterministically from `seed` (what chats.json holds for the defaults)."""
  r = random.Random(seed)
  return [_chat(r) for _ in range(num_chats)]


def load_chats(path: str | Path | None = None) -> list[Chat]:
  """The embedded corpus (or another JSON list of chats at `path`)."""
  p = Path(path) if path else CORPUS_PATH
  chats = json.loads(p.read_text(encoding="utf-8"))
  if not isinstance(chats, list) or not all(isinstance(c, list) and c for c in chats):
    raise ValueError(f"{p}: expected a JSON list of non-empty message lists")
  return chats


def split_chats(chats: list[Chat], eval_fraction: float) -> tuple[list[Chat], list[Chat]]:
  """(train, eval): the last `eval_fraction` of the chats (at least one) are held out."""
  n_eval = max(1, int(round(len(chats) * eval_fraction)))
  if n_eval >= len(chats):
    raise ValueError(f"eval_fraction={eval_fraction} leaves no training chats")
  return chats[:-n_eval], chats[-n_eval:]


if __name__ == "__main__":
  lines = [json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in build_chats()]
  CORPUS_PATH.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
  print(f"wrote {CORPUS_PATH} ({CORPUS_PATH.stat().st_size / 1024:.0f} KiB)")
