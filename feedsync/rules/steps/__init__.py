"""Rule steps, one class per step, by family; importing this package registers them all.

base.py has what every step shares (Step, the runner, applying changes to a product); each
family module defines its steps with `@register_step`: filters (filter, set, when, use),
lookups (lookup, map_category), text, prices, labels (custom labels), variants. A new step is
one class in the family module it belongs to (and its test): the compiler, the "did you mean"
and the README's table all read the registry (feedsync.rules.registry).
"""

from __future__ import annotations

from feedsync.rules.steps.base import (
    ENV,
    MONEY_FIELDS,
    RUNTIME_ERRORS,
    SETTABLE_FIELDS,
    STEP_CLASSES,
    TEXT_FIELDS,
    CompileContext,
    DocRow,
    Expression,
    RunState,
    Step,
    StepError,
    Template,
    TraceEntry,
    coerce,
    diff,
    field_value,
    is_empty,
    number_of,
    plain_expression,
    plain_substitution,
    register_step,
    run_steps,
    set_one,
    text_of,
    updated,
)
from feedsync.rules.steps.filters import Conditional, Filter, KeepIds, KeepWhen, SetFields, Use
from feedsync.rules.steps.labels import BestSellers, MarginBands, NewArrivals, PriceBuckets
from feedsync.rules.steps.lookups import Lookup, MapCategory
from feedsync.rules.steps.prices import (
    Campaign,
    CampaignEntry,
    ConvertCurrency,
    PriceMath,
    RoundPrice,
    price_ending,
)
from feedsync.rules.steps.text import (
    Affix,
    TextCleanup,
    TextTransform,
    Truncate,
    plain_text,
    title_case,
)
from feedsync.rules.steps.variants import Variants

# The families in the order the README's table lists them (registry.all_steps()); within a
# family, steps keep the order their module defines them in.
FAMILIES = ("filters", "lookups", "text", "prices", "labels", "variants")

__all__ = [
    "ENV",
    "FAMILIES",
    "MONEY_FIELDS",
    "RUNTIME_ERRORS",
    "SETTABLE_FIELDS",
    "STEP_CLASSES",
    "TEXT_FIELDS",
    "Affix",
    "BestSellers",
    "Campaign",
    "CampaignEntry",
    "CompileContext",
    "Conditional",
    "ConvertCurrency",
    "DocRow",
    "Expression",
    "Filter",
    "KeepIds",
    "KeepWhen",
    "Lookup",
    "MapCategory",
    "MarginBands",
    "NewArrivals",
    "PriceBuckets",
    "PriceMath",
    "RoundPrice",
    "RunState",
    "SetFields",
    "Step",
    "StepError",
    "Template",
    "TextCleanup",
    "TextTransform",
    "TraceEntry",
    "Truncate",
    "Use",
    "Variants",
    "coerce",
    "diff",
    "field_value",
    "is_empty",
    "number_of",
    "plain_expression",
    "plain_substitution",
    "plain_text",
    "price_ending",
    "register_step",
    "run_steps",
    "set_one",
    "text_of",
    "title_case",
    "updated",
]
