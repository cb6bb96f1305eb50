"""PAPRIKA's ten task groups as multi-turn text games with one interface (`base.Game`).

    from jaxllm.paprika.games import GROUPS
    spec = GROUPS["wordle"]
    scenario = spec.scenarios("eval", n=10, seed=0)[0]
    game = spec.make(verbose=False)          # terse text for tiny models
    print(game.reset(scenario)); fb = game.step("crane")

Rule-based: wordle (6 turns), mastermind (12), battleship (20), minesweeper (20), cellular_automata
(6), bandit (21). LLM-simulated in the paper, each with a deterministic simulator here and an
OpenAI-compatible endpoint backend (`make(endpoint=ChatClient(...))`): twenty_questions,
guess_my_city, customer_service, murder_mystery (20 turns each).
"""
from jaxllm.paprika.games import (bandit, battleship, cellular_automata, customer_service,  # noqa: F401
                                  guess_my_city, mastermind, minesweeper, murder_mystery,
                                  twenty_questions, wordle)
from jaxllm.paprika.games.base import GOAL, GROUPS, Feedback, Game, GameOver, GroupSpec, Scenario

__all__ = ["GOAL", "GROUPS", "Feedback", "Game", "GameOver", "GroupSpec", "Scenario"]
