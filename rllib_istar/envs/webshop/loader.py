"""Load the real WebShop data files into a :class:`~.catalogue.Catalogue`.

The reference data (``webshop/setup.sh`` fetches it from Google Drive; it is on no
package registry) is not shipped here; users who hold it point ``WebShopEnv`` at it
with ``items_file``, ``attributes_file`` and optionally ``human_goals_file``.

Schema read (from the reference's ``web_agent_site/engine/engine.py::load_products``
and ``engine/goal.py``, as summarised in the project notes; assumptions marked *):

* ``items_file`` (``items_shuffle_1000.json`` / ``items_shuffle.json``): a JSON list of
  products with ``asin``, ``name`` (title), ``full_description``, ``small_description``
  (bullets: a list or one string), ``pricing`` (a string such as ``"$12.99"`` or
  ``"$10.99 to $15.99"``: the numbers after each ``$``; missing or empty means 100.0),
  ``category``, ``query``, ``product_category`` (``a › b › c``) and
  ``customization_options`` (name -> list of ``{"value": ..., "image": ...}`` or null).
  Products whose ``asin`` is ``"nan"``, longer than 10 characters or repeated are
  skipped, as in the reference. Option names and values are lower-cased, values
  stripped and ``/`` replaced by `` | ``.
* ``attributes_file`` (``items_ins_v2_1000.json``): a JSON object asin ->
  ``{"attributes": [...], "instruction": str, "instruction_attributes": [...]}``.
  A product's ``Attributes`` are its ``attributes`` (``["DUMMY_ATTR"]`` when absent).
  Synthetic goals (the reference's default) are made for products with an
  ``instruction``: one goal per combination of option values, text
  ``instruction + " with name: value, and ..." + price clause``.
* ``human_goals_file`` (``items_human_ins.json``): a JSON object asin -> list of
  ``{"instruction": str, "instruction_attributes": [...], "instruction_options": ...}``;
  when given, these replace the synthetic goals (entries without attributes are
  skipped; the instruction loses trailing dots before the price clause).
  *``instruction_options`` may be a dict (name -> value) or a list of values; a list
  becomes ``{"option 0": v0, ...}`` (only the values are scored).

Prices of ranges are drawn once per product with ``random.Random(seed)`` (the reference
draws with the global RNG); price ceilings use the same RNG; goals are shuffled with
seed 233. *Title nouns (the reward's type factor, spaCy NOUN/PROPN in the reference)
are approximated by the title's alphabetic words of 2+ letters minus
:data:`STOP_WORDS`. Reviews and ratings are not loaded.
"""
from __future__ import annotations

import itertools
import json
import random
import re
from typing import Any

from .catalogue import (
    GOAL_SHUFFLE_SEED,
    Catalogue,
    Goal,
    Product,
    price_ceiling,
    price_clause,
)

__all__ = ["load_catalogue", "parse_pricing", "title_nouns", "STOP_WORDS", "DEFAULT_PRICE"]

#: The reference's price for a product without pricing.
DEFAULT_PRICE = 100.0
STOP_WORDS = frozenset(
    "a an and the of for with in on to by from or is are this that your our new set "
    "pack pcs inch oz ml lb".split())
_WORD = re.compile(r"[a-z]{2,}")


def parse_pricing(pricing: Any) -> tuple[float, ...]:
    """``"$12.99"`` -> (12.99,); ``"$10.99 to $15.99"`` -> (10.99, 15.99); empty -> (100.0,)."""
    if not pricing:
        return (DEFAULT_PRICE,)
    if isinstance(pricing, (int, float)):
        return (float(pricing),)
    values = []
    for part in str(pricing).split("$")[1:]:
        digits = re.sub(r"[^\d.]", "", part)
        if digits:
            values.append(float(digits))
    return tuple(values[:2]) or (DEFAULT_PRICE,)


def title_nouns(title: str) -> tuple[str, ...]:
    """Stand-in for spaCy's NOUN/PROPN tokens of a real title (see the module docstring)."""
    return tuple(w for w in _WORD.findall(title.lower()) if w not in STOP_WORDS)


def _read_json(path: str | None) -> Any:
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _product(raw: dict, attributes: dict, rng: random.Random) -> Product:
    options: dict[str, tuple[str, ...]] = {}
    for name, contents in (raw.get("customization_options") or {}).items():
        if contents is None:
            continue
        options[name.lower()] = tuple(c["value"].strip().replace("/", " | ").lower()
                                      for c in contents)
    bullets = raw.get("small_description") or []
    bullets = tuple(bullets) if isinstance(bullets, list) else (str(bullets),)
    pricing = parse_pricing(raw.get("pricing"))
    price = pricing[0] if len(pricing) == 1 else rng.uniform(*pricing)
    entry = attributes.get(raw["asin"]) or {}
    title = raw.get("name") or ""
    return Product(
        asin=raw["asin"], category=raw.get("category", ""),
        product_category=raw.get("product_category", ""),
        query=str(raw.get("query", "")).lower().strip(), title=title,
        description=raw.get("full_description") or "", bullets=bullets or ("",),
        pricing=pricing, price=price, options=options,
        attributes=tuple(entry.get("attributes") or ["DUMMY_ATTR"]),
        title_nouns=title_nouns(title))


def _goal(product: Product, instruction: str, attributes, options: dict[str, str],
          price_upper: float) -> Goal:
    return Goal(asin=product.asin, instruction=instruction, attributes=tuple(attributes),
                options=dict(options), price_upper=price_upper, query=product.query,
                product_category=product.product_category, title=product.title,
                title_nouns=product.title_nouns, category=product.category)


def _synthetic_goals(product: Product, entry: dict, rng: random.Random) -> list[Goal]:
    instruction = entry.get("instruction")
    attributes = entry.get("instruction_attributes") or []
    if not instruction or not attributes:
        return []
    price_upper = price_ceiling(product.price, rng)
    names = sorted(product.options)
    goals = []
    for values in itertools.product(*(product.options[n] for n in names)):
        option_text = ", and ".join(f"{n}: {v}" for n, v in zip(names, values))
        option_text = f" with {option_text}" if option_text else ""
        goals.append(_goal(product, f"{instruction}{option_text}{price_clause(price_upper)}",
                           attributes, dict(zip(names, values)), price_upper))
    return goals


def _human_goals(product: Product, entries: list, rng: random.Random) -> list[Goal]:
    goals = []
    for entry in entries or []:
        attributes = entry.get("instruction_attributes") or []
        if not attributes:
            continue
        price_upper = price_ceiling(product.price, rng)
        options = entry.get("instruction_options") or {}
        if not isinstance(options, dict):
            options = {f"option {i}": str(v) for i, v in enumerate(options)}
        instruction = entry["instruction"].strip(".") + price_clause(price_upper)
        goals.append(_goal(product, instruction, attributes, options, price_upper))
    return goals


def load_catalogue(items_file: str, attributes_file: str | None = None,
                   human_goals_file: str | None = None, seed: int = 0) -> Catalogue:
    """Products from ``items_file`` and goals (synthetic from ``attributes_file``, or
    human from ``human_goals_file``), shuffled with seed 233."""
    raw_items = _read_json(items_file)
    if not isinstance(raw_items, list):
        raise ValueError(f"{items_file}: expected a JSON list of products")
    attributes = _read_json(attributes_file) or {}
    human = _read_json(human_goals_file)
    rng = random.Random(seed)
    products, seen = [], set()
    for raw in raw_items:
        asin = str(raw.get("asin", "nan"))
        if asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        products.append(_product(dict(raw, asin=asin), attributes, rng))
    goals: list[Goal] = []
    for product in products:
        if human is not None:
            goals += _human_goals(product, human.get(product.asin), rng)
        else:
            goals += _synthetic_goals(product, attributes.get(product.asin) or {}, rng)
    random.Random(GOAL_SHUFFLE_SEED).shuffle(goals)
    return Catalogue(products=products, goals=goals)
