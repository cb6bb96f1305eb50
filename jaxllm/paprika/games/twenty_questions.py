"""Twenty questions: find the secret thing with yes/no questions in 20 turns.

    spec = GROUPS["twenty_questions"]
    game = spec.make()                        # simulator; make(endpoint=ChatClient(...)) for an LLM
    game.reset(spec.scenarios("train", n=6, seed=0)[0])
    game.step("is it an animal?").text        # "Yes."
    game.step("is it a dog?").text            # "Yes! It is a dog. Goal reached!" (or "No, ...")

The things (145: animals, plants, foods, vehicles, tools, musical instruments, furniture,
clothing, electronics, sports equipment, kitchen items) and their attributes are in
data/twenty_questions.json. Each has a category, a typical size in metres, typical colours and a
set of true boolean attributes; `IMPLIED` adds those that follow from its category or kind.

Question grammar understood by the simulator (after `simulated.normalize`; leading fillers such as
"ok", "question:" are dropped):
- "<aux> <predicate>", aux one of "is it", "does it", "can it", "can you", "do people", "is it
  something you can", ... (`AUX`); articles, "it", "kind of"/"type of" and adverbs ("usually")
  are dropped from the predicate, which is looked up in `PHRASES`: categories ("is it an
  animal?", "is it a piece of furniture?"), kinds ("a mammal", "a fruit"), attributes ("alive",
  "edible", "man-made", "natural", "electric", "have wheels", "fly", "lay eggs", "made of metal",
  "used in sports", "found in the kitchen", "worn on the feet", ...), colours ("is it red?",
  "is it red in colour?"; things that come in many colours answer "It comes in many colors."),
  size words ("big" >= 1.5 m, "huge" >= 5 m, "small" < 0.3 m, "tiny" < 0.05 m, "fit in a pocket"
  <= 0.16 m, "hold it in your hand" <= 0.4 m, "carry it" <= 1.2 m and not heavy) and size
  comparisons with a reference or any thing of the table ("is it bigger/smaller/taller/heavier
  than a <ref>?", "is it the size of a <ref>?"): "Yes"/"No", or "About the same size." within a
  factor 1.25 (heavier/lighter are read as bigger/smaller).
- Guesses: "is it a <name>?", "it is <name>", "my guess is <name>", or the bare name (aliases and
  plurals accepted). The secret wins; another thing of the table answers "No, it is not <name>."
  "is it a/an <unknown words>" is read as a wrong guess ("No, ..."): the table holds the secret.
- Anything else: "I can't answer that; ask about: <attributes>" (terse: up to three short
  attribute names picked by a hash of the question, so the same question always gets the same reply); open questions
  (what/which/how ...) get "Please ask a yes/no question."; two questions at once get "Please
  ask one question at a time."
Every reply is a pure function of (secret, question), so the simulator is consistent.

Difficulty: confusability. A thing's profile is its attributes + category + size band (0.05/0.3/
1.5/5 m cuts); its score is how many other things differ from it in at most 4 profile entries
(look-alikes need targeted questions; ties: look-alikes within 2, then a hash). Things are ranked
by score and cut into thirds (48-49 each): "easy" (fewest look-alikes: snake, smartphone,
piano), "medium" (cow, airplane, car), "hard" (apple, fork, sandwich: foods and kitchen items that
share most attributes). Split by secret, 75/25: train 37/36/36, eval 12/12/12.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from jaxllm.paprika.games.base import GroupSpec, Scenario, register
from jaxllm.paprika.games.simulated import (
  ARTICLES,
  MAX_TURNS,
  SimulatedGame,
  draw,
  drop_words,
  normalize,
  reply_rules,
  several_questions,
  split_pool,
  stable_hash,
  strip_fillers,
  strip_prefix,
)

GROUP = "twenty_questions"
DIFFICULTIES = ("easy", "medium", "hard")
DATA = Path(__file__).parent / "data" / "twenty_questions.json"

CATEGORIES = {
    "animal": ("animal", "creature", "living creature", "beast"),
    "plant": ("plant",),
    "food": ("food", "food item", "something to eat", "snack", "foodstuff"),
    "vehicle": ("vehicle", "means of transport", "means of transportation", "mode of transport",
                "mode of transportation", "form of transport", "form of transportation"),
    "tool": ("tool", "hand tool", "power tool"),
    "instrument": ("musical instrument", "instrument", "music instrument"),
    "furniture": ("furniture", "piece of furniture", "item of furniture", "furnishing"),
    "clothing": ("clothing", "piece of clothing", "item of clothing", "article of clothing",
                 "garment", "clothes", "apparel", "clothing item"),
    "electronics": ("electronic device", "electronics", "device", "gadget", "electronic gadget",
                    "piece of electronics"),
    "sports": ("sports equipment", "piece of sports equipment", "sporting good", "sporting goods",
               "sports item", "sports gear", "equipment"),
    "kitchen": ("kitchen item", "kitchen utensil", "kitchenware", "utensil", "kitchen tool",
                "cooking utensil"),
}
CATEGORY_LABELS = {"animal": "animal", "plant": "plant", "food": "food", "vehicle": "vehicle",
                   "tool": "tool", "instrument": "musical instrument", "furniture": "furniture",
                   "clothing": "clothing", "electronics": "electronic device",
                   "sports": "sports equipment", "kitchen": "kitchen item"}

# token -> phrases (predicates after AUX, articles and "it" are dropped). Tokens marked in
# DERIVED are computed from the others.
PHRASES: dict[str, tuple[str, ...]] = {
    "mammal": ("mammal",), "bird": ("bird",), "fish": ("fish",), "reptile": ("reptile",),
    "amphibian": ("amphibian",), "insect": ("insect", "bug"), "fruit": ("fruit",),
    "vegetable": ("vegetable", "veggie", "veg"), "tree": ("tree",), "flower": ("flower",),
    "alive": ("alive", "living", "living thing", "live", "organism", "life form", "animate"),
    "edible": ("edible", "eat", "eaten", "be eaten", "eat raw", "something you eat"),
    "manmade": ("man made", "manmade", "artificial", "made by humans", "made by people",
                "made by man", "human made", "manufactured", "built by people", "made in factory"),
    "natural": ("natural", "found in nature", "occur in nature", "naturally occurring"),
    "electric": ("electric", "electrical", "electronic", "use electricity", "need electricity",
                 "run on electricity", "require electricity", "powered by electricity",
                 "need power", "use power", "use batteries", "need batteries", "run on batteries",
                 "have battery", "have batteries", "plug in", "need to be plugged in",
                 "have to be plugged in", "have plug", "have cord", "battery powered", "powered",
                 "electrically powered", "turn on", "switch on"),
    "engine": ("have engine", "have motor", "engine", "motor", "motorized", "motorised",
               "run on fuel", "run on gas", "run on gasoline", "run on petrol", "use fuel",
               "use gas", "use petrol", "need fuel"),
    "wheels": ("have wheels", "have wheel", "wheels", "wheeled", "roll", "on wheels",
               "have tires", "have tyres"),
    "legs": ("have legs", "legs", "have leg", "legged"),
    "walk": ("walk", "walk around"),
    "fourlegs": ("have four legs", "have 4 legs", "four legs", "4 legs", "four legged",
                 "walk on four legs", "walk on all fours", "quadruped"),
    "twolegs": ("have two legs", "have 2 legs", "two legs", "walk on two legs", "two legged",
                "bipedal", "biped"),
    "sixlegs": ("have six legs", "have 6 legs", "six legs"),
    "eightlegs": ("have eight legs", "have 8 legs", "eight legs"),
    "wings": ("have wings", "wings", "have wing", "winged"),
    "fly": ("fly", "fly in air", "fly in sky", "airborne", "go in air", "travel through air",
            "travel by air", "flying", "fly through air"),
    "swim": ("swim", "swimming"),
    "water": ("live in water", "found in water", "aquatic", "live in ocean", "live in sea",
              "found in ocean", "found in sea", "marine", "go on water", "travel on water",
              "float", "used on water", "in water", "live underwater", "go underwater",
              "sea creature", "water animal", "sea animal", "ocean animal"),
    "fur": ("have fur", "furry", "fur", "hairy", "have hair", "fluffy"),
    "feathers": ("have feathers", "feathers", "feathered"),
    "scales": ("have scales", "scales", "scaly"),
    "shell": ("have shell", "shell", "have hard shell"),
    "eggs": ("lay eggs", "lay egg", "egg laying"),
    "carnivore": ("eat meat", "carnivore", "carnivorous", "predator", "hunt", "eat other animals",
                  "meat eater", "hunter", "eat animals"),
    "herbivore": ("herbivore", "herbivorous", "eat plants", "eat only plants", "vegetarian",
                  "eat grass"),
    "pet": ("pet", "kept as pet", "common pet", "household pet", "domestic pet", "house pet",
            "have as pet", "keep as pet", "popular pet"),
    "farm": ("farm animal", "live on farm", "found on farm", "farm", "livestock",
             "raised on farm", "kept on farm", "used on farm", "on farm"),
    "wild": ("wild", "wild animal", "live in wild", "found in wild", "in wild", "wildlife"),
    "domestic": ("domestic", "domesticated", "tame", "domestic animal"),
    "dangerous": ("dangerous", "deadly", "harmful", "hurt", "hurt you", "hurt people",
                  "hurt humans", "kill", "kill you", "kill people", "venomous", "poisonous",
                  "scary", "bite", "sting", "harm", "harm you", "harm people", "aggressive"),
    "nocturnal": ("nocturnal", "active at night", "come out at night", "awake at night",
                  "hunt at night"),
    "tropical": ("tropical", "found in tropics", "from tropics", "live in tropics",
                 "grow in tropics", "live in jungle", "found in jungle", "jungle", "rainforest",
                 "live in rainforest"),
    "desert": ("live in desert", "found in desert", "desert", "grow in desert", "from desert"),
    "metal": ("made of metal", "metal", "metallic", "made from metal", "made of steel", "steel",
              "made of iron"),
    "wood": ("made of wood", "wooden", "wood", "made from wood"),
    "plastic": ("made of plastic", "plastic", "made from plastic"),
    "fabric": ("made of fabric", "made of cloth", "fabric", "cloth", "made of textile",
               "textile", "made from fabric", "made of cotton", "cotton"),
    "glass": ("made of glass", "glass", "have glass", "contain glass", "made from glass"),
    "soft": ("soft", "squishy", "cuddly"),
    "sweet": ("sweet", "taste sweet", "sugary", "dessert", "contain sugar"),
    "sour": ("sour", "taste sour", "acidic"),
    "cooked": ("cooked", "need to be cooked", "cook", "eaten cooked", "need cooking"),
    "dairy": ("dairy", "dairy product", "made from milk", "made of milk", "contain milk"),
    "cold": ("cold", "frozen", "served cold", "keep things cold", "keep food cold"),
    "round": ("round", "spherical", "circular", "ball shaped", "sphere", "shaped like ball",
              "circle"),
    "sharp": ("sharp", "have blade", "blade", "pointy", "pointed", "cut", "cut things",
              "used for cutting", "used to cut", "have thorns", "thorny", "spiky", "prickly",
              "have spikes", "have spines"),
    "screen": ("have screen", "screen", "display", "have display"),
    "strings": ("have strings", "strings", "stringed", "string instrument",
                "stringed instrument", "have string"),
    "keys": ("have keys", "keys", "have keyboard", "keyboard"),
    "buttons": ("have buttons", "buttons", "button"),
    "wind": ("wind instrument", "blow into", "blow", "play by blowing", "brass instrument",
             "woodwind", "woodwind instrument", "brass"),
    "percussion": ("percussion", "percussion instrument", "hit", "play by hitting", "strike",
                   "beat", "bang on"),
    "sound": ("make sound", "make noise", "make sounds", "make noises", "noisy", "loud",
              "produce sound", "make any sound", "make any noise", "produce noise"),
    "music": ("make music", "play music", "musical", "used for music", "used to make music",
              "used to play music", "produce music", "used in music", "related to music"),
    "sport": ("used in sports", "used for sports", "used in sport", "used for sport", "sports",
              "sport", "used to play sport", "used to play sports", "used in game",
              "used in games", "athletic", "used for exercise", "sports related"),
    "ball": ("ball",),
    "wear": ("wear", "worn", "wearable", "put on", "something you wear", "worn on body"),
    "feet": ("worn on feet", "wear on feet", "go on feet", "for feet", "worn on foot",
             "footwear", "wear on foot"),
    "head": ("worn on head", "wear on head", "go on head", "for head", "headwear"),
    "hands": ("worn on hands", "wear on hands", "go on hands", "for hands", "worn on hand",
              "wear on hand"),
    "ride": ("ride", "ride on", "rideable", "ridden", "be ridden"),
    "drive": ("drive", "driven", "be driven", "need driver", "have driver", "need license"),
    "transport": ("used for transport", "used for transportation", "transport people",
                  "carry people", "transport", "transportation", "used to travel", "travel in",
                  "travel on", "carry passengers", "take you places", "move people",
                  "used to get around", "carry goods", "transport goods"),
    "road": ("go on road", "drive on road", "used on road", "travel on road", "on road", "road",
             "go on land", "travel on land", "land vehicle", "on land", "drive on street"),
    "indoors": ("found indoors", "used indoors", "kept indoors", "inside", "indoor", "indoors",
                "found inside", "found in house", "found in home", "in house", "in home",
                "household item", "found in homes", "found in houses", "kept inside",
                "live indoors", "live in house", "used inside", "used in house", "used at home",
                "found at home", "at home", "kept in house", "in most homes"),
    "outdoors": ("found outdoors", "used outdoors", "outside", "outdoor", "outdoors",
                 "found outside", "used outside", "kept outside", "live outside",
                 "live outdoors"),
    "kitchen": ("found in kitchen", "used in kitchen", "used for cooking", "used to cook",
                "kitchen", "in kitchen", "used in cooking", "kept in kitchen", "used for eating",
                "used to eat", "used with food", "used to prepare food"),
    "appliance": ("appliance", "kitchen appliance", "household appliance", "home appliance"),
    "treegrow": ("grow on tree", "grow on trees", "come from tree", "come from trees",
                 "tree fruit", "grown on tree", "grown on trees"),
    "ground": ("grow in ground", "grow underground", "root vegetable", "underground",
               "grow under ground", "grown in ground", "grown underground"),
    "grow": ("grow", "grown", "grow in garden", "harvested", "grow from seed", "grow in soil"),
    "tail": ("have tail", "tail", "have tails"),
    "stripes": ("have stripes", "striped", "stripes", "stripy"),
    "spots": ("have spots", "spotted", "spots", "spotty"),
    "expensive": ("expensive", "costly", "cost lot", "cost lot of money", "pricey", "valuable",
                  "luxury", "luxurious"),
    "heavy": ("heavy", "weigh lot", "very heavy"),
    "sit": ("sit on", "sit in", "for sitting", "used for sitting", "seat"),
    "sleep": ("sleep on", "sleep in", "used for sleeping", "for sleeping"),
    "light": ("give light", "give off light", "produce light", "light up", "glow", "shine",
              "emit light", "make light", "provide light", "used for light", "used for lighting",
              "illuminate"),
    "drink": ("used for drinks", "used to make drinks", "make drinks", "hold liquid",
              "hold water", "contain liquid", "drink from", "used for drinking", "boil water",
              "hold drinks"),
    "hot": ("hot", "get hot", "heat", "heat up", "make heat", "warm things", "heat food",
            "produce heat", "warm"),
    "calls": ("make calls", "make phone calls", "call people", "used for calling",
              "used to call", "used to communicate", "used for communication", "communicate",
              "send messages"),
    "photos": ("take pictures", "take photos", "take photographs", "take picture", "take photo",
               "used for photography"),
}
LABELS = {"manmade": "man-made", "fourlegs": "four legs", "twolegs": "two legs",
          "sixlegs": "six legs", "eightlegs": "eight legs", "treegrow": "grows on trees",
          "ground": "grows underground", "carnivore": "eats meat", "herbivore": "eats plants",
          "water": "lives in water", "eggs": "lays eggs", "wind": "wind instrument",
          "feet": "worn on feet", "head": "worn on head", "hands": "worn on hands",
          "sport": "used in sports", "kitchen": "used in the kitchen", "calls": "makes calls",
          "photos": "takes photos", "light": "gives light", "sit": "you sit on it",
          "sleep": "you sleep on it", "transport": "transport", "road": "goes on roads",
          "farm": "farm animal", "ball": "a ball", "metal": "made of metal",
          "wood": "made of wood", "plastic": "made of plastic", "fabric": "made of fabric",
          "glass": "made of glass", "wear": "you wear it", "ride": "you ride it",
          "drive": "you drive it", "indoors": "found indoors", "outdoors": "found outdoors"}
KINDS = ("mammal", "bird", "fish", "reptile", "amphibian", "insect", "fruit", "vegetable", "tree",
         "flower")
IMPLIED = {
    "animal": "alive", "plant": "alive grow", "food": "edible",
    "vehicle": "manmade transport", "tool": "manmade", "instrument": "manmade music sound",
    "furniture": "manmade indoors", "clothing": "manmade wear", "electronics": "manmade electric",
    "sports": "manmade sport", "kitchen": "manmade kitchen indoors",
    "bird": "feathers wings eggs legs", "fish": "water swim tail", "insect": "legs eggs",
    "tree": "outdoors wood", "flower": "outdoors", "fourlegs": "legs", "wild": "outdoors",
    "fruit": "grow", "vegetable": "grow",
}
DERIVED = {
    "natural": lambda t: "manmade" not in t.attrs,
    "walk": lambda t: "legs" in t.attrs and t.category == "animal" and "fish" not in t.attrs,
    "twolegs": lambda t: ("legs" in t.attrs and "fourlegs" not in t.attrs
                          and "insect" not in t.attrs and t.name != "spider"),
    "sixlegs": lambda t: "insect" in t.attrs,
    "eightlegs": lambda t: t.name == "spider",
    "herbivore": lambda t: t.category == "animal" and "carnivore" not in t.attrs,
    "domestic": lambda t: "pet" in t.attrs or "farm" in t.attrs,
    "appliance": lambda t: t.category == "kitchen" and "electric" in t.attrs,
}
COLORS = {"red": "red", "orange": "orange", "yellow": "yellow", "green": "green", "blue": "blue",
          "purple": "purple", "violet": "purple", "pink": "pink", "brown": "brown",
          "black": "black", "white": "white", "gray": "gray", "grey": "gray",
          "silver": "silver", "gold": "gold", "golden": "gold"}
SIZE_WORDS = {
    "big": lambda s: s >= 1.5, "large": lambda s: s >= 1.5, "tall": lambda s: s >= 1.5,
    "huge": lambda s: s >= 5, "enormous": lambda s: s >= 5, "giant": lambda s: s >= 5,
    "very big": lambda s: s >= 5, "very large": lambda s: s >= 5, "gigantic": lambda s: s >= 5,
    "small": lambda s: s < 0.3, "little": lambda s: s < 0.3, "tiny": lambda s: s < 0.05,
    "very small": lambda s: s < 0.05, "miniature": lambda s: s < 0.05,
    "medium sized": lambda s: 0.3 <= s < 1.5, "medium size": lambda s: 0.3 <= s < 1.5,
    "medium": lambda s: 0.3 <= s < 1.5,
    "fit in pocket": lambda s: s <= 0.16, "pocket sized": lambda s: s <= 0.16,
    "fit in your pocket": lambda s: s <= 0.16,
    "hold in hand": lambda s: s <= 0.4, "hold in one hand": lambda s: s <= 0.4,
    "fit in hand": lambda s: s <= 0.4, "handheld": lambda s: s <= 0.4,
    "hand held": lambda s: s <= 0.4, "hold": lambda s: s <= 0.4,
}
CARRY = ("carry", "portable", "lift", "pick up", "carry around", "be carried", "be lifted")
REFS = {"coin": 0.025, "key": 0.06, "golf ball": 0.043, "marble": 0.015, "pencil": 0.18,
        "hand": 0.19, "book": 0.25, "brick": 0.22, "shoebox": 0.33, "breadbox": 0.4,
        "suitcase": 0.7, "person": 1.7, "human": 1.7, "man": 1.7, "woman": 1.7, "adult": 1.7,
        "child": 1.1, "kid": 1.1, "house": 10.0, "building": 20.0, "room": 4.0,
        "door": 2.0, "fist": 0.1, "thumb": 0.06, "finger": 0.08, "pea": 0.008}
AUX = ("is it", "is this", "is that", "it is", "its", "does it", "do it", "can it", "could it",
       "would it", "will it", "has it", "did it", "might it", "is the thing", "is the object",
       "is your thing", "is your object", "is the item", "does the thing", "does the object",
       "can the thing", "are they", "do they", "can they", "would you", "can you", "could you",
       "do you", "do people", "can people", "would people", "do we", "can we", "can i",
       "could i", "would i", "is it something that", "is it something you", "is it something",
       "is it something people", "is it something you can", "is it something that can",
       "is it something people can", "is it used by", "is its colour", "is its color",
       "is the colour", "is the color", "is it coloured", "is it colored", "is it able to",
       "is it capable of", "is it possible to", "is it possible for", "is it made to")
GUESS = ("is it", "it is", "its", "is this", "my guess is", "my final guess is", "final guess",
         "final answer", "my answer is", "guess", "i guess", "i guess it is", "i think it is",
         "i think its", "is the answer", "the answer is", "answer", "is the object",
         "the object is", "is the thing", "the thing is", "are you thinking of",
         "you are thinking of", "were you thinking of", "is your object", "is your thing",
         "could it be", "might it be", "would it be", "it must be", "is it maybe")
DROP = ARTICLES | {"it", "usually", "typically", "normally", "generally", "often", "commonly",
                   "mostly", "mainly", "primarily", "really", "actually", "ever", "also", "your",
                   "kind", "type", "sort", "of", "any", "ones", "thing", "object"}
KEEP_OF = re.compile(r"\b(made|piece|item|article|means|mode|form|lot|out|size) of\b")
LIGHT_DROP = ARTICLES | {"it", "usually", "typically", "normally", "generally", "really"}
OPEN = ("what", "which", "how", "where", "why", "who", "when", "tell me what", "describe")


@functools.lru_cache(maxsize=1)
def things() -> tuple[Thing, ...]:
  raw = json.loads(DATA.read_text())["things"]
  return tuple(Thing.from_json(t) for t in raw)


class Thing:
  def __init__(self, name: str, category: str, size: float, colors: list[str], attrs: set[str],
               aliases: list[str]) -> None:
    self.name, self.category, self.size, self.colors = name, category, size, colors
    self.attrs, self.aliases = attrs, aliases

  @classmethod
  def from_json(cls, d: dict[str, Any]) -> Thing:
    words = d.get("attrs", "").split()
    attrs = {w for w in words if not w.startswith("-")}
    todo = [d["category"], *attrs]
    while todo:
      for extra in IMPLIED.get(todo.pop(), "").split():
        if extra not in attrs:
          attrs.add(extra)
          todo.append(extra)
    attrs -= {w[1:] for w in words if w.startswith("-")}
    t = cls(d["name"], d["category"], float(d["size"]), list(d["colors"]), attrs,
            list(d.get("aliases", ())))
    t.attrs |= {k for k, f in DERIVED.items() if f(t)}
    return t

  def has(self, token: str) -> bool:
    return token in self.attrs

  def profile(self) -> frozenset[str]:
    band = sum(self.size >= cut for cut in (0.05, 0.3, 1.5, 5.0))
    return frozenset((self.attrs - DERIVED.keys()) | {f"cat:{self.category}", f"size:{band}"})


@functools.lru_cache(maxsize=1)
def names() -> dict[str, Thing]:
  """normalized name or alias -> thing."""
  out: dict[str, Thing] = {}
  for t in things():
    for n in (t.name, *t.aliases):
      out[drop_words(normalize(n))] = t
  return out


@functools.lru_cache(maxsize=1)
def phrase_table() -> dict[str, str]:
  """normalized predicate -> token ('cat:<category>' for categories)."""
  out = {}
  for cat, phrases in CATEGORIES.items():
    for p in phrases:
      out[_clean(p)] = f"cat:{cat}"
  for tok, phrases in PHRASES.items():
    for p in phrases:
      out.setdefault(_clean(p), tok)
  return out


@functools.lru_cache(maxsize=1)
def size_phrases() -> tuple[dict[str, Any], frozenset[str]]:
  return {_clean(k): f for k, f in SIZE_WORDS.items()}, frozenset(_clean(c) for c in CARRY)


@functools.lru_cache(maxsize=4096)
def _clean(pred: str) -> str:
  pred = KEEP_OF.sub(lambda m: m.group(1) + "_of", normalize(pred))
  return drop_words(pred, DROP).replace("_of", " of")


def lookup(text: str) -> Thing | None:
  t = names().get(text)
  if t is None and text.endswith("s"):
    t = names().get(text[:-1]) or names().get(text[:-2] if text.endswith("es") else "")
  return t


def a(name: str) -> str:
  if name in ("scissors", "headphones", "rice", "honey", "grass", "bamboo", "cheese", "bread",
              "chocolate", "ice cream", "corn", "broccoli"):
    return name
  return ("an " if name[0] in "aeiou" else "a ") + name


@functools.lru_cache(maxsize=1)
def difficulty_of() -> dict[str, str]:
  table = things()
  def near(t: Thing, k: int) -> int:
    return sum(len(t.profile() ^ o.profile()) <= k for o in table if o is not t)
  score = {t.name: (near(t, 4), near(t, 2), stable_hash(GROUP, t.name)) for t in table}
  order = sorted(score, key=score.__getitem__)
  third = len(order) / 3
  return {n: DIFFICULTIES[min(2, int(i / third))] for i, n in enumerate(order)}


def pools(split: str) -> dict[str, list[str]]:
  diff = difficulty_of()
  return {d: split_pool(GROUP, [n for n, x in diff.items() if x == d], split)
          for d in DIFFICULTIES}


def scenarios(split: str, n: int, seed: int = 0, difficulty: str | None = None,
              max_turns: int = MAX_TURNS) -> list[Scenario]:
  return draw(GROUP, split, n, seed, pools(split),
              lambda s: {"secret": s, "max_turns": int(max_turns)}, difficulty)


def help_labels() -> list[str]:
  return ([CATEGORY_LABELS[c] for c in CATEGORIES] + list(KINDS)
          + [LABELS.get(k, k) for k in PHRASES if k not in KINDS]
          + ["colour", "size (bigger than a ...?)"])


class TwentyQuestions(SimulatedGame):
  group = GROUP

  def setup(self, scenario: Scenario) -> None:
    self.secret = names()[drop_words(normalize(scenario.data["secret"]))]

  def intro(self) -> str:
    t = self.max_turns
    if not self.verbose:
      return (f"20 questions: find my secret thing in {t} turns. Ask yes/no, e.g. 'is it alive?' "
              "'does it have wheels?'. Guess: 'is it a <name>?'")
    return ("Let's play twenty questions. I am thinking of a secret thing: an animal, a plant, a "
            "food or an everyday object. Find it by asking me yes/no questions, one per turn, "
            "for example \"Is it an animal?\", \"Is it made of metal?\", \"Does it have "
            "wheels?\" or \"Is it bigger than a car?\". I answer Yes or No. When you think you "
            "know, guess by asking \"Is it a <name>?\"; naming the thing wins. You have "
            f"{t} turns in total, guesses included.")

  # -- simulator -----------------------------------------------------------------------------------

  def simulate(self, answer: str) -> tuple[str, bool, bool]:
    return self.respond(answer)

  def respond(self, raw: str) -> tuple[str, bool, bool]:
    if several_questions(raw):
      return self._say("Please ask one question at a time.", "One question at a time."), False, False
    q = strip_fillers(normalize(raw))
    if not q:
      return self._help(q), False, False
    _, raw_pred = strip_prefix(q, AUX)
    pred = _clean(raw_pred)
    tok = phrase_table().get(pred)
    if tok is not None:
      return self._yes_no(self._truth(tok)), False, False
    size = self._size(pred, drop_words(raw_pred, LIGHT_DROP))
    if size is not None:
      return size, False, False
    color = self._color(pred)
    if color is not None:
      return color, False, False
    prefix, rest = strip_prefix(q, GUESS)
    target = drop_words(rest if prefix else q)
    guess = lookup(target)
    if guess is not None:
      if guess is self.secret:
        return self._say(f"Yes! It is {a(self.secret.name)}.", f"Yes, {self.secret.name}!"), True, False
      return self._say(f"No, it is not {a(guess.name)}.", "No."), False, False
    if prefix and rest.split()[:1] and rest.split()[0] in ARTICLES and 0 < len(target.split()) <= 3:
      return self._say(f"No, it is not {rest}. (If that was not a guess: I can't answer it; "
                       "ask yes/no questions about its category, kind, material, colour, size "
                       "or other attributes.)", "No."), False, False
    if strip_prefix(q, OPEN)[0]:
      return self._say("Please ask a yes/no question.", "Yes/no questions only."), False, False
    return self._help(q), False, False

  def _truth(self, tok: str) -> bool:
    if tok.startswith("cat:"):
      return self.secret.category == tok[4:]
    return self.secret.has(tok)

  def _size(self, pred: str, light: str) -> str | None:
    """Size words (on the cleaned predicate) and comparisons (on the lightly cleaned one)."""
    s = self.secret.size
    words, carry = size_phrases()
    if pred in words:
      return self._yes_no(words[pred](s))
    if pred in carry:
      return self._yes_no(s <= 1.2 and not self.secret.has("heavy"))
    m = re.fullmatch(r"(?:much |lot |bit |slightly |way )?(bigger|larger|taller|longer|heavier|"
                     r"smaller|shorter|lighter|tinier|weigh more|weigh less) than (.+)", light)
    same = re.fullmatch(r"(?:about |roughly |around )?(?:same size as|size of|as big as|"
                        r"as large as|similar in size to|similar size to|same size|"
                        r"as small as) (.+)", light)
    ref_text = m.group(2) if m else same.group(1) if same else None
    if ref_text is None:
      return None
    ref = self._ref(ref_text)
    if ref is None:
      return self._say("I can compare sizes with any thing I know or with: "
                       + ", ".join(REFS) + ".", "Unknown size reference.")
    ratio = s / ref
    if 0.8 <= ratio <= 1.25:
      return self._say("About the same size.", "About the same size.")
    if same:
      return self._say("No, " + ("it is bigger." if ratio > 1 else "it is smaller."),
                       "No, bigger." if ratio > 1 else "No, smaller.")
    bigger = m.group(1) in ("bigger", "larger", "taller", "longer", "heavier", "weigh more")
    return self._yes_no((ratio > 1) == bigger)

  @staticmethod
  def _ref(text: str) -> float | None:
    text = drop_words(text)
    if text in REFS:
      return REFS[text]
    t = lookup(text)
    return t.size if t is not None else None

  def _color(self, pred: str) -> str | None:
    words = [w for w in pred.split() if w not in ("colored", "coloured", "color", "colour", "in",
                                                    "come", "comes", "mainly", "mostly")]
    if len(words) != 1 or words[0] not in COLORS:
      return None
    if not self.secret.colors:
      return self._say("It comes in many colors.", "Many colors.")
    return self._yes_no(COLORS[words[0]] in self.secret.colors)

  def _yes_no(self, value: bool) -> str:
    return "Yes." if value else "No."

  def _say(self, verbose: str, terse: str) -> str:
    return verbose if self.verbose else terse

  def _help(self, q: str) -> str:
    labels = help_labels()
    if not self.verbose:
      short = [x for x in labels if len(x) <= 12]
      h = stable_hash(GROUP, q)
      pick = [short[(h >> (8 * i)) % len(short)] for i in range(3)]
      return "Unknown. Try: " + ", ".join(dict.fromkeys(pick))
    return ("I can't answer that; ask one yes/no question about: " + ", ".join(labels)
            + ". Or guess with \"Is it a <name>?\".")

  # -- LLM environment -----------------------------------------------------------------------------

  def env_prompt(self) -> str:
    name = self.secret.name
    return (f"You are the host of a game of twenty questions. The secret thing is: {name}. "
            "The player asks yes/no questions to find it. Answer each question truthfully "
            f"about {a(name)}, starting with \"Yes\" or \"No\"; if a question cannot be answered "
            "with yes or no, say so briefly and ask for a yes/no question. Never say the name "
            "of the secret thing and never give hints beyond answering the question. If the "
            "player guesses a different thing, answer \"No\". "
            + reply_rules(self.verbose, f"the player names the secret thing ({name}, or an obvious "
                          "synonym of it) as their guess"))


SPEC = register(GroupSpec(
    name=GROUP, make=TwentyQuestions, scenarios=scenarios, difficulties=DIFFICULTIES,
    simulated=True,
    description="Twenty questions: find a secret thing (animal, food, object) with yes/no "
                "questions in 20 turns; simulator or env LLM answers."))
