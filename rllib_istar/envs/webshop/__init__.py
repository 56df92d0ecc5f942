"""Mini-WebShop: an offline, closed-vocabulary WebShop (``rllib_istar/WebShop-v0``).

* ``catalogue.py``: seeded products and goals (and the real-data ``Product``/``Goal``);
* ``loader.py``: the real WebShop ``items_*.json`` and instruction files;
* ``search.py``: BM25 over the reference's document fields;
* ``reward.py`` (with ``fuzzy.py``): the reference's purchase score;
* ``pages.py``: the ``[SEP]`` text pages and their clickables;
* ``vocabulary.py``: every token pages and actions can contain;
* ``env.py``: :class:`WebShopEnv`.

Pure Python; no Ray import.
"""
from __future__ import annotations

from .catalogue import Catalogue, Goal, Product, generate_catalogue
from .env import WebShopEnv
from .loader import load_catalogue
from .reward import score_purchase
from .search import BM25Index

__all__ = ["WebShopEnv", "Catalogue", "Goal", "Product", "generate_catalogue",
           "load_catalogue", "score_purchase", "BM25Index"]
