"""kmock with the Kubernetes API semantics the operator relies on (docs/architecture.md section 10).

Added over kmock 0.8 (sandbox/writes.py, replies.py, validation.py, ssa.py, rbac.py,
tables.py): uid/resourceVersion/generation/creationTimestamp on create; generateName;
generation bumped only by spec changes; no-op writes change nothing; the status subresource;
every write validated against the kind's schema (built-ins: kubernetes-validate of a chosen
Kubernetes version; custom resources: the CRD's structural schema with pruning, defaults and
CEL rules); PUT as a replace with resourceVersion conflicts; server-side apply with field
ownership per manager, conflicts and `force`; RBAC of the operator's token from the chart's
ClusterRole rules; label and field selectors; watch from a resourceVersion (410 Gone when
older than the kept history); Table output and discovery with short names and categories
(`kubectl get ics,deploy,pods -A`); garbage collection of dependents; injected faults
(`fail_next`, 429 with Retry-After among them) for errors that cannot be produced otherwise;
bearer-token authentication when `tokens` is set (401 for a missing or unknown token, as the
real API server's token authenticator answers).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import rendering

from infercost.api.crdgen import all_crds
from infercost.sandbox import openapi, status, tables
from infercost.sandbox.rbac import Authorizer
from infercost.sandbox.resources import GATEWAY_API_CRD, register
from infercost.sandbox.validation import DEFAULT_VERSION, Validation
from infercost.sandbox.writes import Writes

CHART_FILES = Path(__file__).resolve().parents[3] / "charts/infercost/files"
RULES = CHART_FILES / "clusterrole-rules.yaml"
ROLE_RULES = CHART_FILES / "leader-election-rules.yaml"  # the Role in the operator's namespace
_VERBS = {"LIST": "list", "WATCH": "watch", "FETCH": "get", "CREATE": "create"}
_VERBS |= {"UPDATE": "patch", "DELETE": "delete"}


@attrs.define(kw_only=True)
class Fault:
    """Answer the next `times` matching requests with `status` instead of serving them."""

    action: str
    plural: str
    subresource: str | None
    status: int
    times: int = 1
    delay: float = 0.0  # seconds before answering: longer than a client's timeout is a hang
    # Retry-After seconds: a 429 always carries it (1 unless given), a 503 only when given.
    retry_after: int | None = None


def rbac_verb(request: rendering.Request) -> str:
    """The RBAC verb of a resource request."""
    verb = _VERBS.get(request.action.value if request.action else "", "get")
    if request.method == kmock.method.PUT:
        return "update"
    if request.action == kmock.action.DELETE and request.name is None:
        return "deletecollection"
    return verb


@attrs.define(kw_only=True)
class ApiServer(Writes):
    """An in-memory Kubernetes API server over real HTTP, for tests and the sandbox.

    `kubernetes_version` picks the schemas of built-in kinds ("1.30" or "1.33");
    `rbac` restricts the operator's token (rbac.OPERATOR_TOKEN) to the chart's ClusterRole.
    """

    prometheus_operator: bool = True
    kserve: bool = False
    gateway_api: bool = False  # serve Gateway API's HTTPRoute (spec.routing)
    # Accepted bearer tokens; None: no authentication. Tests change it to rotate tokens.
    tokens: set[str] | None = None
    kubernetes_version: str = DEFAULT_VERSION
    rbac: bool = False
    authorizer: Authorizer | None = None
    _faults: list[Fault] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        register(
            self.resources,
            prometheus_operator=self.prometheus_operator,
            kserve=self.kserve,
            gateway_api=self.gateway_api,
        )
        self.validation = Validation(version=self.kubernetes_version)
        for crd in all_crds().values():
            self.validation.register_crd(crd)
        if self.gateway_api:
            self.validation.register_crd(yaml.safe_load(GATEWAY_API_CRD.read_text()))
        if self.rbac and self.authorizer is None:
            self.authorizer = Authorizer.from_files(RULES, ROLE_RULES)
        tables.serve_discovery(self)
        openapi.serve(self)

    def fail_next(
        self,
        *,
        action: str,
        plural: str,
        subresource: str | None = None,
        status: int = 409,
        times: int = 1,
        delay: float = 0.0,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` matching requests with `status` (0: serve them) after
        `delay` seconds; `action` is create, update, delete, get, list or watch. A 429
        carries `Retry-After` (`retry_after`, else 1), as the API server's priority and
        fairness does; a 503 carries it when `retry_after` is given."""
        self._faults.append(
            Fault(
                action=action,
                plural=plural,
                subresource=subresource,
                status=status,
                times=times,
                delay=delay,
                retry_after=retry_after,
            )
        )

    def _take_fault(self, request: rendering.Request) -> Fault | None:
        for fault in self._faults:
            if (
                request.action is not None
                and fault.action.upper() == request.action.value
                and request.resource is not None
                and fault.plural == request.resource.plural
                and fault.subresource == request.subresource
            ):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _authorize(self, request: rendering.Request, *, verb: str) -> None:
        authorizer = self.authorizer
        if authorizer is None or request.resource is None:
            return
        if not authorizer.restricts(request.headers.get("Authorization")):
            return
        resource = str(request.resource.plural)
        if request.subresource:
            resource = f"{resource}/{request.subresource}"
        authorizer.check(
            verb=verb,
            group=request.resource.group or "",
            resource=resource,
            namespace=request.namespace,
            name=request.name,
        )

    async def _handle(self, request: rendering.Request) -> Any:
        writes = (kmock.action.CREATE, kmock.action.UPDATE, kmock.action.DELETE)
        if self.tokens is not None:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or token not in self.tokens:
                raise status.ApiError(code=401, reason="Unauthorized", message="Unauthorized")
        if request.resource is None or request.resource.plural is None:
            return await self._non_resource(request)
        self._authorize(request, verb=rbac_verb(request))
        fault = self._take_fault(request)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.status == 429:
            raise status.too_many_requests(fault.retry_after or 1)
        if fault is not None and fault.status == 503 and fault.retry_after is not None:
            raise status.ApiError(
                code=503,
                reason="ServiceUnavailable",
                message="the server is currently unable to handle the request (injected)",
                details={"retryAfterSeconds": fault.retry_after},
                retry_after=fault.retry_after,
            )
        if fault is not None and fault.status:
            raise status.ApiError(
                code=fault.status,
                reason="Conflict" if fault.status == 409 else "InjectedFault",
                message=f"injected by the test: {fault.status} for {request.action}",
            )
        if request.action in (kmock.action.LIST, kmock.action.FETCH) and tables.wants_table(
            request
        ):
            return await tables.respond(self, request)
        put = request.method == kmock.method.PUT and request.name is not None
        if request.action not in writes and not put:
            return await self._respond(request)
        async with self._lock:
            if request.action == kmock.action.CREATE:
                await self._create(request, self._body(request), apply=False)
            elif request.action == kmock.action.UPDATE or put:
                await self._update(request)
            else:
                await self._delete(request.resource, request.namespace, request.name or "")
        response = await self._respond(request)
        for warning in self._warnings.pop(request.id, []):
            response.headers.add("Warning", f'299 - "{warning}"')
        return response

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, status.ApiError):
            headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
            return aiohttp.web.json_response(exc.status(), status=exc.code, headers=headers)
        return await super()._render_error(exc)
