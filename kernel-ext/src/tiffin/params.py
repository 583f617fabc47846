"""The values an interactive data cell's `:name` placeholders bind (pure helpers, no IPython).

In a scheduled run a placeholder takes the run's parameter (`-p`, or the literal default in the
cell tagged `parameters`). Interactively it takes the notebook variable of the same name, which is
what running the `parameters` cell defines. Only the names the cell uses as `:name` are sent to the
runner, and only values a parameter can hold in a scheduled run: str, int, float, bool, None
(dates and timestamps are sent as their ISO text, as a parameter would give them).
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

Scalar = str | int | float | bool | None

# A superset of what the runner binds: `:name` anywhere but in a `::cast`. The runner reads the
# SQL with a real tokenizer and ignores `:x` in strings and comments; sending a value for such a
# name does no harm (an unused parameter is ignored).
_PLACEHOLDER = re.compile(r"(?<!:):([^\W\d]\w*)")


def placeholders(text: str) -> list[str]:
    """The names written as `:name` in `text` (a whole cell, header included), first use first."""
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(text):
        seen.setdefault(match.group(1), None)
    return list(seen)


class Unusable(ValueError):
    """A variable whose value no parameter of a scheduled run could hold."""


def parameter_value(value: object) -> Scalar:
    """`value` as a parameter value, or `Unusable` naming what it is."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # numpy scalars: np.int64(3) -> 3, np.bool_(True) -> True
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise Unusable(f"the float {value!r}")
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise Unusable(f"a {type(value).__name__}")


@dataclass
class Parameters:
    """The values for a cell's placeholders found in a namespace."""

    values: dict[str, Scalar] = field(default_factory=dict)
    # name -> what the variable holds, for placeholders whose variable cannot be a parameter
    unusable: dict[str, str] = field(default_factory=dict)
    # placeholders with no variable of that name (the runner says which ones the query needs)
    undefined: list[str] = field(default_factory=list)


def collect_parameters(cell_text: str, namespace: Mapping[str, object]) -> Parameters:
    """The parameters for `cell_text`'s placeholders from `namespace` (the user's variables)."""
    found = Parameters()
    for name in placeholders(cell_text):
        if name not in namespace:
            found.undefined.append(name)
            continue
        try:
            found.values[name] = parameter_value(namespace[name])
        except Unusable as why:
            found.unusable[name] = str(why)
    return found
