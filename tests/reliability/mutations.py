"""Hypothesis strategies for hostile custom resources: valid examples, mutated.

A mutation picks a node of a valid example's `spec` and breaks it the way people and tools
break manifests: a field deleted, a wrong type, a number at or just past a bound read from
the CRD schema, a numeric string ("10" for 10), an unknown field, unicode or huge strings,
duplicated or huge lists. Zero mutations leave the example valid, so the fuzz sees both
sides of every rule.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from tests.support.crdcheck import Schema, load_examples, schema_of

Path = tuple[str | int, ...]
BASES: dict[str, list[dict[str, Any]]] = {}
for _example in load_examples():
    if _example.body.get("apiVersion") == "infercost.io/v1alpha1":  # not Argo CD's etc.
        BASES.setdefault(_example.kind, []).append(_example.body)

HUGE_TEXT = "x" * 100_000
UNICODE = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1, 10**6, 10**12, 2**63, -(2**63), 1e-300, 1e308, -0.0, 0.5]),
    st.text(max_size=20),
    UNICODE,
    st.sampled_from(["", "10", "1.5", "true", "Cap", "Static", HUGE_TEXT, "a" * 64, "A-b_c"]),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=8), SCALARS, max_size=3),
)


def nodes(value: Any, path: Path = ()) -> Iterator[Path]:
    """Every path under `value` (dict keys and list indexes)."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nodes(item, (*path, index))


def schema_at(schema: Schema, path: Path) -> Schema:
    node = schema
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        else:
            extra = node.get("additionalProperties")
            node = extra if isinstance(extra, dict) else {}
    return node


def _get(body: Any, path: Path) -> Any:
    for part in path:
        body = body[part]
    return body


def _set(body: Any, path: Path, value: Any) -> None:
    _get(body, path[:-1])[path[-1]] = value


def boundary_values(node: Schema, target: Any) -> list[Any]:
    """Values at and just past the schema's bounds: numbers, lengths, item counts."""
    out: list[Any] = []
    kind = node.get("type")
    for bound in ("minimum", "maximum"):
        if bound in node:
            edge = node[bound]
            step = 1 if kind == "integer" else 1e-9 * max(1.0, abs(edge))
            out += [edge, edge - step, edge + step, str(edge)]
    for bound in ("minLength", "maxLength"):
        if bound in node:
            out += ["a" * node[bound], "a" * (node[bound] + 1)]
    for bound in ("minItems", "maxItems"):
        if bound in node and isinstance(target, list) and target:
            out += [
                [copy.deepcopy(target[0]) for _ in range(node[bound] + extra)] for extra in (0, 1)
            ]
    if "minItems" in node:
        out.append([])
    return out


@st.composite
def mutate_once(draw: st.DrawFn, body: dict[str, Any]) -> str:
    schema = schema_of(body["kind"])
    path = draw(st.sampled_from(list(nodes(body["spec"], ("spec",)))))
    node = schema_at(schema, path)
    target = _get(body, path)
    op = draw(
        st.sampled_from(
            ["delete", "replace", "boundary", "extra", "duplicate", "grow", "stringify", "unicode"]
        )
    )
    if op == "delete" and len(path) > 1:
        del _get(body, path[:-1])[path[-1]]
    elif op == "boundary" and boundary_values(node, target) and len(path) > 1:
        _set(body, path, draw(st.sampled_from(boundary_values(node, target))))
    elif op == "extra" and isinstance(target, dict):
        target[draw(st.text(min_size=1, max_size=12))] = draw(VALUES)
    elif op == "duplicate" and isinstance(target, list) and target:
        target.append(copy.deepcopy(target[draw(st.integers(0, len(target) - 1))]))
    elif op == "grow" and isinstance(target, list) and target:
        target.extend(copy.deepcopy(target[0]) for _ in range(draw(st.sampled_from([20, 1000]))))
    elif op == "grow" and isinstance(target, str) and len(path) > 1:
        # Bounded: a grown string grown again would reach gigabytes, testing only the machine.
        times = min(draw(st.sampled_from([64, 10_000])), len(HUGE_TEXT) // max(len(target), 1) + 1)
        _set(body, path, (target * times)[: len(HUGE_TEXT)])
    elif op == "stringify" and isinstance(target, int | float) and len(path) > 1:
        _set(body, path, str(target))
    elif op == "unicode" and len(path) > 1:
        _set(body, path, draw(UNICODE))
    elif len(path) > 1:
        _set(body, path, draw(VALUES))
    else:
        return "none"
    return f"{op} {'.'.join(map(str, path))}"


@st.composite
def specs(draw: st.DrawFn, kind: str, max_mutations: int = 3) -> dict[str, Any]:
    """A valid example of `kind` with 0..max_mutations mutations of its spec."""
    body = copy.deepcopy(draw(st.sampled_from(BASES[kind])))
    for _ in range(draw(st.integers(0, max_mutations))):
        draw(mutate_once(body))
    return body
