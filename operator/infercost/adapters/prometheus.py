"""The Prometheus metrics source: Triton's metrics of all services, one query per metric.

prometheus-api-client is blocking (requests): its calls run in a worker thread so the event
loop keeps serving watches and timers. Each control interval runs the queries of
`promql.DEFAULT_QUERIES` (overridable in settings) in turn; the first failure ends the round
and every service is held with the reason (PrometheusUnreachable, PrometheusError).

Credentials: a bearer token read from a file at each round (projected tokens rotate), basic
auth (user from settings, password from a file or the environment), TLS verified by default
against the system CAs or a CA file. They are never logged; URLs are logged without userinfo.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from infercost.adapters import promql
from infercost.adapters.metrics import DemandSeries, Observed, PodRef, ServiceKey, Unavailable
from infercost.settings import Settings

logger = logging.getLogger("infercost.prometheus")
Span = tuple[float, float, float]  # a range query's start, end and step, in seconds
MAX_POINTS = 11_000  # points per series a range query may return (Prometheus' limit)


class QueryError(Exception):
    """A query could not be answered; `reason` is the condition reason to report."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def redact(url: str) -> str:
    """The URL without user:password@ (for logs and messages)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _read_secret(path: str, what: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as error:
        # The path is configuration, not a secret; the content never appears here.
        raise QueryError(
            "PrometheusCredentialsUnreadable",
            f"cannot read the {what} file {path}: {error.strerror}",
        ) from None


class PrometheusClient:
    """Runs PromQL instant queries with the configured authentication; blocking."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.prometheus_url.rstrip("/")
        if settings.prometheus_insecure_skip_verify:
            # Said once here, rather than urllib3 warning on every request.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            logger.warning("TLS verification of Prometheus at %s is off", redact(self.url))

    def _connect(self) -> PrometheusConnect:
        s = self.settings
        session = requests.Session()
        session.verify = (
            False if s.prometheus_insecure_skip_verify else (s.prometheus_ca_file or True)
        )
        headers = {}
        if s.prometheus_token_file:
            token = _read_secret(s.prometheus_token_file, "bearer token")
            headers["Authorization"] = f"Bearer {token}"
        auth = None
        if s.prometheus_username:
            if s.prometheus_password_file:
                password = _read_secret(s.prometheus_password_file, "password")
            elif s.prometheus_password is not None:
                password = s.prometheus_password.get_secret_value()
            else:
                password = ""
            auth = (s.prometheus_username, password)
        return PrometheusConnect(
            url=self.url,
            headers=headers,
            auth=auth,
            session=session,
            retry=Retry(total=0),  # the next control interval is the retry
            timeout=s.prometheus_timeout_seconds,
        )

    def run(
        self, queries: Mapping[str, str], *, span: Span | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Each query's result: an instant vector, or over `span` (start, end, step in
        seconds) a range matrix; QueryError on the first that fails."""
        connection = self._connect()
        try:
            return {name: self._one(connection, name, q, span) for name, q in queries.items()}
        finally:
            connection.close()

    def _one(
        self, connection: PrometheusConnect, name: str, query: str, span: Span | None
    ) -> list[dict[str, Any]]:
        where = redact(self.url)
        try:
            if span is None:
                result = connection.custom_query(query)
            else:
                start, end, step = span
                result = connection.custom_query_range(
                    query,
                    start_time=datetime.fromtimestamp(start, UTC),
                    end_time=datetime.fromtimestamp(end, UTC),
                    step=f"{step:g}",
                )
        except requests.exceptions.SSLError as error:
            raise QueryError(
                "PrometheusUnreachable", f"{where}: TLS failed: {_tls_cause(error)}"
            ) from None
        except requests.exceptions.RequestException as error:
            # With retries off, urllib3 wraps a read timeout in a ConnectionError.
            if isinstance(error, requests.exceptions.Timeout) or "timed out" in str(error):
                timeout = self.settings.prometheus_timeout_seconds
                message = f"{where}: query {name} timed out after {timeout:g}s"
            else:
                message = f"{where}: {type(error).__name__}: {_cause(error)}"
            raise QueryError("PrometheusUnreachable", message) from None
        except PrometheusApiClientException as error:
            raise QueryError(
                "PrometheusError", f"{where}: query {name} failed: {_first_line(error)[:300]}"
            ) from None
        except ValueError as error:  # a body that is not the query API's JSON
            raise QueryError("PrometheusError", f"{where}: query {name}: {error}") from None
        if not isinstance(result, list):
            shape = "an instant vector" if span is None else "a range matrix"
            raise QueryError("PrometheusError", f"{where}: query {name} is not {shape}")
        return result


def _tls_cause(error: BaseException) -> str:
    found = re.search(r"certificate verify failed[^'\")]*|SSL: [A-Z_]+[^'\")]*", str(error))
    return found.group(0) if found else _first_line(error)[:200]


def _cause(error: BaseException) -> str:
    """The operating system's words (`[Errno 111] Connection refused`), not urllib3's wrapping."""
    found = re.search(r"\[Errno -?\d+\] [^'\")]+", str(error))
    return found.group(0) if found else _first_line(error)[:200]


def _first_line(error: BaseException) -> str:
    text = str(error).splitlines()
    return text[0] if text else type(error).__name__


class PrometheusMetrics:
    """`MetricsSource` over Prometheus: `observe_all` never raises for Prometheus's faults."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: PrometheusClient | None = None,
    ) -> None:
        self.settings = settings
        self.client = client or PrometheusClient(settings)
        self.queries = promql.queries(
            settings.prometheus_queries, window=settings.prometheus_rate_window
        )
        self.history_queries = promql.history_queries(self.queries)
        self.rate_window_seconds = promql.window_seconds(settings.prometheus_rate_window)
        self.pod_queries = promql.pod_queries(
            settings.prometheus_queries, window=settings.prometheus_rate_window
        )
        self._by_pod: tuple[float, promql.Results] | None = None  # Advise mode's, per interval
        self._last_reason: str | None = None

    async def observe_all(self, *, now: float) -> Observed:
        try:
            results = await asyncio.to_thread(self.client.run, self.queries)
        except QueryError as failed:
            self._log(failed.reason, failed.message)
            return Observed(missing=Unavailable(reason=failed.reason, message=failed.message))
        try:
            observed = promql.observations(
                results, now=now, stale_after=self.settings.for_engine().metrics_stale_seconds
            )
        except (KeyError, ValueError, TypeError, IndexError) as error:
            # An answer not shaped like Prometheus' (a proxy's error page, a changed template).
            message = f"unexpected query result: {type(error).__name__}: {error}"
            self._log("PrometheusError", message)
            return Observed(missing=Unavailable(reason="PrometheusError", message=message))
        self._log(None, "")
        return observed

    async def observe_pods(self, pods: Mapping[PodRef, ServiceKey], *, now: float) -> Observed:
        """One set of per-pod queries per control interval answers every advised target."""
        interval = self.settings.control_interval_seconds
        try:
            if self._by_pod is None or not 0 <= now - self._by_pod[0] < interval * 0.9:
                results = await asyncio.to_thread(self.client.run, self.pod_queries)
                self._by_pod = (now, results)
            stale_after = self.settings.for_engine().metrics_stale_seconds
            return promql.pod_observations(self._by_pod[1], pods, now=now, stale_after=stale_after)
        except QueryError as failed:
            return Observed(missing=Unavailable(reason=failed.reason, message=failed.message))
        except (KeyError, ValueError, TypeError, IndexError) as error:
            message = f"unexpected query result: {type(error).__name__}: {error}"
            return Observed(missing=Unavailable(reason="PrometheusError", message=message))

    async def demand_history(
        self, *, start: float, end: float, step: float
    ) -> Mapping[ServiceKey, DemandSeries]:
        # Samples closer than the rate window repeat what it averaged already (and cost memory:
        # 6 h of 1,000 services at 15 s is 1.4 million points), and Prometheus answers at most
        # MAX_POINTS per series: a finer step would fail the query.
        step = max(step, self.rate_window_seconds, math.ceil((end - start) / MAX_POINTS))
        totals: promql.Totals = {}
        try:
            for name, query in self.history_queries.items():
                result = await asyncio.to_thread(
                    self.client.run, {name: query}, span=(start, end, step)
                )
                promql.add_series(totals, result[name])
            return promql.demand_series(totals)
        except QueryError as failed:
            message = failed.message
        except (KeyError, ValueError, TypeError, IndexError) as error:
            message = f"unexpected query result: {type(error).__name__}: {error}"
        logger.warning("demand history unavailable, the engine starts without it: %s", message)
        return {}

    def _log(self, reason: str | None, message: str) -> None:
        # Once per change, not once per interval: a long outage is one warning and one recovery.
        if reason != self._last_reason:
            if reason is None:
                logger.info("Prometheus at %s answers again", redact(self.client.url))
            else:
                logger.warning("metrics unavailable (%s): %s", reason, message)
        self._last_reason = reason
