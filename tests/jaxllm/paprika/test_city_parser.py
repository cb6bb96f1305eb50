"""Guess my city's place parser: multi-word areas, "is it in <X>?" as a location question,
initialisms keeping their letters (regressions)."""
from __future__ import annotations

import pytest

from jaxllm.paprika.games import guess_my_city as GM
from jaxllm.paprika.games.base import Scenario


def city_game(secret: str, verbose: bool = True):
  g = GM.GuessMyCity(verbose=verbose)
  g.reset(Scenario(GM.GROUP, "t", "train", "easy", {"secret": secret}))
  return g


@pytest.mark.parametrize("secret,question", [
    ("San Francisco", "Is it in the Bay Area?"), ("San Francisco", "is it in bay area?"),
    ("New York City", "Is it in New York State?"), ("Seattle", "Is it in Washington State?"),
    ("Seattle", "Is it in the state of Washington?"),
    ("Addis Ababa", "Is it in the Horn of Africa?"),
    ("Los Angeles", "Is it in the state of California?"),
    ("Paris", "Is it in the continent of Europe?"),
])
def test_city_multiword_areas_are_places(secret, question):
  assert city_game(secret).respond(question) == ("Yes.", False, False)
  other = "Paris" if secret != "Paris" else "Tokyo"
  assert city_game(other).respond(question) == ("No.", False, False)


def test_city_every_table_place_is_understood():
  places = sorted({p for c in GM.cities() for p in c.places()})
  for c in GM.cities()[::4]:
    g = city_game(c.name, verbose=False)
    for p in places:
      assert g.respond(f"is it in {p}?")[0] == ("Yes." if p in c.places() else "No."), (c.name, p)


@pytest.mark.parametrize("secret,question,reply", [
    ("Seattle", "Is it in Washington?", "Yes."),                # the state, not a guess of D.C.
    ("Boston", "Is it in Washington?", "No."),
    ("Washington, D.C.", "Is it in Washington?", "Yes."),       # in the city of that name
    ("New York City", "Is it in New York?", "Yes."), ("Boston", "Is it in New York?", "No."),
    ("Singapore", "Is it in Singapore?", "Yes."), ("Paris", "Is it in Singapore?", "No."),
    ("Seattle", "Is the city located in Washington?", "Yes."),
])
def test_city_is_it_in_x_is_a_location_question(secret, question, reply):
  for verbose in (True, False):
    assert city_game(secret, verbose).respond(question) == (reply, False, False)


def test_city_is_it_in_city_without_a_place_is_a_guess():
  assert city_game("Paris").respond("Is it in Paris?") == ("Yes! The city is Paris.", True, False)
  assert city_game("Rome").respond("Is it in Paris?") == ("No, it is not Paris.", False, False)
  assert city_game("Rome").respond("Is it in Lyon?") == ("No, it is not Lyon.", False, False)
  assert city_game("New York City").respond("is it in new york city?")[1]


def test_city_guess_of_a_name_ending_in_a_period_has_one_period():
  assert city_game("Seattle").respond("Is it Washington?") == \
      ("No, it is not Washington, D.C.", False, False)
  assert city_game("Washington, D.C.").respond("Is it Washington?") == \
      ("Yes! The city is Washington, D.C.", True, False)
  for q in ("is it washington d.c.?", "is it washington dc?", "is it washington d c?", "D.C."):
    assert city_game("Washington, D.C.").respond(q)[1], q


def test_city_initialisms_keep_their_letters():
  assert all(len(n) > 1 for n in GM.city_names())
  assert GM.city_names()["la"].name == "Los Angeles" and "l" not in GM.city_names()
  la, paris = city_game("Los Angeles"), city_game("Paris")
  for q in ("Is it L.A.?", "is it LA?", "is it l a?", "L.A."):
    assert la.respond(q)[1], q
    assert paris.respond(q) == ("No, it is not Los Angeles.", False, False), q
  for q in ("l", "is it l?"):
    assert not la.respond(q)[1] and la.respond(q)[0].startswith("I can't answer"), q
  for q in ("Is it in the U.S.?", "is it in the U.S.A.?", "is it in the u s?", "is it in the usa?"):
    assert city_game("Chicago").respond(q)[0] == "Yes." and paris.respond(q)[0] == "No.", q
