from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import httpx
import jwt

logger = logging.getLogger("users_service.auth")


class JwksUnavailable(Exception):
    """No key set could ever be fetched."""


class JwksClient:
    """Keys from a JWKS URL, cached by `kid`.

    An unknown `kid` triggers a refresh, at most once per `min_refresh_interval`
    seconds (a flood of forged tokens cannot hammer the identity provider), and only
    one refresh at a time. Keys are also refreshed when older than `max_age`.
    """

    def __init__(
        self,
        url: str,
        *,
        max_age: float,
        min_refresh_interval: float,
        timeout: float,
        on_refresh: Callable[[bool], None] | None = None,
        tracer: Any = None,
    ) -> None:
        self._on_refresh = on_refresh  # told whether each fetch succeeded (metrics)
        self._tracer = tracer  # an OpenTelemetry tracer: a client span per fetch
        self._url = url
        self._max_age = max_age
        self._min_refresh_interval = min_refresh_interval
        self._timeout = timeout
        self._keys: dict[str, Any] = {}
        self._published: dict[str, Any] = {}  # each kid's JWK as the set last showed it
        self._fetched_at: float | None = None
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> Any | None:
        """The verification key for `kid`, or None when the key set does not have it."""
        stale = self._fetched_at is None or time.monotonic() - self._fetched_at > self._max_age
        known = kid in self._keys if kid is not None else len(self._keys) == 1
        if stale or not known:
            await self._refresh()
        if self._fetched_at is None:
            raise JwksUnavailable(f"no key set could be fetched from {self._url}")
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid) if kid is not None else None

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._attempted_at < self._min_refresh_interval:
                return
            self._attempted_at = time.monotonic()
            try:
                keys = await self._fetch()
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                logger.warning("JWKS fetch from %s failed: %r", self._url, exc)
                if self._on_refresh is not None:
                    self._on_refresh(False)
                return
            if self._on_refresh is not None:
                self._on_refresh(True)
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def _fetch(self) -> dict[str, Any]:
        """The key set, in a client span that carries the trace to the identity provider
        (W3C `traceparent`) when tracing is on."""
        headers: dict[str, str] = {}
        with self._span(headers) as span:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.get(self._url, headers=headers)
            if span is not None:
                span.set_attribute("http.response.status_code", response.status_code)
            response.raise_for_status()
            document = response.json()
        # A key the set still holds unchanged keeps its object, so that what was verified
        # with it stays remembered (verifier.py compares key objects).
        entries = jwt.PyJWKSet.from_dict(document).keys  # refuses what is not a key set
        published = {str(jwk.get("kid") or ""): jwk for jwk in document["keys"]}
        keys = {}
        for entry in entries:
            kid = entry.key_id or ""
            previous = self._keys.get(kid)
            unchanged = previous is not None and self._published.get(kid) == published.get(kid)
            keys[kid] = previous if unchanged else entry.key
        self._published = published
        return keys

    def _span(self, headers: dict[str, str]) -> AbstractContextManager[Any]:
        return nullcontext() if self._tracer is None else self._client_span(headers)

    @contextmanager
    def _client_span(self, headers: dict[str, str]) -> Iterator[Any]:
        """A client span, its context written into the outgoing headers."""
        from opentelemetry.propagate import inject
        from opentelemetry.trace import SpanKind

        with self._tracer.start_as_current_span(
            "GET",
            kind=SpanKind.CLIENT,
            attributes={"http.request.method": "GET", "url.full": self._url},
        ) as span:
            inject(headers)
            yield span
