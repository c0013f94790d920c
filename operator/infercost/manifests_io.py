"""Read AcceleratorPool, InferenceService and BudgetPolicy manifests from YAML files and folders.

Owns: turning files (multi-document YAML, folders searched recursively for *.yaml/*.yml)
into validated API models, with errors that name the file, the document and the field in
the spelling the user wrote (camelCase). Documents of other API groups (a Kubernetes
Namespace, a simulator Workload) are skipped, so a whole scenario file can be read.

Must not import: the engine, kopf, kubernetes clients, asyncio. It reads files, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from infercost.api.budget import BudgetPolicy
from infercost.api.pool import AcceleratorPool
from infercost.api.service import InferenceService

API_VERSION = "infercost.io/v1alpha1"
Kind = AcceleratorPool | InferenceService | BudgetPolicy
KINDS: dict[str, type[Kind]] = {
    "AcceleratorPool": AcceleratorPool,
    "InferenceService": InferenceService,
    "BudgetPolicy": BudgetPolicy,
}


class ManifestError(ValueError):
    """A manifest that cannot be used; the message says where and what to fix."""

    def __init__(self, *, path: Path, document: int | None, field: str | None, problem: str):
        self.path, self.document, self.field, self.problem = path, document, field, problem
        where = [str(path)]
        if document is not None:
            where.append(f"document {document}")
        if field:
            where.append(field)
        super().__init__(": ".join([*where, problem]))


@dataclass
class Manifests:
    """Everything read, in file order (files sorted within a folder)."""

    pools: list[AcceleratorPool] = field(default_factory=list)
    services: list[InferenceService] = field(default_factory=list)
    budgets: list[BudgetPolicy] = field(default_factory=list)


def yaml_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The files named, and every *.yaml / *.yml under the folders named, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            yield path
        else:
            raise ManifestError(
                path=path, document=None, field=None, problem="no such file or folder"
            )


def load(paths: Iterable[Path]) -> Manifests:
    """Read and validate every infercost document in `paths`."""
    found = Manifests()
    for path in yaml_files(paths):
        for index, document in _documents(path):
            model = parse_document(document, path=path, index=index)
            if isinstance(model, AcceleratorPool):
                found.pools.append(model)
            elif isinstance(model, InferenceService):
                found.services.append(model)
            elif isinstance(model, BudgetPolicy):
                found.budgets.append(model)
    return found


def _documents(path: Path) -> Iterator[tuple[int, Any]]:
    """(1-based index, parsed document) for each non-empty YAML document of a file."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(path=path, document=None, field=None, problem=str(error)) from None
    index = 0
    loader = yaml.safe_load_all(text)
    while True:
        index += 1
        try:
            document = next(loader)
        except StopIteration:
            return
        except yaml.YAMLError as error:
            problem = f"not valid YAML: {_yaml_problem(error)}"
            raise ManifestError(path=path, document=index, field=None, problem=problem) from None
        if document is not None:
            yield index, document


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(problem)


def parse_document(document: Any, *, path: Path, index: int) -> Kind | None:
    """One document as a model; None when it belongs to another API group."""
    if not isinstance(document, dict):
        problem = f"expected a mapping (a Kubernetes object), got {type(document).__name__}"
        raise ManifestError(path=path, document=index, field=None, problem=problem)
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if api_version != API_VERSION:
        if isinstance(api_version, str) and api_version.split("/")[0] == "infercost.io":
            problem = f"unsupported apiVersion {api_version!r}; use {API_VERSION}"
            raise ManifestError(path=path, document=index, field="apiVersion", problem=problem)
        return None
    model = KINDS.get(str(kind))
    if model is None:
        problem = f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}"
        raise ManifestError(path=path, document=index, field="kind", problem=problem)
    try:
        parsed = model.model_validate(document)
    except ValidationError as error:
        problems = error.errors()
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ManifestError(
            path=path, document=index, field=field_path(first["loc"]), problem=first["msg"] + more
        ) from None
    if not parsed.metadata.name:
        raise ManifestError(path=path, document=index, field="metadata.name", problem="required")
    return parsed


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as users write it: spec.variants[0].profile[1].p99LatencyMs."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
