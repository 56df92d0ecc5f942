"""Pages rendered straight to the reference's text observation (``observation_mode='text'``).

The reference renders HTML and keeps every visible text node, stripped and joined with
``" [SEP] "``; these functions build the same strings. Every page starts with
``WebShop [SEP] Instruction: [SEP] <instruction>``; then:

* search: ``Search`` (the search box; the only page where ``search[...]`` works);
* results: ``Back to Search [SEP] Page k (Total results: n)``, ``< Prev`` from page 2,
  ``Next >`` while a later page exists, then per product (10 a page) its ASIN (upper
  case), title and price tag (``$x`` or ``$x to $y``);
* item: ``Back to Search [SEP] < Prev``, each option name followed by its values,
  the title, ``Price: ...``, ``Rating: N.A.``, ``Description [SEP] Features [SEP] Reviews
  [SEP] Buy Now`` (the reference's item template has no Attributes button; the sub-page
  is kept for completeness);
* sub-page (description, features, reviews, attributes): ``Back to Search [SEP] < Prev``
  then its text (features: one part per bullet; reviews: none in the generated
  catalogue);
* done: ``Thank you for shopping with us! [SEP] Purchased [SEP] <ASIN> [SEP] Your score
  (min 0.0, max 1.0) [SEP] <score to 2 decimals>`` (a shortened reference done page).

Each function returns ``(text, clickables)``: clickables are lower-cased like the
reference's (buttons, product links, option values); the env offers ``click[<x>]`` for
each. Chosen options are not shown, as in the reference's text mode.
"""
from __future__ import annotations

from typing import Sequence

from .catalogue import Product
from .search import RESULTS_PER_PAGE

__all__ = ["SEP", "BACK_TO_SEARCH", "PREV", "NEXT", "BUY_NOW", "SUB_PAGES", "ITEM_SUB_PAGES",
           "NO_REVIEWS", "UI_TEXT", "search_page", "results_page", "item_page", "sub_page",
           "done_page", "num_result_pages"]

SEP = " [SEP] "
BACK_TO_SEARCH, PREV, NEXT, BUY_NOW = "Back to Search", "< Prev", "Next >", "Buy Now"
SUB_PAGES = ("Description", "Features", "Reviews", "Attributes")
#: The sub-page buttons on the item page (the reference's template).
ITEM_SUB_PAGES = SUB_PAGES[:3]
NO_REVIEWS = ""
DONE_HEADER = "Thank you for shopping with us!"
SCORE_LABEL = "Your score (min 0.0, max 1.0)"
#: Every fixed string a page can show (for the vocabulary).
UI_TEXT = ("WebShop", "Instruction:", "Search", BACK_TO_SEARCH, PREV, NEXT, BUY_NOW,
           "Page (Total results:", "Price:", "Rating: N.A.", *SUB_PAGES, DONE_HEADER,
           "Purchased", SCORE_LABEL)


def _header(instruction: str) -> list[str]:
    return ["WebShop", "Instruction:", instruction]


def _join(parts: Sequence[str]) -> str:
    return SEP.join(p for p in parts if p)


def num_result_pages(num_results: int) -> int:
    """Pages of :data:`RESULTS_PER_PAGE` results (1 for no results)."""
    return max(1, -(-num_results // RESULTS_PER_PAGE))


def search_page(instruction: str) -> tuple[str, list[str]]:
    """The start page: instruction and the search box (no clickables)."""
    return _join([*_header(instruction), "Search"]), []


def results_page(instruction: str, results: Sequence[Product], page: int) -> tuple[str, list[str]]:
    """Page ``page`` (1-based) of ``results`` (the ranked products)."""
    shown = results[(page - 1) * RESULTS_PER_PAGE: page * RESULTS_PER_PAGE]
    parts = [*_header(instruction), BACK_TO_SEARCH,
             f"Page {page} (Total results: {len(results)})"]
    clickables = [BACK_TO_SEARCH.lower()]
    if page > 1:
        parts.append(PREV)
        clickables.append(PREV.lower())
    if page < num_result_pages(len(results)):
        parts.append(NEXT)
        clickables.append(NEXT.lower())
    for product in shown:
        parts += [product.asin.upper(), product.title, product.price_tag]
        clickables.append(product.asin.lower())
    return _join(parts), clickables


def item_page(instruction: str, product: Product) -> tuple[str, list[str]]:
    """The product page: options, title, price, sub-page buttons and Buy Now."""
    parts = [*_header(instruction), BACK_TO_SEARCH, PREV]
    clickables = [BACK_TO_SEARCH.lower(), PREV.lower()]
    for name, values in product.options.items():
        parts += [name, *values]
        clickables += [v.lower() for v in values]
    parts += [product.title, f"Price: {product.price_tag}", "Rating: N.A.", *ITEM_SUB_PAGES,
              BUY_NOW]
    clickables += [s.lower() for s in ITEM_SUB_PAGES] + [BUY_NOW.lower()]
    return _join(parts), clickables


def sub_page(instruction: str, product: Product, name: str) -> tuple[str, list[str]]:
    """The ``name`` sub-page of ``product`` (one of :data:`SUB_PAGES`, any case)."""
    key = name.lower()
    if key == "description":
        body = [product.description]
    elif key == "features":
        body = list(product.bullets)
    elif key == "reviews":
        body = [NO_REVIEWS]
    elif key == "attributes":
        body = list(product.attributes)
    else:
        raise ValueError(f"unknown sub-page {name!r}; valid: {list(SUB_PAGES)}")
    return _join([*_header(instruction), BACK_TO_SEARCH, PREV, *body]), \
        [BACK_TO_SEARCH.lower(), PREV.lower()]


def done_page(product: Product, score: float) -> tuple[str, list[str]]:
    """After Buy Now: the purchased ASIN and the score (the episode is over)."""
    return _join([DONE_HEADER, "Purchased", product.asin.upper(), SCORE_LABEL,
                  f"{score:.2f}"]), []
