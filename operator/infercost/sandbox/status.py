"""Kubernetes `Status` failures the sandbox API server answers, worded as the real server words them.

Each error carries its HTTP code, reason, message and details (`causes` naming the fields);
`Retry-After` is sent for 429 Too Many Requests.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A refused request, rendered as a `Status` object by the server."""

    def __init__(
        self,
        *,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after

    def status(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def qualified(kind: str, group: str) -> str:
    """`Deployment.apps`, `ConfigMap` (core), as the server names kinds in messages."""
    return f"{kind}.{group}" if group else kind


def invalid(*, kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid; `causes` are (field, message) pairs."""
    listed = ", ".join(f"{field}: {message}" for field, message in causes)
    if len(causes) > 1:
        listed = f"[{listed}]"
    return ApiError(
        code=422,
        reason="Invalid",
        message=f'{qualified(kind, group)} "{name}" is invalid: {listed}',
        details={
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [
                {"reason": "FieldValueInvalid", "message": message, "field": field}
                for field, message in causes
            ],
        },
    )


def conflict(*, plural: str, group: str, name: str) -> ApiError:
    """409 Conflict of a write whose resourceVersion is not the stored one."""
    return ApiError(
        code=409,
        reason="Conflict",
        message=f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": the '
        "object has been modified; please apply your changes to the latest version and try again",
        details={"name": name, "group": group, "kind": plural},
    )


def apply_conflicts(*, conflicts: list[tuple[str, str]], api_version: str) -> ApiError:
    """409 Conflict of a server-side apply; `conflicts` are (manager, field) pairs."""
    count = len(conflicts)
    lines = [
        f'conflict with "{manager}" using {api_version}: {field}' for manager, field in conflicts
    ]
    head = f"Apply failed with {count} conflict{'s' if count > 1 else ''}: "
    message = head + lines[0] if count == 1 else head + "\n" + "\n".join(f"- {x}" for x in lines)
    return ApiError(
        code=409,
        reason="Conflict",
        message=message,
        details={
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": f'conflict with "{manager}" using {api_version}',
                    "field": field,
                }
                for manager, field in conflicts
            ]
        },
    )


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        code=429,
        reason="TooManyRequests",
        message="Too many requests, please try again later.",
        details={"retryAfterSeconds": retry_after},
        retry_after=retry_after,
    )


def bad_request(message: str) -> ApiError:
    return ApiError(code=400, reason="BadRequest", message=message)
