"""Mini-WebShop BM25 search: the reference's fields, top 50, determinism, tie-breaking."""
import math
import time

from rllib_istar.envs.webshop.catalogue import Product, generate_catalogue
from rllib_istar.envs.webshop.search import TOP_K, BM25Index, search_document, tokenize


def make_product(i, title, description="plain", bullets=("first bullet", "second secret"),
                 options=None):
    return Product(asin=f"b0{i:08d}", category="c", product_category="c › s › t", query="t",
                   title=title, description=description, bullets=bullets, pricing=(9.99,),
                   price=9.99, options=options or {}, attributes=(), title_nouns=())


def test_the_document_holds_title_description_first_bullet_and_options():
    p = make_product(0, "Acme Lamp", "bright", options={"color": ("red", "oak"), "style": ("pro",)})
    assert search_document(p) == "acme lamp bright first bullet color: red, oak, and style: pro"


def test_only_indexed_fields_are_searchable():
    index = BM25Index([make_product(0, "lamp", options={"color": ("red",)})])
    assert index.search("red") == ["b000000000"]
    assert index.search("secret") == []  # the second bullet is not indexed
    assert index.search("") == [] and index.search("[]?!") == []


def test_bm25_score_by_hand():
    """One matching document among three: Lucene's idf and pyserini's k1=0.9, b=0.4."""
    docs = [make_product(0, "lamp lamp"), make_product(1, "chair"), make_product(2, "sofa")]
    index = BM25Index(docs)
    lengths = [len(tokenize(search_document(d))) for d in docs]
    avg = sum(lengths) / 3
    idf = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
    tf = 2
    expected = idf * tf * 1.9 / (tf + 0.9 * (1 - 0.4 + 0.4 * lengths[0] / avg))
    assert index.scores("lamp") == {0: expected}


def test_ties_are_broken_by_catalogue_order():
    docs = [make_product(i, "same lamp") for i in (5, 3, 9)]
    assert BM25Index(docs).search("lamp") == ["b000000005", "b000000003", "b000000009"]


def test_ranking_prefers_more_matching_terms_and_caps_at_top_k():
    docs = [make_product(i, f"lamp {'desk' if i == 70 else 'other'}") for i in range(80)]
    results = BM25Index(docs).search("desk lamp")
    assert len(results) == TOP_K and results[0] == "b000000070"


def test_search_is_deterministic_for_a_seed():
    a, b = generate_catalogue(300, seed=4), generate_catalogue(300, seed=4)
    queries = ["running shoes", "gluten free granola bar", "red", "noise cancelling headphones"]
    assert [BM25Index(a.products).search(q) for q in queries] == \
        [BM25Index(b.products).search(q) for q in queries]
    assert BM25Index(a.products).search("running shoes") != \
        BM25Index(generate_catalogue(300, seed=5).products).search("running shoes")


def test_index_build_and_query_time_is_reported():
    products = generate_catalogue(1000, seed=0).products
    t0 = time.perf_counter()
    index = BM25Index(products)
    build_ms = 1e3 * (time.perf_counter() - t0)
    queries = [p.query for p in products[:100]] + [p.title for p in products[:100]]
    t0 = time.perf_counter()
    for q in queries:
        index.search(q)
    query_ms = 1e3 * (time.perf_counter() - t0) / len(queries)
    print(f"\nBM25 over 1000 products: build {build_ms:.1f} ms, query {query_ms:.3f} ms")
