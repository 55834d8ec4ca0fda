"""The single list of rule steps: what the compiler dispatches on, what "did you mean" suggests
from, and what the README's table of steps is generated from.

A step is a class in one of feedsync/rules/steps/'s family modules, decorated with
`@register_step`; importing this module loads them all. Print the README table with

    python -m feedsync.rules.registry --markdown
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable

from feedsync.rules.steps import FAMILIES, STEP_CLASSES, DocRow, Step


def _family(step: type[Step]) -> int:
    family = step.__module__.rsplit(".", 1)[-1]
    return FAMILIES.index(family) if family in FAMILIES else len(FAMILIES)


def all_steps() -> tuple[type[Step], ...]:
    """Every step class, by family in the README's order."""
    return tuple(sorted(STEP_CLASSES.values(), key=_family))


def step_names() -> tuple[str, ...]:
    """Every name a rule may start with (`- NAME: ...`), in the README's order."""
    return tuple(step.name for step in all_steps())


def step_class(name: str) -> type[Step] | None:
    """The class of step `name`; None when there is no such step."""
    return STEP_CLASSES.get(name)


def suggest(name: str, choices: Iterable[str] | None = None) -> str:
    """` (did you mean 'x'?)` for the closest of `choices` (default: the step names), or ""."""
    close = difflib.get_close_matches(name, list(step_names() if choices is None else choices),
                                      n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def markdown_table() -> str:
    """The README's table of steps (a row shared by several steps appears once)."""
    rows: list[DocRow] = []
    for step in all_steps():
        rows += [row for row in step.docs if row not in rows]
    lines = ["| Step | What it does |", "|---|---|"]
    lines += [f"| {row.usage} | {row.summary} |" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`--markdown`: print the table of steps; otherwise list the step names, one a line."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--markdown"]:
        sys.stdout.write(markdown_table())
    elif not args:
        sys.stdout.write("".join(f"{name}\n" for name in step_names()))
    else:
        sys.stderr.write("usage: python -m feedsync.rules.registry [--markdown]\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
