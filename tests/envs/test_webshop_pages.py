"""Mini-WebShop pages: the reference's ``[SEP]`` text and clickables, on hand-made products."""
import pytest

from rllib_istar.envs.webshop import pages
from rllib_istar.envs.webshop.catalogue import Product

INSTRUCTION = "i need a red lamp"


def product(i, title="acme desk lamp", pricing=(9.99,), options=None):
    return Product(
        asin=f"b0{i:08d}", category="furniture", product_category="furniture › office › desk lamp",
        query="desk lamp", title=title, description="this desk lamp is bright",
        bullets=("bright desk lamp", "made by acme"), pricing=pricing, price=pricing[0],
        options=options if options is not None else {"color": ("red", "oak"), "style": ("pro",)},
        attributes=("bright", "easy clean"), title_nouns=("acme", "desk", "lamp"))


def test_search_page():
    text, clickables = pages.search_page(INSTRUCTION)
    assert text == "WebShop [SEP] Instruction: [SEP] i need a red lamp [SEP] Search"
    assert clickables == []


def test_results_page_one_of_three():
    results = [product(i) for i in range(23)]
    text, clickables = pages.results_page(INSTRUCTION, results, 1)
    head = ("WebShop [SEP] Instruction: [SEP] i need a red lamp [SEP] Back to Search [SEP] "
            "Page 1 (Total results: 23) [SEP] Next > [SEP] B000000000 [SEP] acme desk lamp "
            "[SEP] $9.99 [SEP] B000000001")
    assert text.startswith(head)
    assert text.count(" [SEP] B0") == 10 and "< Prev" not in text
    assert clickables == ["back to search", "next >"] + [f"b0{i:08d}" for i in range(10)]


def test_results_last_page_and_price_range():
    results = [product(i) for i in range(22)] + [product(22, pricing=(4.99, 14.99))]
    text, clickables = pages.results_page(INSTRUCTION, results, 3)
    assert text.endswith("Back to Search [SEP] Page 3 (Total results: 23) [SEP] < Prev [SEP] "
                         "B000000020 [SEP] acme desk lamp [SEP] $9.99 [SEP] B000000021 [SEP] "
                         "acme desk lamp [SEP] $9.99 [SEP] B000000022 [SEP] acme desk lamp "
                         "[SEP] $4.99 to $14.99")
    assert clickables == ["back to search", "< prev", "b000000020", "b000000021", "b000000022"]


def test_results_page_without_results():
    text, clickables = pages.results_page(INSTRUCTION, [], 1)
    assert text.endswith("Back to Search [SEP] Page 1 (Total results: 0)")
    assert clickables == ["back to search"]


def test_item_page():
    text, clickables = pages.item_page(INSTRUCTION, product(7))
    assert text == ("WebShop [SEP] Instruction: [SEP] i need a red lamp [SEP] Back to Search "
                    "[SEP] < Prev [SEP] color [SEP] red [SEP] oak [SEP] style [SEP] pro [SEP] "
                    "acme desk lamp [SEP] Price: $9.99 [SEP] Rating: N.A. [SEP] Description "
                    "[SEP] Features [SEP] Reviews [SEP] Buy Now")
    assert clickables == ["back to search", "< prev", "red", "oak", "pro", "description",
                          "features", "reviews", "buy now"]


@pytest.mark.parametrize("name,body", [
    ("description", "this desk lamp is bright"),
    ("Features", "bright desk lamp [SEP] made by acme"),
    ("reviews", None),
    ("attributes", "bright [SEP] easy clean")])
def test_sub_pages(name, body):
    text, clickables = pages.sub_page(INSTRUCTION, product(1), name)
    head = "WebShop [SEP] Instruction: [SEP] i need a red lamp [SEP] Back to Search [SEP] < Prev"
    assert text == (head if body is None else f"{head} [SEP] {body}")
    assert clickables == ["back to search", "< prev"]
    with pytest.raises(ValueError, match="unknown sub-page"):
        pages.sub_page(INSTRUCTION, product(1), "specs")


def test_done_page():
    text, clickables = pages.done_page(product(3), 0.8)
    assert text == ("Thank you for shopping with us! [SEP] Purchased [SEP] B000000003 [SEP] "
                    "Your score (min 0.0, max 1.0) [SEP] 0.80")
    assert clickables == []
