"""The app in process: a container on chosen settings, its lifespan running, and an httpx
client over ASGITransport. Tables start empty on SQL backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.databases import empty_tables
from users_service.entrypoints.container import Container, container_for
from users_service.entrypoints.http.app import create_app
from users_service.entrypoints.settings import Settings


@dataclass
class Service:
    app: FastAPI
    container: Container
    client: httpx.AsyncClient

    @property
    def engine(self) -> AsyncEngine:
        engine: AsyncEngine = self.container.engine()
        return engine


@asynccontextmanager
async def serve(
    target: Settings | Container,
    *,
    headers: Mapping[str, str] | None = None,
    empty: bool = True,
) -> AsyncIterator[Service]:
    """Serve `target` (settings, or a container whose providers a test overrode). The
    client sends `headers` on every request and never raises on a 5xx."""
    container = container_for(target) if isinstance(target, Settings) else target
    app = create_app(container)
    async with app.router.lifespan_context(app):
        if empty and container.backend() == "sqlalchemy":
            await empty_tables(container.engine())
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=30, headers=headers
        ) as client:
            yield Service(app, container, client)
