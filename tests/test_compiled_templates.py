"""Field templates compiled to Python (feedsync/compiled_templates.py) against Jinja2: the
same text, or the same error, for every spec's field templates and for hand-written ones
probing each construct, on random product values."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import meta

from feedsync.channels.loader import load_spec
from feedsync.channels.render import CONTEXT_NAMES, _template_env
from feedsync.compiled_templates import python_renderer, with_fallback
from feedsync.templating import fast_renderer, template_environment

SPECS = Path(__file__).resolve().parents[1] / "channel_specs"
SETTINGS = {"category_id": "MLA1055", "delivery_costs": "4.95", "product_type": "SHIRT",
            "identifier_exemption": "", "inventory_policy": "deny",
            "listing_type_id": "gold_special", "backorder_delivery_time": "5-7",
            "delivery_time": "1-2", "count": 3, "nested": {"key": "v"}}
FIXED = {"settings": SETTINGS, "market": {"country": "ES"}, "feed": {"title": "T", "link": "L"}}


def _spec_templates() -> list[str]:
    found = []
    for path in sorted(SPECS.glob("*.yaml")):
        found += [f.template for f in load_spec(path.stem).fields if f.template]
    return found


SPEC_TEMPLATES = _spec_templates()
# Templates probing each construct of the subset, and some just outside it.
PROBES = [
    "{{ title }}", "{{ title or '' }}", "{{ quantity }}", "{{ price }}",
    "{{ title[:3] }}-{{ title[2:] }}{{ title[::2] }}", "{{ title[0] }}{{ title[-1] }}",
    "{{ shipping[0].price }}", "{{ shipping[1].country if shipping else 'none' }}",
    "{{ title.split(' ')[0] }}", "{{ title.upper() }}{{ title.strip('x') }}",
    "{{ title.startswith(('a', 'B')) }}", "{{ title | length }}", "{{ title | lower }}",
    "{{ title | trim | upper }}", "{{ quantity is none }}", "{{ quantity is not none }}",
    "{{ 'a' if quantity == 0 else 'b' if quantity in (1, 2) else quantity > 5 }}",
    "{{ title in ['a', 'b'] }} {{ title not in 'abc' }}", "{{ 1 < quantity <= 10 }}",
    "{% if title %}T{% elif quantity %}Q{% else %}N{% endif %}",
    "{% set x = title or settings.product_type %}{{ x }}/{{ x[:2] }}",
    "{{ settings.count }} {{ settings.nested.key }} {{ feed.title }}{{ market.country }}",
    "{{ settings.missing or title }}", "{{ settings.items }}", "{{ title.items }}",
    "{{ shipping.items }}", "{{ title ~ '!' }}", "{{ title + 'x' }}", "{{ title * 2 }}",
    "{{ title if quantity }}", "{{ title.format(1) }}", "{{ title.replace('a', 'b') }}",
    "{% for c in title %}{{ c }}{% endfor %}", "{{ title | default('d') }}",
    "{{ -1 }}{{ title[-2] }}", "{{ not title and not quantity }}", "{{ none }}",
    "{{ shipping[0]['price'] }}", "{{ shipping['price'] }}", "{{ title.lower }}",
    "{{ quantity.real }}",
]

_TEXT = st.one_of(st.sampled_from(["", " ", "https://x", "HTTP://Y", "abc", "a b c", "12",
                                   "MLA123", "MLA", "x" * 14, "é ü", "19.95 EUR"]),
                  st.text(max_size=8))
_VALUE = st.one_of(
    st.none(), _TEXT, st.integers(-3, 20), st.booleans(),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.lists(st.fixed_dictionaries({"country": _TEXT, "price": _TEXT}), max_size=2),
    st.lists(_TEXT, max_size=3))


def _outcome(render: Any, context: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "text", render(context)
    except Exception as exc:
        return "error", (type(exc).__name__, str(exc))


def _compiled(source: str) -> tuple[Any, Any, list[str], dict[str, Any]]:
    """(Jinja2's render, the compiled function or None, product names, fixed context)."""
    env = _template_env
    declared = meta.find_undeclared_variables(env.parse(source))
    names = sorted(declared - CONTEXT_NAMES)
    fixed = {k: v for k, v in FIXED.items() if k in declared}
    return (fast_renderer(env.from_string(source)),
            python_renderer(env, source, names, fixed), names, fixed)


def _pair(source: str) -> tuple[Any, Any, list[str], bool]:
    jinja, compiled, names, _ = _compiled(source)
    fast = jinja if compiled is None else with_fallback(compiled, jinja)
    return jinja, fast, names, compiled is not None


@pytest.mark.parametrize("source", SPEC_TEMPLATES + PROBES)
def test_compiled_template_renders_what_jinja_renders(source: str) -> None:
    jinja, compiled, names, fixed = _compiled(source)
    fast = jinja if compiled is None else with_fallback(compiled, jinja)
    shortcut_taken = []

    @settings(max_examples=150, derandomize=True, deadline=None, database=None)
    @given(st.fixed_dictionaries({name: _VALUE for name in names}))
    def case(values: dict[str, Any]) -> None:
        context = values | fixed
        expected = _outcome(jinja, context)
        assert _outcome(fast, context) == expected
        if compiled is not None:
            # The compiled function alone either hands over (raises) or is exact.
            alone = _outcome(compiled, context)
            if alone[0] == "text":
                assert alone == expected
                shortcut_taken.append(True)

    case()
    if compiled is not None and names and source in SPEC_TEMPLATES:
        assert shortcut_taken  # the shortcut, not only the fallback, was checked


def test_the_specs_simple_templates_are_compiled() -> None:
    compiled = {source: _pair(source)[3] for source in _spec_templates()}
    product_templates = {s: c for s, c in compiled.items()
                         if _pair(s)[2]}  # those with product values
    assert product_templates and all(product_templates.values()), [
        s for s, c in product_templates.items() if not c]
    # and what is outside the subset is left to Jinja2
    for source in ("{{ title ~ '!' }}", "{{ title + 'x' }}", "{{ title if quantity }}",
                   "{% for c in title %}{{ c }}{% endfor %}", "{{ settings.missing }}",
                   "{{ title.replace('a', 'b') }}", "{{ settings.items }}"):
        assert not _pair(source)[3], source


def test_a_value_outside_the_shortcut_gets_jinjas_answer() -> None:
    _, fast, _, compiled = _pair("{{ title.lower() }}")
    assert compiled
    assert fast({"title": "AbC"}) == "abc"
    with pytest.raises(Exception) as jinja_error:
        fast_renderer(_template_env.from_string("{{ title.lower() }}"))({"title": 5})
    with pytest.raises(type(jinja_error.value)):
        fast({"title": 5})
    # Decimals print as Jinja prints them; None through finalize as nothing
    _, fast, _, _ = _pair("{{ price }}|{{ quantity }}")
    assert fast({"price": Decimal("19.90"), "quantity": None}) == "19.90|"


def test_without_finalize_none_prints_as_none() -> None:
    env = template_environment(blank_none=False)
    compiled = python_renderer(env, "{{ title }}", ["title"], {})
    assert compiled is not None
    assert compiled({"title": None}) == fast_renderer(env.from_string("{{ title }}"))(
        {"title": None}) == "None"
