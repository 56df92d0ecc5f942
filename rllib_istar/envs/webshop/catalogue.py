"""Seeded Mini-WebShop catalogue: products, goals and the closed word lists.

The reference WebShop scrapes ~1.2M Amazon products; this module generates a small,
closed-vocabulary stand-in in the same shape (``Product``, ``Goal``), so search, choice,
options and budget all matter:

* 5 categories (like the reference's beauty, electronics, fashion, food, furniture),
  each with 2 sub-categories of 2 product **types** (the ``query``, the type noun), a
  per-category attribute vocabulary and option names with values.
* A product: ASIN-like id ``b0`` + 8 digits (``b000000042``: product index 42), the
  breadcrumb ``category › sub › type``, a title ``brand + attribute words + type``,
  a description, bullets, a price (or a price range) from a fixed grid, options
  (2 to 4 values per option name) and 3 to 4 attributes.
* Distractors, by construction: products of one type differ in their attributes
  (same type, other attributes); types of one category share the attribute
  vocabulary (same attributes, other type); about a third of the cheap fixed-price
  products get an **over-budget twin** (same type, attributes and options, price +45 dollars, which is
  above any ceiling of the original's goals).
* Goals follow the reference's synthetic goals: one goal per product per combination
  of its option values; the goal's attributes are a subset (1 to 3) of the product's;
  the instruction is a template sentence, plus ``" with <name>: <value>, and ..."``,
  plus the price clause; goals are shuffled with the reference's fixed seed 233.
* Price ceiling (reference ``goal.py``): the first 4 multiples of 10 above the price,
  sample 2, keep the larger, append ``", and price lower than X.00 dollars"``; with
  fewer than 2 candidates there is no ceiling (``NO_PRICE_CEILING``).

All generated text is lower case (the reference's clickables and search documents are
lower-cased anyway), and every word comes from the lists below, so
:func:`catalogue_words` is complete (see ``vocabulary.py``).
"""
from __future__ import annotations

import functools
import itertools
import random
from dataclasses import dataclass, field

from ..config_checks import int_in_range

__all__ = ["Product", "Goal", "Catalogue", "CATEGORIES", "BRANDS", "COLOR_VALUES",
           "PRICE_POINTS", "PRICE_CEILINGS", "NO_PRICE_CEILING", "GOAL_SHUFFLE_SEED",
           "DEFAULT_NUM_PRODUCTS", "MAX_NUM_PRODUCTS", "INSTRUCTION_TEMPLATES",
           "asin_for", "price_ceiling", "generate_catalogue", "cached_catalogue",
           "catalogue_words"]

#: Separator of ``product_category`` breadcrumbs (the reference's).
BREADCRUMB_SEP = " › "
#: ``price_upper`` of a goal without a ceiling (reference: 1000000).
NO_PRICE_CEILING = 1_000_000.0
#: The reference shuffles its goals with ``random.seed(233)``.
GOAL_SHUFFLE_SEED = 233
DEFAULT_NUM_PRODUCTS = 300
MAX_NUM_PRODUCTS = 5000
#: Shown prices: whole dollars ending in .99, 4.99 .. 99.99 in steps of 5.
PRICE_POINTS: tuple[float, ...] = tuple(d + 0.99 for d in range(4, 100, 5))
#: The reference's candidate ceilings (``PRICE_RANGE = [10.0 * i for i in range(1, 100)]``).
PRICE_CEILINGS: tuple[float, ...] = tuple(10.0 * i for i in range(1, 100))
#: Twins are this many dollars dearer: above every ceiling of the original's goals (<= +40).
TWIN_PRICE_STEP = 45

BRANDS: tuple[str, ...] = ("acme", "nordic", "zenith", "orbit", "maple", "vista", "lumen",
                           "crest")
#: No value contains another (``token_set_ratio`` would score "navy blue" 100 against "blue").
COLOR_VALUES: tuple[str, ...] = ("black", "white", "red", "blue", "green", "grey", "pink",
                                 "beige")

#: category -> sub-categories -> types, attribute vocabulary, options (name -> values).
CATEGORIES: dict[str, dict] = {
    "beauty": {
        "subs": {"skin care": ("face cream", "body lotion"), "hair care": ("shampoo", "hair oil")},
        "attributes": ("paraben free", "long lasting", "sensitive skin", "natural ingredients",
                       "cruelty free", "fragrance free"),
        "options": {"scent": ("lavender", "rose", "vanilla", "unscented"),
                    "size": ("small", "medium", "large", "travel size")},
    },
    "electronics": {
        "subs": {"audio": ("headphones", "speaker"), "accessories": ("phone case", "charger")},
        "attributes": ("noise cancelling", "fast charging", "wireless", "water resistant",
                       "long battery life", "easy to use"),
        "options": {"color": COLOR_VALUES[:6], "style": ("basic", "pro", "mini", "max")},
    },
    "fashion": {
        "subs": {"shoes": ("running shoes", "sandals"), "clothing": ("t-shirt", "jacket")},
        "attributes": ("machine wash", "lightweight", "non slip", "breathable",
                       "water resistant", "quick drying"),
        "options": {"color": COLOR_VALUES, "size": ("small", "medium", "large", "petite")},
    },
    "food": {
        "subs": {"snacks": ("granola bar", "trail mix"), "drinks": ("green tea", "coffee")},
        "attributes": ("gluten free", "low sugar", "non gmo", "high protein", "ready to eat",
                       "keto friendly"),
        "options": {"flavor": ("chocolate", "vanilla", "honey", "berry"),
                    "size": ("single", "twin pack", "family pack")},
    },
    "furniture": {
        "subs": {"living room": ("sofa", "bookshelf"), "office": ("desk chair", "desk lamp")},
        "attributes": ("easy assembly", "solid wood", "space saving", "adjustable height",
                       "heavy duty", "easy clean"),
        "options": {"color": ("black", "white", "grey", "brown", "oak"),
                    "style": ("modern", "classic", "rustic")},
    },
}

#: Instruction openings; ``{attributes}`` are the goal attributes joined by " and ".
INSTRUCTION_TEMPLATES: tuple[str, ...] = (
    "i am looking for {attributes} {type}",
    "i need {attributes} {type}",
    "find me {attributes} {type}",
    "i want to buy {attributes} {type}",
)
DESCRIPTION_TEMPLATE = "this {type} from {brand} is {attributes}"
BULLET_TEMPLATES = ("{attribute} {type}", "made by {brand}")


@dataclass(frozen=True)
class Product:
    """One catalogue item, with the fields the reference's engine uses.

    ``price`` is the price the reward uses: the fixed price, or (a range) one draw from
    ``pricing`` made when the catalogue is built, as the reference does at load time.
    ``title_nouns`` stands in for spaCy's NOUN/PROPN tokens of the title (reward type
    factor): the brand and the words of the type noun.
    """

    asin: str
    category: str
    product_category: str
    query: str
    title: str
    description: str
    bullets: tuple[str, ...]
    pricing: tuple[float, ...]
    price: float
    options: dict[str, tuple[str, ...]]
    attributes: tuple[str, ...]
    title_nouns: tuple[str, ...]

    @property
    def price_tag(self) -> str:
        """``$x`` or ``$x to $y`` as shown on pages."""
        return " to ".join(f"${p:.2f}" for p in self.pricing)


@dataclass(frozen=True)
class Goal:
    """A shopping goal: the target product's fields, the instruction and what is scored."""

    asin: str
    instruction: str
    attributes: tuple[str, ...]
    options: dict[str, str]
    price_upper: float
    query: str
    product_category: str
    title: str
    title_nouns: tuple[str, ...]
    category: str = ""


@dataclass
class Catalogue:
    """Products (in index order), goals (shuffled) and an ASIN lookup."""

    products: list[Product]
    goals: list[Goal]
    by_asin: dict[str, Product] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.by_asin:
            self.by_asin = {p.asin: p for p in self.products}

    def __len__(self) -> int:
        return len(self.products)


def asin_for(index: int) -> str:
    """The ASIN-like id of product ``index``: ``b0`` + 8 digits."""
    return f"b0{index:08d}"


def price_ceiling(price: float, rng: random.Random) -> float:
    """The reference's rule: sample 2 of the first 4 multiples of 10 above ``price``,
    keep the larger; :data:`NO_PRICE_CEILING` if fewer than 2 qualify."""
    candidates = [c for c in PRICE_CEILINGS if c > price][:4]
    if len(candidates) < 2:
        return NO_PRICE_CEILING
    return max(rng.sample(candidates, 2))


def price_clause(price_upper: float) -> str:
    """``", and price lower than X.00 dollars"`` (empty without a ceiling)."""
    if price_upper >= NO_PRICE_CEILING:
        return ""
    return f", and price lower than {price_upper:.2f} dollars"


def _types() -> list[tuple[str, str, str]]:
    """Every (category, sub-category, type) in a fixed order."""
    return [(cat, sub, typ) for cat, spec in CATEGORIES.items()
            for sub, types in spec["subs"].items() for typ in types]


def _make_product(index: int, cat: str, sub: str, typ: str, rng: random.Random,
                  template: Product | None = None, price_step: int = 0) -> Product:
    spec = CATEGORIES[cat]
    if template is None:
        attributes = tuple(rng.sample(spec["attributes"], rng.randint(3, 4)))
        brand = rng.choice(BRANDS)
        in_title = attributes[: rng.randint(1, 2)]
        options = {name: tuple(rng.sample(values, rng.randint(2, min(4, len(values)))))
                   for name, values in spec["options"].items()}
        low = rng.choice(PRICE_POINTS[:14])
        pricing = (low,) if rng.random() < 0.8 else (low, low + 10)
    else:
        attributes, options = template.attributes, template.options
        brand = template.title_nouns[0]
        in_title = tuple(a for a in attributes if a in template.title)
        pricing = tuple(p + price_step for p in template.pricing)
    title = " ".join([brand, *in_title, typ])
    price = pricing[0] if len(pricing) == 1 else round(rng.uniform(*pricing), 2)
    return Product(
        asin=asin_for(index), category=cat, product_category=BREADCRUMB_SEP.join((cat, sub, typ)),
        query=typ, title=title,
        description=DESCRIPTION_TEMPLATE.format(type=typ, brand=brand,
                                                attributes=" and ".join(attributes)),
        bullets=(BULLET_TEMPLATES[0].format(attribute=attributes[0], type=typ),
                 BULLET_TEMPLATES[1].format(brand=brand)),
        pricing=pricing, price=price, options=options, attributes=attributes,
        title_nouns=(brand, *typ.split()))


def _goals_for(product: Product, rng: random.Random) -> list[Goal]:
    """One goal per combination of the product's option values (reference synthetic goals)."""
    names = sorted(product.options)
    goals = []
    for values in itertools.product(*(product.options[n] for n in names)):
        attributes = tuple(rng.sample(product.attributes, rng.randint(1, min(3, len(product.attributes)))))
        opening = rng.choice(INSTRUCTION_TEMPLATES).format(
            attributes=" and ".join(attributes), type=product.query)
        option_text = ", and ".join(f"{n}: {v}" for n, v in zip(names, values))
        price_upper = price_ceiling(product.price, rng)
        goals.append(Goal(
            asin=product.asin, instruction=f"{opening} with {option_text}{price_clause(price_upper)}",
            attributes=attributes, options=dict(zip(names, values)), price_upper=price_upper,
            query=product.query, product_category=product.product_category, title=product.title,
            title_nouns=product.title_nouns, category=product.category))
    return goals


def generate_catalogue(num_products: int = DEFAULT_NUM_PRODUCTS, seed: int = 0) -> Catalogue:
    """Build ``num_products`` products (types round-robin, twins included) and their goals.

    Deterministic in ``(num_products, seed)``.
    """
    int_in_range("", "num_products", num_products, 1, MAX_NUM_PRODUCTS)
    rng = random.Random(seed)
    types = _types()
    products: list[Product] = []
    for slot in itertools.count():
        if len(products) >= num_products:
            break
        cat, sub, typ = types[slot % len(types)]
        product = _make_product(len(products), cat, sub, typ, rng)
        products.append(product)
        if (len(products) < num_products and len(product.pricing) == 1
                and product.price < PRICE_POINTS[-1] - TWIN_PRICE_STEP and rng.random() < 0.35):
            products.append(_make_product(len(products), cat, sub, typ, rng, template=product,
                                          price_step=TWIN_PRICE_STEP))
    goals = [g for p in products for g in _goals_for(p, rng)]
    random.Random(GOAL_SHUFFLE_SEED).shuffle(goals)
    return Catalogue(products=products, goals=goals)


@functools.lru_cache(maxsize=8)
def cached_catalogue(num_products: int, seed: int) -> Catalogue:
    """:func:`generate_catalogue`, built once per process for each (size, seed)."""
    return generate_catalogue(num_products, seed)


def catalogue_words() -> set[str]:
    """Every word generated titles, descriptions, bullets, breadcrumbs, options and
    instructions can contain (without punctuation decorations; see ``vocabulary.py``)."""
    texts: list[str] = [*BRANDS, *INSTRUCTION_TEMPLATES, DESCRIPTION_TEMPLATE, *BULLET_TEMPLATES,
                        "with and price lower than dollars"]
    for cat, spec in CATEGORIES.items():
        texts.append(cat)
        for sub, types in spec["subs"].items():
            texts += [sub, *types]
        texts += list(spec["attributes"])
        for name, values in spec["options"].items():
            texts += [name, *values]
    words = {w for t in texts for w in t.split()}
    return {w for w in words if "{" not in w}
