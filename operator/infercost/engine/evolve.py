"""`evolve`: `dataclasses.replace` for the engine's own frozen dataclasses, without `__init__`.

`replace` walks the fields and runs the generated `__init__`, which sets each field through
`object.__setattr__`: a few microseconds a call, and a decision makes a dozen (a placement
problem per what-if, the state after learning). The engine's dataclasses have no
`__post_init__`, no `InitVar` and no `__slots__` (tests/unit/engine/test_evolve.py checks
the ones passed here; a class with `__post_init__` is refused), so copying the field dict and changing some entries gives an equal
object, field by field.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def evolve(obj: T, **changes: Any) -> T:
    """A copy of the dataclass instance `obj` with `changes`; unknown field names raise."""
    cls = type(obj)
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has __post_init__: use dataclasses.replace")
    fields = obj.__dataclass_fields__  # type: ignore[attr-defined]
    unknown = changes.keys() - fields.keys()
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {sorted(unknown)[0]!r}")
    # Fields only: a cached_property's value computed from the old fields must not carry over.
    state = {name: value for name, value in obj.__dict__.items() if name in fields}
    state.update(changes)
    new = object.__new__(cls)
    object.__setattr__(new, "__dict__", state)
    return new
