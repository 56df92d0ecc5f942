"""The closed word list of Mini-WebShop (for the project's word-level tiny tokenizer).

A word-level tokenizer splits on whitespace, so punctuation glued to a word makes a
different token: ``search[red``, ``shoes]``, ``red,`` and ``color:`` are all words. This
module lists every whitespace-separated token the generated pages, instructions and
actions can contain:

* the pages' fixed text (``pages.UI_TEXT``), page numbers, ``n)`` result counts,
  shown prices (``$x.99``), price ceilings (``X.00``) and scores (``0.00`` .. ``1.00``);
* catalogue words (``catalogue.catalogue_words``), option names with ``:`` and option
  values' last words with ``,`` (as in ``with color: red, and size: large``);
* ASINs of the first :data:`VOCAB_MAX_PRODUCTS` products, upper case (pages) and in
  ``click[...]`` (actions); larger catalogues are fine for real tokenizers, but their
  extra ids are outside this list;
* actions: ``click[...]`` of every clickable, ``search[w``, ``w]`` and ``search[w]`` for
  every catalogue word ``w`` (free queries made of catalogue words), and the pattern
  entry ``search[<your query>]``.

Data loaded from real WebShop files (``loader.py``) is open-vocabulary: use a real
tokenizer with it.
"""
from __future__ import annotations

from .catalogue import (
    CATEGORIES,
    PRICE_CEILINGS,
    PRICE_POINTS,
    TWIN_PRICE_STEP,
    asin_for,
    catalogue_words,
)
from .pages import BACK_TO_SEARCH, BUY_NOW, ITEM_SUB_PAGES, NEXT, PREV, SEP, UI_TEXT
from .search import RESULTS_PER_PAGE, TOP_K

__all__ = ["VOCAB_MAX_PRODUCTS", "SEARCH_PATTERN", "webshop_words", "action_words"]

#: ASINs covered by the vocabulary: the env's default ``num_products``.
VOCAB_MAX_PRODUCTS = 100
#: The admissible pattern entry of a page with a search box (``parsing.py``).
SEARCH_PATTERN = "search[<your query>]"


def action_words(action: str) -> list[str]:
    """The whitespace tokens of one action text."""
    return action.split()


def _click_tokens(clickable: str) -> list[str]:
    return action_words(f"click[{clickable}]")


def webshop_words() -> set[str]:
    """Every token Mini-WebShop observations and actions can contain (see the docstring)."""
    words: set[str] = {w for text in (*UI_TEXT, SEP) for w in text.split()}
    words |= {str(i) for i in range(TOP_K // RESULTS_PER_PAGE + 2)}
    words |= {f"{i})" for i in range(TOP_K + 1)}
    prices = set(PRICE_POINTS) | {p + step for p in PRICE_POINTS for step in (10, TWIN_PRICE_STEP)}
    words |= {f"${p:.2f}" for p in prices}
    words |= {f"{c:.2f}" for c in PRICE_CEILINGS[:16]}
    words |= {f"{i / 100:.2f}" for i in range(101)}
    content = catalogue_words()
    words |= content
    for spec in CATEGORIES.values():
        for name, values in spec["options"].items():
            words.add(f"{name}:")
            words |= {f"{v.split()[-1]}," for v in values}
            for value in values:
                words.update(_click_tokens(value))
    for i in range(VOCAB_MAX_PRODUCTS):
        words.add(asin_for(i).upper())
        words.update(_click_tokens(asin_for(i)))
    for button in (BACK_TO_SEARCH, PREV, NEXT, BUY_NOW, *ITEM_SUB_PAGES):
        words.update(_click_tokens(button.lower()))
    for w in content:
        words |= {f"search[{w}", f"{w}]", f"search[{w}]"}
    words.update(action_words(SEARCH_PATTERN))
    return words
