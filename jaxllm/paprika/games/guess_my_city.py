"""Guess my city: find the secret city by asking questions, in 20 turns.

    spec = GROUPS["guess_my_city"]
    game = spec.make()                         # simulator; make(endpoint=ChatClient(...)) for an LLM
    game.reset(spec.scenarios("eval", n=3, seed=0)[0])
    game.step("is it in europe?").text         # "Yes."
    game.step("what language do they speak?").text   # "People there speak French."
    game.step("is it paris?").text             # "Yes! The city is Paris. Goal reached!"

The cities (87, every continent but Antarctica) are in data/guess_my_city.json, hand-written from
general knowledge: country, continent(s), areas (regions, states, "scandinavia"...), latitude and
longitude, metropolitan population (millions, approximate), languages, climate (tropical,
subtropical, arid, mediterranean, temperate, continental, cold), capital / largest city of its
country, coastal, island, river, lake, elevation, named landmarks and the themes it is known for.
The file also lists other city and country names, so that "is it lyon?" gets "No" and "is it in
pakistan?" gets "No" rather than the help reply.

Question grammar understood by the simulator (after `simulated.normalize`, fillers dropped):
- Guess: "is it <city>?", "is the city <city>?", "it is <city>", "my guess is <city>", the bare
  name, optionally followed by its country ("paris france"); aliases ("nyc", "bombay", "l.a.")
  accepted. The secret wins; another known city answers "No, it is not <city>." Initialisms keep
  their letters ("L.A.", "l a" -> "la"; "D.C." -> "dc"), so no alias is a single letter.
- Where: "is it in <place>?" (continent, country, area as written in the data: "bay area", "horn
  of africa", "new york state"; generic words may be added: "the state of california", "the
  continent of europe"; "is it located in", "is the city in", "is it part of"). "is it in <X>?"
  is read as a location question before any guess: X a place, or a city named like a state
  ("is it in washington?" / "new york?" ask about Washington / New York state, and are also Yes
  for the city of that name itself: D.C., NYC); only when X names a city and no place ("is it in
  paris?", "is it in new york city?") is it a guess of that city. Also "is it a <demonym>
  city?" ("european", "french"), "is it in the northern / southern / eastern / western
  hemisphere?", "is it north/south of the equator?", "is it near the equator?" (|lat| < 15), "is
  it in the tropics?" (|lat| < 23.44).
- Yes/no attributes: capital ("is it the capital (of <country>)?"), largest city of its country,
  coastal (coast, sea, ocean, port, beaches; "landlocked" is the negation), island, river ("is it
  on a river?", "is it on the <name>?"), lake, high altitude (>= 1500 m), mountains (high, or
  mountains among its themes or areas), climate words (hot = tropical/subtropical/arid; warm adds
  mediterranean; cold = continental/cold; mild = temperate/mediterranean; humid = tropical/
  subtropical; dry/desert = arid; snow/cold winters = continental/cold), size (megacity >= 10 M,
  big/large >= 3 M, small < 1 M, "more/less than <n> million people"), languages ("do they speak
  <language>?", "is <language> spoken there?", "is it <language> speaking?"), fame ("is it famous
  for <theme or landmark>?", "does it have <landmark>?", "is <landmark> there?"; matched against
  every city's themes and landmarks, so "skyscrapers" is No for a city without them), "is it a
  famous/touristy city?" (difficulty easy or medium).
- Open questions: what continent / country / language / climate / hemisphere / population / river
  / elevation, "what is it famous for?" (themes only, never landmark names), "where is it?"; "what
  is its name?" is refused.
- Anything else: "I can't answer that; ask about: ..." (terse: a short list). Replies are a pure
  function of (secret, question).

Difficulty: curated by how well known the city is ("easy": world-famous, e.g. Paris, Tokyo, Rio;
"medium": well known, e.g. Porto's neighbour Lisbon, Toronto, Hanoi; "hard": less known to most
people, e.g. Porto, Dakar, Kathmandu): 28 / 39 / 20 cities, split by city 75/25.
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

GROUP = "guess_my_city"
DIFFICULTIES = ("easy", "medium", "hard")
DATA = Path(__file__).parent / "data" / "guess_my_city.json"
CONTINENTS = ("europe", "asia", "africa", "north america", "south america", "oceania",
              "antarctica")
COUNTRY_ALIASES = {
    "usa": "united states", "us": "united states", "u s": "united states",
    "u s a": "united states", "united states of america": "united states",
    "america": "united states", "the states": "united states", "uk": "united kingdom",
    "u k": "united kingdom", "britain": "united kingdom", "holland": "netherlands",
    "czechia": "czech republic", "korea": "south korea", "uae": "united arab emirates",
    "emirates": "united arab emirates", "turkiye": "turkey", "persia": "iran",
    "republic of korea": "south korea", "people s republic of china": "china", "prc": "china",
}
EXTRA_AREAS = ("central america", "central asia", "eastern africa", "western africa",
               "southern europe", "polynesia", "siberia", "arctic", "patagonia")
DEMONYMS = {
    "european": "europe", "asian": "asia", "african": "africa", "north american": "north america",
    "south american": "south america", "latin american": "latin america",
    "oceanian": "oceania", "scandinavian": "scandinavia", "nordic": "nordic countries",
    "middle eastern": "middle east", "caribbean": "caribbean", "east asian": "east asia",
    "southeast asian": "southeast asia", "south asian": "south asia", "french": "france",
    "british": "united kingdom", "english": "england", "italian": "italy", "german": "germany",
    "spanish": "spain", "dutch": "netherlands", "austrian": "austria", "czech": "czech republic",
    "greek": "greece", "portuguese": "portugal", "irish": "ireland", "russian": "russia",
    "turkish": "turkey", "swedish": "sweden", "norwegian": "norway", "danish": "denmark",
    "finnish": "finland", "polish": "poland", "hungarian": "hungary", "swiss": "switzerland",
    "belgian": "belgium", "icelandic": "iceland", "american": "united states",
    "canadian": "canada", "mexican": "mexico", "cuban": "cuba", "brazilian": "brazil",
    "argentine": "argentina", "argentinian": "argentina", "peruvian": "peru",
    "colombian": "colombia", "chilean": "chile", "uruguayan": "uruguay", "japanese": "japan",
    "chinese": "china", "korean": "south korea", "south korean": "south korea", "thai": "thailand",
    "singaporean": "singapore", "indian": "india", "emirati": "united arab emirates",
    "iranian": "iran", "persian": "iran", "vietnamese": "vietnam", "indonesian": "indonesia",
    "filipino": "philippines", "nepali": "nepal", "nepalese": "nepal", "malaysian": "malaysia",
    "taiwanese": "taiwan", "egyptian": "egypt", "south african": "south africa",
    "kenyan": "kenya", "moroccan": "morocco", "nigerian": "nigeria", "ethiopian": "ethiopia",
    "senegalese": "senegal", "australian": "australia", "new zealand": "new zealand",
    "kiwi": "new zealand", "arab": "middle east", "arabian": "arabian peninsula",
}
LANGUAGE_ALIASES = {"mandarin": "chinese", "farsi": "persian", "castilian": "spanish",
                    "flemish": "dutch", "tagalog": "filipino", "gaelic": "irish",
                    "bahasa": "indonesian", "amazigh": "berber", "tamazight": "berber",
                    "brazilian portuguese": "portuguese"}
OTHER_LANGUAGES = ("bengali", "urdu", "punjabi", "hebrew", "ukrainian", "romanian", "bulgarian",
                   "serbian", "croatian", "khmer", "lao", "burmese", "mongolian", "kazakh",
                   "uzbek", "georgian", "armenian", "albanian", "latin", "zulu", "telugu",
                   "gujarati", "slovak", "slovenian", "estonian", "latvian", "lithuanian",
                   "welsh", "scottish gaelic", "basque", "hawaiian", "somali", "hausa",
                   "igbo", "lingala", "malagasy", "pashto", "kurdish", "aymara", "guarani")
CLIMATE_WORDS = {
    "tropical": {"tropical"}, "subtropical": {"subtropical"}, "arid": {"arid"},
    "dry": {"arid"}, "desert": {"arid"}, "desert climate": {"arid"}, "semi arid": {"arid"},
    "mediterranean": {"mediterranean"}, "temperate": {"temperate"},
    "continental": {"continental"}, "cold": {"continental", "cold"},
    "freezing": {"continental", "cold"}, "cold winters": {"continental", "cold"},
    "snow": {"continental", "cold"}, "snowy": {"continental", "cold"},
    "hot": {"tropical", "subtropical", "arid"},
    "warm": {"tropical", "subtropical", "arid", "mediterranean"},
    "hot climate": {"tropical", "subtropical", "arid"},
    "warm climate": {"tropical", "subtropical", "arid", "mediterranean"},
    "cold climate": {"continental", "cold"}, "mild": {"temperate", "mediterranean"},
    "humid": {"tropical", "subtropical"}, "hot summers": {"tropical", "subtropical", "arid",
                                                         "mediterranean", "continental"},
    "sunny": {"tropical", "subtropical", "arid", "mediterranean"},
}
CLIMATE_TEXT = {"tropical": "tropical: hot and humid all year",
                "subtropical": "subtropical: hot humid summers and mild winters",
                "arid": "arid: hot and dry", "mediterranean": "mediterranean: hot dry summers "
                "and mild wet winters", "temperate": "temperate: mild, with rain all year",
                "continental": "continental: warm summers and cold winters",
                "cold": "cold: cool summers and long cold winters"}
AUX = ("is it", "is the city", "is this city", "is your city", "does it", "does the city",
       "is it located", "is the city located", "is it situated", "is it found", "is it a city",
       "does it lie", "is it somewhere", "is it part of", "is it within", "does it have",
       "has it", "can you", "do you", "is there", "are there", "is it one of", "would you say",
       "is it considered", "is it known as", "is it usually", "is it generally", "is its")
GUESS = ("is it", "it is", "its", "is the city", "the city is", "is your city", "my guess is",
         "my final guess is", "final guess", "final answer", "my answer is", "guess",
         "i guess", "i guess it is", "i think it is", "i think its", "is the answer",
         "the answer is", "answer", "are you thinking of", "you are thinking of",
         "could it be", "might it be", "would it be", "it must be", "is it the city of",
         "is the city called", "is it called", "is it maybe")
DROP = ARTICLES | {"it", "usually", "typically", "generally", "really", "actually", "very"}
GENERIC = frozenset({"continent", "of", "country", "region", "state", "area"})
OPEN = ("what", "whats", "which", "where", "wheres", "how", "hows", "tell me", "describe",
        "give me", "hint", "who", "can you tell me", "could you tell me")


def _initials(text: str) -> str:
  """Dotted initialisms keep their letters: "L.A." -> "LA", "u.s.a" -> "usa", "D.C." -> "DC"."""
  return re.sub(r"\b[A-Za-z](?:\.[A-Za-z])+\b\.?", lambda m: m.group().replace(".", ""), text)


def _letters(text: str) -> str:
  """Runs of single letters (normalized text) join into one word: "l a" -> "la", "washington d c"
  -> "washington dc", "u s a" -> "usa"; a run's leading "a" stays the article ("a u s city" -> "a
  us city"). So no name or alias is ever a single letter."""
  def join(m: re.Match) -> str:
    run = m.group()
    return "a " + run[2:].replace(" ", "") if run.startswith("a ") else run.replace(" ", "")
  return re.sub(r"\b[a-z](?: [a-z])+\b", join, text)


def _norm(text: str) -> str:
  return _letters(normalize(_initials(text)))


def _n(text: str) -> str:
  return drop_words(_norm(text))


def _stop(text: str) -> str:
  """`text` ending with one period ("Washington, D.C." stays as it is)."""
  return text if text.endswith(".") else text + "."


class City:
  def __init__(self, d: dict[str, Any]) -> None:
    self.name: str = d["name"]
    self.key = _n(self.name)
    self.aliases = [a for a in map(_n, d.get("aliases", ())) if len(a) > 1 and a != self.key]
    self.country: str = d["country"]
    self.country_key = _n(self.country)
    self.continents = [_n(c) for c in d["continent"]]
    self.areas = [_n(a) for a in d.get("areas", ())]
    self.lat, self.lon = float(d["lat"]), float(d["lon"])
    self.pop = float(d["pop"])
    self.languages = [_n(x) for x in d["languages"]]
    self.climate: str = d["climate"]
    self.capital = bool(d.get("capital", False))
    self.largest = bool(d.get("largest", False))
    self.coastal = bool(d.get("coastal", False))
    self.island = bool(d.get("island", False))
    self.river = _n(d.get("river", ""))
    self.lake = _n(d.get("lake", ""))
    self.elevation = float(d.get("elevation", 50))
    self.landmarks = [_n(x) for x in d.get("landmarks", ())]
    self.known = [_n(x) for x in d.get("known", ())]
    self.difficulty: str = d["difficulty"]

  def places(self) -> set[str]:
    return {self.country_key, *self.continents, *self.areas}

  @property
  def mountains(self) -> bool:
    return (self.elevation >= 1500 or "mountains" in self.known
            or bool({"alps", "andes", "himalayas"} & set(self.areas)))


@functools.lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
  return json.loads(DATA.read_text())


@functools.lru_cache(maxsize=1)
def cities() -> tuple[City, ...]:
  return tuple(City(d) for d in _raw()["cities"])


@functools.lru_cache(maxsize=1)
def city_names() -> dict[str, City]:
  out: dict[str, City] = {}
  for c in cities():
    for n in (c.key, *c.aliases):
      out[n] = c
  return out


@functools.lru_cache(maxsize=1)
def other_cities() -> frozenset[str]:
  return frozenset(_n(x) for x in _raw()["other_cities"].split(",")) - set(city_names())


@functools.lru_cache(maxsize=1)
def places() -> dict[str, str]:
  """normalized place name (or alias) -> canonical place key."""
  out = {p: p for p in CONTINENTS}
  out.update({_n(x): _n(x) for x in _raw()["other_countries"].split(",")})
  out.update({_n(x): _n(x) for x in EXTRA_AREAS})
  for c in cities():
    out.update({p: p for p in c.places()})
  for d in _raw()["cities"]:
    for a in d.get("aliases_country", ()):
      out[_n(a)] = _n(d["country"])
  out.update(COUNTRY_ALIASES)
  out["americas"] = out["the americas"] = "americas"
  return out


@functools.lru_cache(maxsize=1)
def languages() -> dict[str, str]:
  out = {l: l for c in cities() for l in c.languages}
  out.update({l: l for l in OTHER_LANGUAGES})
  out.update(LANGUAGE_ALIASES)
  return out


@functools.lru_cache(maxsize=1)
def fame_vocab() -> frozenset[str]:
  return frozenset(x for c in cities() for x in (*c.landmarks, *c.known))


def place_key(target: str) -> str | None:
  """The canonical place of "is it in <target>?": the name as written ("bay area", "horn of
  africa", "new york state"), then without generic words ("the state of california", "the
  continent of europe"), then a demonym, then "<name> state" ("the state of washington",
  "washington", "new york": the states named like a city); None if none is known."""
  short = drop_words(target, GENERIC)
  for name in (target, short, DEMONYMS.get(target), DEMONYMS.get(short), f"{short} state"):
    key = places().get(name or "")
    if key is not None:
      return key
  return None


def pools(split: str) -> dict[str, list[str]]:
  return {d: split_pool(GROUP, [c.name for c in cities() if c.difficulty == d], split)
          for d in DIFFICULTIES}


def scenarios(split: str, n: int, seed: int = 0, difficulty: str | None = None,
              max_turns: int = MAX_TURNS) -> list[Scenario]:
  return draw(GROUP, split, n, seed, pools(split),
              lambda s: {"secret": s, "max_turns": int(max_turns)}, difficulty)


def _number(text: str) -> float | None:
  """The first population figure in `text`, in millions."""
  words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
           "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15,
           "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "half": 0.5}
  m = re.search(r"\b(\d+(?:\.\d+)?|" + "|".join(words) + r")\s*(million|m|thousand|k|"
                r"billion)?\b", text)
  if m is None:
    return None
  value = float(m.group(1)) if m.group(1)[0].isdigit() else float(words[m.group(1)])
  unit = m.group(2)
  if unit in ("thousand", "k"):
    return value / 1000
  if unit == "billion":
    return value * 1000
  if unit is None and value >= 1000:
    return value / 1e6
  return value


def _join(items: list[str]) -> str:
  items = [i for i in items if i]
  return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class GuessMyCity(SimulatedGame):
  group = GROUP

  def setup(self, scenario: Scenario) -> None:
    self.city = city_names()[_n(scenario.data["secret"])]

  def intro(self) -> str:
    t = self.max_turns
    if not self.verbose:
      return (f"Guess my city in {t} turns. Ask e.g. 'is it in asia?' 'what language?' "
              "'is it coastal?'. Guess: 'is it <city>?'")
    return ("Let's play guess my city. I am thinking of a city somewhere in the world. Find it by "
            "asking me questions, one per turn: yes/no questions (\"Is it in Europe?\", \"Is it "
            "a capital city?\", \"Is it on the coast?\") or short open questions (\"What "
            "language do people speak there?\", \"What is the climate like?\", \"What is it "
            "famous for?\"). I will not tell you its name. When you think you know, guess by "
            "asking \"Is it <city>?\"; naming the city wins. You have "
            f"{t} turns in total, guesses included.")

  # -- simulator -----------------------------------------------------------------------------------

  def simulate(self, answer: str) -> tuple[str, bool, bool]:
    return self.respond(answer)

  def respond(self, raw: str) -> tuple[str, bool, bool]:
    if several_questions(raw):
      return self._say("Please ask one question at a time.", "One question at a time."), False, False
    q = strip_fillers(_norm(raw))
    if not q:
      return self._help(q), False, False
    if re.match(r"(is it|is the city)( located)? in ", q):
      where = self._where(q)            # "is it in <place>?" is never a guess (see _where)
      if where is not None:
        return where, False, False
    guess = self._guess(q)
    if guess is not None:
      return guess
    for handler in (self._open, self._where, self._language, self._population, self._fame,
                    self._attribute):
      out = handler(q)
      if out is not None:
        return out, False, False
    return self._help(q), False, False

  def _guess(self, q: str) -> tuple[str, bool, bool] | None:
    prefix, rest = strip_prefix(q, GUESS)
    rest = re.sub(r"^(in|located in) ", "", rest) if prefix in ("is it", "is the city") else rest
    target = drop_words(rest if prefix else q, DROP)
    words = target.split()
    for k in range(len(words), 0, -1):
      head, tail = " ".join(words[:k]), " ".join(words[k:])
      if tail and places().get(tail) is None:
        continue
      city = city_names().get(head) or city_names().get(re.sub(r"^city of | city$", "", head))
      if city is not None:
        name = _stop(city.name)
        if city is self.city:
          return self._say(f"Yes! The city is {name}", f"Yes, {city.name}!"), True, False
        return self._say(f"No, it is not {name}", "No."), False, False
      if head in other_cities():
        return self._say(f"No, it is not {head.title()}.", "No."), False, False
    return None

  def _open(self, q: str) -> str | None:
    if not strip_prefix(q, OPEN)[0]:
      return None
    c, say = self.city, self._say
    has = lambda *ws: any(f" {w} " in f" {q} " for w in ws)
    if has("continent", "part of the world", "where"):
      cont = _join([x.title() for x in c.continents])
      return say(f"It is in {cont}.", f"{cont}.")
    if has("country", "nation"):
      return say(f"It is in {c.country}.", f"{c.country}.")
    if has("region", "area"):
      return say(f"It is in {c.areas[0].title()}.", f"{c.areas[0].title()}.")
    if has("language", "languages", "speak", "spoken"):
      langs = _join([x.title() for x in c.languages])
      return say(f"People there speak {langs}.", f"{langs}.")
    if has("climate", "weather", "temperature"):
      return say(f"Its climate is {CLIMATE_TEXT[c.climate]}.", f"{c.climate.title()}.")
    if has("hemisphere"):
      ns = "northern" if c.lat > 0 else "southern"
      ew = "eastern" if c.lon > 0 else "western"
      return say(f"It is in the {ns} and {ew} hemispheres.", f"{ns.title()}, {ew}.")
    if has("population", "people", "inhabitants", "residents", "big", "large", "populous",
           "size"):
      return say(f"About {c.pop:g} million people live in its metropolitan area.",
                 f"{c.pop:g} million.")
    if has("river"):
      return (say(f"It is on the {c.river.title()}.", f"{c.river.title()}.") if c.river
              else say("It is not on a major river.", "No major river."))
    if has("elevation", "altitude", "high"):
      return say(f"It lies about {c.elevation:.0f} metres above sea level.",
                 f"{c.elevation:.0f} m.")
    if has("famous", "known", "special", "hint", "see", "visit", "do there", "clue"):
      themes = _join(c.known[:3])
      return say(f"It is famous for {themes}.", f"{_join(c.known[:2])}.")
    if has("name", "called", "city"):
      return say("I can't tell you its name; keep asking questions!", "Can't say the name.")
    return say("I can answer open questions about its continent, country, region, language, "
               "climate, hemisphere, population, river, elevation and what it is famous for.",
               "Ask: continent, language, climate...")

  def _where(self, q: str) -> str | None:
    c = self.city
    m = re.fullmatch(r"(?:is it|is the city|is your city|is this city|does it lie|is it located"
                     r"|is it situated|is it found|is it somewhere|is it a city|is the city "
                     r"located)\s+(?:located |situated |somewhere )?(in|on|within|part of)\s+"
                     r"(.+)", q)
    place = None
    if m:
      place = drop_words(m.group(2), DROP)
    else:
      m = re.fullmatch(r"(?:is it|is the city|is it located in|is it in)\s+(?:an? )?(.+?)"
                       r"(?: city| country| capital| place)?", q)
      if m and m.group(1) in DEMONYMS:
        place = DEMONYMS[m.group(1)]
    if place is not None:
      hemi = self._hemisphere(drop_words(place, GENERIC))
      if hemi is not None:
        return self._yes_no(hemi)
      key = place_key(place)
      if key is not None:
        return self._yes_no(key in c.places() or city_names().get(place) is c or (
            key == "americas" and bool({"north america", "south america"} & set(c.continents))))
    for pat, value in ((r"(north|above) of (the )?equator", c.lat > 0),
                       (r"(south|below) of (the )?equator", c.lat < 0),
                       (r"(near|close to|on|at) (the )?equator", abs(c.lat) < 15),
                       (r"in (the )?tropics|tropical zone", abs(c.lat) < 23.44)):
      if re.search(pat, q) and re.match(r"(is it|is the city|does it lie)", q):
        return self._yes_no(value)
    return None

  def _hemisphere(self, place: str) -> bool | None:
    m = re.fullmatch(r"(northern|southern|eastern|western) hemisphere", place)
    if m is None:
      return None
    return {"northern": self.city.lat > 0, "southern": self.city.lat < 0,
            "eastern": self.city.lon > 0, "western": self.city.lon < 0}[m.group(1)]

  def _language(self, q: str) -> str | None:
    pats = ((r"(?:do|does|can) (?:they|people|locals|most people|the people|residents|you|it|"
             r"the locals|people there|inhabitants) (?:mostly |mainly |usually )?speak (.+?)"
             r"(?: there| in it| in city| language)?"),
            (r"is (.+?) (?:spoken|the main language|the official language|main language|"
             r"official language|language|a language spoken|their language|the language)"
             r"(?: there| in it| in city| spoken there)?"),
            r"(?:is the|is their|is its) (?:main |official |primary )?language (.+)",
            r"is (?:it|the city) (?:an? )?(.+?) speaking(?: city| country| place)?",
            r"(?:do|does) (?:they|people) use (.+?) (?:language)?",
            r"(?:do|does) (?:they|people|locals) speak (.+)")
    for p in pats:
      m = re.fullmatch(p, q)
      if m:
        lang = languages().get(drop_words(m.group(1), DROP))
        if lang is None:
          return None
        return self._yes_no(lang in self.city.languages)
    return None

  def _population(self, q: str) -> str | None:
    if not re.search(r"\b(people|inhabitants|residents|population|citizens|million|populous|"
                     r"live there|living there)\b", q):
      return None
    more = re.search(r"\b(more|over|above|greater|larger|bigger|exceed|at least|higher)\b", q)
    less = re.search(r"\b(less|fewer|under|below|smaller|at most|lower)\b", q)
    value = _number(q)
    if value is None or bool(more) == bool(less):
      return None
    return self._yes_no(self.city.pop > value if more else self.city.pop < value)

  def _fame(self, q: str) -> str | None:
    m = re.fullmatch(r"(?:is it|is the city|is this city) (?:famous|known|well known|renowned|"
                     r"popular|celebrated) for (?:its |their )?(.+)", q)
    m = m or re.fullmatch(r"(?:does it|does the city) (?:have|host|contain|boast|feature) "
                          r"(?:a |an |the |its |famous |any )*(.+)", q)
    m = m or re.fullmatch(r"(?:is|are) (?:the |a |an )?(.+?) (?:there|in it|located there|"
                          r"in the city|in city|nearby|near it)", q)
    m = m or re.fullmatch(r"(?:is there|are there) (?:a |an |the |any |famous )*(.+?)"
                          r"(?: there| in it| in the city)?", q)
    m = m or re.fullmatch(r"(?:is it|is the city) (?:home to|the home of|home of|the birthplace "
                          r"of|where|near|next to|close to) (?:the |a |an )?(.+)", q)
    m = m or re.fullmatch(r"can (?:you|i|we) (?:see|visit|find) (?:the |a |an )?(.+?)"
                          r"(?: there| in it)?", q)
    if m is None:
      if re.fullmatch(r"(?:is it|is the city) (?:an? )?(?:famous|well known|touristy|popular "
                      r"tourist destination|tourist destination|popular)(?: city| place)?", q):
        return self._yes_no(self.city.difficulty != "hard")
      return None
    thing = drop_words(m.group(1), DROP)
    padded = f" {thing} "
    hits = [v for v in fame_vocab() if thing == v or (
        len(thing) >= 4 and (padded in f" {v} " or f" {v} " in padded))]
    if not hits:
      return None
    mine = set(self.city.landmarks) | set(self.city.known)
    return self._yes_no(any(h in mine for h in hits))

  def _attribute(self, q: str) -> str | None:
    c = self.city
    _, pred = strip_prefix(q, AUX)
    pred = drop_words(pred, DROP | {"located", "situated"})
    m = re.fullmatch(r"capital(?: city)? of (.+)", pred)
    if m:
      key = places().get(drop_words(m.group(1), DROP | {"its", "country"}))
      if key is not None:
        return self._yes_no(c.capital and key == c.country_key)
      if m.group(1) in ("its country", "country", "nation", "its nation"):
        return self._yes_no(c.capital)
    m = re.fullmatch(r"(?:largest|biggest|most populous) city (?:in|of) (.+)", pred)
    if m:
      key = places().get(drop_words(m.group(1), DROP | {"its", "country"}))
      if key is not None:
        return self._yes_no(c.largest and key == c.country_key)
    m = re.fullmatch(r"(?:on|by|along|near) (.+)", pred)
    river = drop_words(m.group(1), DROP | {"river"}) if m else ""
    if river and river == c.river:
      return self._yes_no(True)
    if river and river in {x.river for x in cities() if x.river}:
      return self._yes_no(False)
    table = {
        "capital": c.capital, "capital city": c.capital, "national capital": c.capital,
        "countrys capital": c.capital, "capital of country": c.capital,
        "capital of its country": c.capital, "political capital": c.capital,
        "largest city": c.largest, "biggest city": c.largest, "most populous city": c.largest,
        "largest city in country": c.largest, "largest city in its country": c.largest,
        "biggest city in its country": c.largest, "biggest city in country": c.largest,
        "largest city of its country": c.largest, "countrys largest city": c.largest,
        "countrys biggest city": c.largest,
        "coastal": c.coastal, "on coast": c.coastal, "coastal city": c.coastal,
        "by sea": c.coastal, "by ocean": c.coastal, "near sea": c.coastal,
        "near ocean": c.coastal, "near coast": c.coastal, "on sea": c.coastal,
        "on ocean": c.coastal, "port": c.coastal, "port city": c.coastal,
        "seaport": c.coastal, "seaside": c.coastal, "seaside city": c.coastal,
        "beach": c.coastal, "beaches": c.coastal, "near beach": c.coastal,
        "beach city": c.coastal, "have beach": c.coastal, "coastline": c.coastal,
        "access to sea": c.coastal, "access to ocean": c.coastal, "harbor": c.coastal,
        "harbour": c.coastal, "on water": c.coastal or bool(c.lake), "landlocked": not c.coastal,
        "inland": not c.coastal, "island": c.island, "on island": c.island,
        "island city": c.island, "river": bool(c.river), "on river": bool(c.river),
        "by river": bool(c.river), "near river": bool(c.river), "river city": bool(c.river),
        "river run through": bool(c.river), "river running through": bool(c.river),
        "lake": bool(c.lake), "on lake": bool(c.lake), "near lake": bool(c.lake),
        "by lake": bool(c.lake), "high altitude": c.elevation >= 1500,
        "at high altitude": c.elevation >= 1500, "high elevation": c.elevation >= 1500,
        "at high elevation": c.elevation >= 1500, "high up": c.elevation >= 1500,
        "in mountains": c.mountains, "mountainous": c.mountains,
        "near mountains": c.mountains, "mountains": c.mountains,
        "surrounded by mountains": c.mountains, "mountain city": c.mountains,
        "megacity": c.pop >= 10, "metropolis": c.pop >= 3, "big city": c.pop >= 3,
        "large city": c.pop >= 3, "big": c.pop >= 3, "large": c.pop >= 3,
        "huge city": c.pop >= 10, "huge": c.pop >= 10, "small city": c.pop < 1,
        "small": c.pop < 1, "small town": c.pop < 1, "town": c.pop < 1,
        "medium sized city": 1 <= c.pop < 3, "medium sized": 1 <= c.pop < 3,
        "city state": c.name == "Singapore",
    }
    if pred in table:
      return self._yes_no(table[pred])
    clim = re.sub(r"\b(climate|weather|have|has|there|in winter|in summer|generally|is|the|"
                  r"its|it|does|a|an|get|gets|usually)\b", " ", pred)
    clim = " ".join(clim.split())
    if pred in ("cold winters", "hot summers"):
      clim = pred
    if clim in CLIMATE_WORDS:
      return self._yes_no(c.climate in CLIMATE_WORDS[clim])
    return None

  def _yes_no(self, value: bool) -> str:
    return "Yes." if value else "No."

  def _say(self, verbose: str, terse: str) -> str:
    return verbose if self.verbose else terse

  def _help(self, q: str) -> str:
    if not self.verbose:
      topics = ["continent", "country", "language", "climate", "coast", "capital",
                "population", "famous for"]
      h = stable_hash(GROUP, q)
      pick = [topics[(h >> (8 * i)) % len(topics)] for i in range(2)]
      return "Unknown. Ask: " + ", ".join(dict.fromkeys(pick))
    return ("I can't answer that. Ask one question about: its continent, country or region "
            "(\"Is it in Asia?\"), hemisphere, whether it is a capital, the largest city of its "
            "country, coastal, on an island, on a river or lake, high up or in the mountains, "
            "its climate (tropical, arid, mediterranean, temperate, continental...), its "
            "population (\"Does it have more than 5 million people?\"), its language, or what "
            "it is famous for; open questions (\"What language do they speak?\") work too. "
            "Guess with \"Is it <city>?\".")

  # -- LLM environment -----------------------------------------------------------------------------

  def env_prompt(self) -> str:
    c = self.city
    return (f"You are the host of the game 'guess my city'. The secret city is {c.name}, "
            f"{c.country}. The player asks questions to find it. Answer each question "
            f"truthfully about {c.name}: answer yes/no questions with \"Yes\" or \"No\", and "
            "open questions (about its country, continent, language, climate, population, or "
            "what it is famous for) with a short fact. Never say the name of the city, and do "
            "not name its landmarks unless the player names them first. If the player guesses a "
            "different city, answer \"No\". "
            + reply_rules(self.verbose, f"the player names the secret city ({c.name}) as their "
                          "guess"))


SPEC = register(GroupSpec(
    name=GROUP, make=GuessMyCity, scenarios=scenarios, difficulties=DIFFICULTIES,
    simulated=True,
    description="Guess my city: find a secret city with yes/no and short open questions in 20 "
                "turns; simulator or env LLM answers."))
