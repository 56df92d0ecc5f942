"""BM25 product search over the reference's document fields.

The reference indexes one Lucene document per product (pyserini, ``JsonCollection``):
``" ".join([title, description, bullets[0], option_text]).lower()`` where
``option_text`` is ``", and ".join(f"{name}: {', '.join(values)}")``. It returns the
top 50 hits, shown 10 per page.

This is a small pure-Python BM25 with Lucene's formula and pyserini's default
parameters (``k1=0.9``, ``b=0.4``): ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``,
``score = sum over query tokens of idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))``.
Differences from Lucene, on purpose: tokens are ``[a-z0-9]+`` runs with no stemming
and no stop words; only documents sharing at least one token with the query are hits;
ties are broken by catalogue index (lower first), so results are deterministic.
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Sequence

from .catalogue import Product

__all__ = ["TOP_K", "RESULTS_PER_PAGE", "BM25Index", "search_document", "tokenize"]

TOP_K = 50
RESULTS_PER_PAGE = 10
_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased ``[a-z0-9]+`` runs."""
    return _TOKEN.findall(text.lower())


def search_document(product: Product) -> str:
    """The reference's indexed text of ``product`` (lower-cased)."""
    option_text = ", and ".join(f"{name}: {', '.join(values)}"
                                for name, values in product.options.items())
    first_bullet = product.bullets[0] if product.bullets else ""
    return " ".join([product.title, product.description, first_bullet, option_text]).lower()


class BM25Index:
    """An inverted index over ``products``; :meth:`search` returns ASINs, best first."""

    def __init__(self, products: Sequence[Product], k1: float = 0.9, b: float = 0.4):
        self.asins = [p.asin for p in products]
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.doc_lengths: list[int] = []
        for doc_id, product in enumerate(products):
            tokens = tokenize(search_document(product))
            self.doc_lengths.append(len(tokens))
            for term, tf in Counter(tokens).items():
                self.postings[term].append((doc_id, tf))
        num_docs = len(self.asins)
        self.avg_length = sum(self.doc_lengths) / num_docs if num_docs else 0.0
        self.idf = {term: math.log(1.0 + (num_docs - len(post) + 0.5) / (len(post) + 0.5))
                    for term, post in self.postings.items()}

    def scores(self, query: str) -> dict[int, float]:
        """doc index -> BM25 score of every document sharing a token with ``query``."""
        k1, b, avg = self.k1, self.b, self.avg_length or 1.0
        totals: dict[int, float] = defaultdict(float)
        for term in tokenize(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for doc_id, tf in self.postings[term]:
                norm = k1 * (1.0 - b + b * self.doc_lengths[doc_id] / avg)
                totals[doc_id] += idf * tf * (k1 + 1.0) / (tf + norm)
        return totals

    def search(self, query: str, top_k: int = TOP_K) -> list[str]:
        """The ASINs of the ``top_k`` best hits (score descending, then catalogue order)."""
        ranked = sorted(self.scores(query).items(), key=lambda kv: (-kv[1], kv[0]))
        return [self.asins[doc_id] for doc_id, _ in ranked[:top_k]]
