"""``WebShopEnv``: an offline Mini-WebShop (``rllib_istar/WebShop-v0``).

The agent reads an instruction (``i need lightweight running shoes with color: red, and
size: small, and price lower than 30.00 dollars``), searches, opens products, picks
options and buys. Pages and clickables follow the reference's text mode (``pages.py``);
the catalogue is generated (``catalogue.py``) or loaded from real WebShop files
(``loader.py``).

Actions: ``search[<query>]`` on the search page (the admissible list holds the pattern
entry ``search[<your query>]``, any non-empty query is valid: ``parsing.py``), and
``click[<x>]`` for each clickable of the page. Anything else is a no-op (reward 0, the
page does not change). ``search_mode: listed`` replaces the free query by one
``search[<type>]`` action per product type of the catalogue (a finite list, for tiny
models and the format warm-up, which samples admissible actions).

Transitions: search -> results page 1 (top 50, 10 a page); ``next >`` / ``< prev`` page
the results; an ASIN opens its item (chosen options reset); an option value sets that
option; ``description`` / ``features`` / ``reviews`` open a sub-page; ``< prev`` goes back
(sub-page -> item -> results); ``back to search`` returns to the search page;
``buy now`` ends the episode with the purchase score (``reward.py``).

Reward (``reward_mode``): ``success_10`` (the iStar/verl-agent shaping: 10 if the score is
exactly 1, else 0) or ``score`` (the raw score in [0, 1]); 0 on every other step.
``info["task_score"]`` is the raw score (0 until a purchase), ``info["won"]`` is
``score == 1``.

Oracle step labels (``info["oracle_step_label"]``). A *winner* is a product whose
purchase with its best-matching options scores 1 for the goal (the target always is
one; a twin of it may be, an over-budget one never is):

* ``search[...]``: +1 if the results contain a winner, else -1 (a query that loses it);
* click on an ASIN: +1 a winner, -1 any other product;
* ``next >`` / ``< prev`` on results: +1 if the new page shows a winner and the old did
  not, else 0;
* option value on a winner's page: +1 if it matches a goal option not yet matched,
  0 if that goal option was already matched, -1 if it is another value of a goal
  option's name (a wrong option); 0 for options the goal does not name, and for any
  option on a non-winner (that mistake was the click that opened it);
* ``buy now``: +1 if the score is 1, else -1;
* sub-pages, ``< prev`` from an item or sub-page, ``back to search``, invalid actions: 0.

Tasks: the task seed picks a goal of ``split`` (``train``: goals after the first
``num_test_goals``, ``test``: the first ``num_test_goals``, ``all``), like the
reference's ``goals[500:]`` / ``goals[:500]``; ``options={"goal_index": i}`` picks one.

env_config: ``action_format`` ("tags"), ``max_steps`` (10, reference
``env.max_steps=10``), ``num_products`` (100, 1..5000), ``catalogue_seed`` (0),
``split`` ("train"), ``num_test_goals`` (100), ``reward_mode`` ("success_10"),
``search_mode`` ("free" | "listed"), ``items_file`` / ``attributes_file`` /
``human_goals_file`` (None: generate; see ``loader.py``).
"""
from __future__ import annotations

import functools
import random
import string
from typing import Any, ClassVar

from ..base import TextEnv
from ..config_checks import int_in_range
from ..parsing import ParsedAction
from ..templates import PromptTemplate
from . import pages
from .catalogue import MAX_NUM_PRODUCTS, Catalogue, Goal, Product, cached_catalogue
from .reward import option_hits, score_purchase, type_factor
from .search import BM25Index
from .vocabulary import SEARCH_PATTERN, webshop_words

__all__ = ["WebShopEnv", "REWARD_MODES", "SEARCH_MODES", "SPLITS", "SUCCESS_REWARD",
           "WEBSHOP_PROMPT", "winning_products"]

REWARD_MODES = ("success_10", "score")
SEARCH_MODES = ("free", "listed")
SPLITS = ("train", "test", "all")
#: Reward of a purchase scoring exactly 1 under ``reward_mode: success_10``.
SUCCESS_REWARD = 10.0

WEBSHOP_PROMPT = PromptTemplate(
    instruction=(
        "You are an expert autonomous agent operating in the WebShop e-commerce platform. "
        "Your task is to buy the product that matches the instruction shown on the page: "
        "search for it, open a matching product, click the option values the instruction "
        "asks for, and click Buy Now. Use search[your query] on the search page and "
        "click[item] for a button, a product id or an option value."),
    progress="step {step} of {max_steps}",
    history_header="previous steps",
    current_header="current page",
    actions_header="available actions",
    observation_last=False,  # the page before the actions: the layout its results used
)


@functools.lru_cache(maxsize=8)
def _index_for(catalogue_key: tuple) -> tuple[Catalogue, BM25Index, dict[str, list[int]]]:
    """(catalogue, its BM25 index, noun -> product indices), built once per process."""
    if catalogue_key[0] == "generated":
        catalogue = cached_catalogue(catalogue_key[1], catalogue_key[2])
    else:
        from .loader import load_catalogue

        catalogue = load_catalogue(*catalogue_key[1:])
    by_noun: dict[str, list[int]] = {}
    for i, product in enumerate(catalogue.products):
        for noun in set(product.title_nouns):
            by_noun.setdefault(noun, []).append(i)
    return catalogue, BM25Index(catalogue.products), by_noun


def _best_options(product: Product, goal: Goal) -> dict[str, str]:
    """For each goal option, a value of ``product`` matching it, at most one per option
    name of the product (what a perfect shopper would click)."""
    chosen: dict[str, str] = {}
    for wanted in goal.options.values():
        for name, values in product.options.items():
            if name in chosen:
                continue
            match = next((v for v in values if option_hits([v], [wanted])), None)
            if match is not None:
                chosen[name] = match
                break
    return chosen


def winning_products(catalogue: Catalogue, goal: Goal,
                     by_noun: dict[str, list[int]] | None = None) -> frozenset[str]:
    """ASINs whose purchase with their best-matching options scores 1 for ``goal``."""
    if by_noun is None:
        candidates = range(len(catalogue.products))
    else:  # r_type == 1 needs a shared title noun
        candidates = sorted({i for n in goal.title_nouns for i in by_noun.get(n, [])})
    winners = set()
    for i in candidates:
        product = catalogue.products[i]
        if product.price > goal.price_upper or type_factor(product, goal) < 1.0:
            continue
        if score_purchase(product, goal, _best_options(product, goal)).score == 1.0:
            winners.add(product.asin)
    return frozenset(winners)


class WebShopEnv(TextEnv):
    """Offline Mini-WebShop (see the module docstring)."""

    DEFAULT_CONFIG: ClassVar[dict[str, Any]] = {
        "action_format": "tags", "max_steps": 10, "num_products": 100, "catalogue_seed": 0,
        "split": "train", "num_test_goals": 100, "reward_mode": "success_10",
        "search_mode": "free", "items_file": None, "attributes_file": None,
        "human_goals_file": None}
    PROMPT: ClassVar[PromptTemplate] = WEBSHOP_PROMPT
    MAX_OBS_CHARS: ClassVar[int] = 8192

    def __init__(self, env_config: dict | None = None, **kwargs: Any):
        super().__init__(env_config, **kwargs)
        cfg = self.config
        if cfg["items_file"] is None:
            key: tuple = ("generated", cfg["num_products"], cfg["catalogue_seed"])
        else:
            key = ("loaded", cfg["items_file"], cfg["attributes_file"], cfg["human_goals_file"],
                   cfg["catalogue_seed"])
        self.catalogue, self.index, self._by_noun = _index_for(key)
        self._asin_of_click = {p.asin.lower(): p.asin for p in self.catalogue.products}
        goals = self.catalogue.goals
        n_test = min(cfg["num_test_goals"], len(goals))
        self.goals: list[Goal] = {"train": goals[n_test:], "test": goals[:n_test],
                                  "all": goals}[cfg["split"]]
        if not self.goals:
            raise ValueError(f"WebShopEnv: split {cfg['split']!r} has no goals "
                             f"({len(goals)} goals, num_test_goals={cfg['num_test_goals']}); "
                             "lower num_test_goals or use a larger catalogue")
        self.reward_mode: str = cfg["reward_mode"]
        self.search_mode: str = cfg["search_mode"]
        self.listed_queries = sorted({p.query for p in self.catalogue.products})
        self.goal: Goal = self.goals[0]
        self.goal_index = 0
        self.winners: frozenset[str] = frozenset()
        self.page = "search"
        self.results: list[str] = []
        self.results_page = 1
        self.item: str | None = None
        self.sub_page_name: str | None = None
        self.chosen_options: dict[str, str] = {}
        self.task_score = 0.0
        self._clickables: list[str] = []
        self._page_text = ""
        self._pending_label = 0.0

    def validate_config(self, cfg: dict) -> None:
        super().validate_config(cfg)
        int_in_range("WebShopEnv", "num_products", cfg["num_products"], 1, MAX_NUM_PRODUCTS)
        for key in ("catalogue_seed", "num_test_goals"):
            v = cfg[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"WebShopEnv: {key} must be an int >= 0, got {v!r}")
        for key, valid in (("split", SPLITS), ("reward_mode", REWARD_MODES),
                           ("search_mode", SEARCH_MODES)):
            if cfg[key] not in valid:
                raise ValueError(f"WebShopEnv: {key} must be one of {list(valid)}, "
                                 f"got {cfg[key]!r}")
        for key in ("items_file", "attributes_file", "human_goals_file"):
            if cfg[key] is not None and not isinstance(cfg[key], str):
                raise ValueError(f"WebShopEnv: {key} must be a path string or None, "
                                 f"got {cfg[key]!r}")
        if cfg["items_file"] is None and (cfg["attributes_file"] or cfg["human_goals_file"]):
            raise ValueError("WebShopEnv: attributes_file/human_goals_file need items_file")

    @classmethod
    def extra_vocabulary(cls) -> list[str]:
        return sorted(webshop_words() | {str(i) for i in range(101)})

    def observation_charset(self) -> str:
        return string.printable + "›"

    # ------------------------------------------------------------------ pages
    def _render(self) -> str:
        instruction = self.goal.instruction
        if self.page == "search":
            text, clickables = pages.search_page(instruction)
        elif self.page == "results":
            products = [self.catalogue.by_asin[a] for a in self.results]
            text, clickables = pages.results_page(instruction, products, self.results_page)
        elif self.page == "item":
            text, clickables = pages.item_page(instruction, self.catalogue.by_asin[self.item])
        elif self.page == "sub":
            text, clickables = pages.sub_page(instruction, self.catalogue.by_asin[self.item],
                                              self.sub_page_name)
        else:
            text, clickables = pages.done_page(self.catalogue.by_asin[self.item], self.task_score)
        self._clickables = clickables
        self._page_text = text[: self.MAX_OBS_CHARS]
        return self._page_text

    def admissible_actions(self) -> list[str]:
        if self.page == "search":
            if self.search_mode == "listed":
                return [f"search[{q}]" for q in self.listed_queries]
            return [SEARCH_PATTERN]
        return [f"click[{c}]" for c in self._clickables]

    def format_example_action(self, rng) -> str:
        """For the format warm-up: on the search page in ``free`` mode, ``search[...]``
        with 1-4 random words of the instruction (a filled-in query, never the
        placeholder); elsewhere a uniformly random admissible action."""
        actions = self.admissible_actions()
        if actions != [SEARCH_PATTERN]:
            return rng.choice(actions)
        words = [w for w in self.goal.instruction.lower().split() if w.isalpha()] or ["item"]
        return f"search[{' '.join(rng.choice(words) for _ in range(rng.randint(1, 4)))}]"

    def _shown_results(self) -> set[str]:
        start = (self.results_page - 1) * pages.RESULTS_PER_PAGE
        return set(self.results[start: start + pages.RESULTS_PER_PAGE])

    # ------------------------------------------------------------------ hooks
    def reset_task(self, task_seed: int, options: dict | None) -> str:
        if options and "goal_index" in options:
            index = int_in_range("WebShopEnv", "goal_index", options["goal_index"], 0,
                                 len(self.goals) - 1)
        else:
            index = random.Random(task_seed).randrange(len(self.goals))
        self.goal_index, self.goal = index, self.goals[index]
        self.winners = winning_products(self.catalogue, self.goal, self._by_noun)
        self.page, self.results, self.results_page = "search", [], 1
        self.item, self.sub_page_name, self.chosen_options = None, None, {}
        self.task_score, self._pending_label = 0.0, 0.0
        return self._render()

    def apply_action(self, action: str) -> tuple[str, float, bool, bool]:
        if action.startswith("search["):
            self.results = self.index.search(action[len("search["):-1])
            self.page, self.results_page = "results", 1
            self._pending_label = 1.0 if self.winners & set(self.results) else -1.0
            return self._render(), 0.0, False, False
        target = action[len("click["):-1]
        label, reward, terminated, won = 0.0, 0.0, False, False
        if target == pages.BACK_TO_SEARCH.lower():
            self.page, self.results, self.results_page = "search", [], 1
        elif target in (pages.NEXT.lower(), pages.PREV.lower()) and self.page == "results":
            before = bool(self._shown_results() & self.winners)
            self.results_page += 1 if target == pages.NEXT.lower() else -1
            label = 1.0 if (self._shown_results() & self.winners and not before) else 0.0
        elif target == pages.PREV.lower():
            self.page = "item" if self.page == "sub" else "results"
        elif self.page == "results":
            asin = self._asin_of_click[target]
            self.page, self.item, self.chosen_options = "item", asin, {}
            label = 1.0 if asin in self.winners else -1.0
        elif target == pages.BUY_NOW.lower():
            product = self.catalogue.by_asin[self.item]
            self.task_score = score_purchase(product, self.goal, self.chosen_options).score
            won = self.task_score == 1.0
            reward = (SUCCESS_REWARD if won else 0.0) if self.reward_mode == "success_10" \
                else self.task_score
            self.page, terminated = "done", True
            label = 1.0 if won else -1.0
        elif target in (s.lower() for s in pages.ITEM_SUB_PAGES):
            self.page, self.sub_page_name = "sub", target
        else:
            label = self._choose_option(target)
        self._pending_label = label
        return self._render(), reward, terminated, won

    def _choose_option(self, value: str) -> float:
        """Set the option holding ``value`` on the current item; returns the step label."""
        product = self.catalogue.by_asin[self.item]
        name = next(n for n, values in product.options.items()
                    if value in (v.lower() for v in values))
        matched_before = {w for w in self.goal.options.values()
                          if option_hits(list(self.chosen_options.values()), [w])}
        self.chosen_options[name] = value
        if self.item not in self.winners:
            return 0.0
        wanted = [w for w in self.goal.options.values() if option_hits([value], [w])]
        if wanted:
            return 0.0 if all(w in matched_before for w in wanted) else 1.0
        return -1.0 if name in self.goal.options else 0.0

    def noop(self) -> tuple[str, float]:
        self._pending_label = 0.0
        return self._page_text, 0.0

    def oracle_step_label(self, action: str | None) -> float:
        return 0.0 if action is None else self._pending_label

    def step_info(self, parsed: ParsedAction) -> dict:
        info = super().step_info(parsed)
        info["task_score"] = self.task_score
        return info

    def task_id(self) -> str:
        return f"webshop-{self.config['split']}-g{self.goal_index}"
