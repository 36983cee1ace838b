"""The app in process: a container on chosen settings, its lifespan running, and an httpx
client over ASGITransport. Tables start empty on SQL backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.databases import empty_tables
from users_service.adapters.sqlalchemy import Database, create_engine
from users_service.entrypoints.container import Container, container_for
from users_service.entrypoints.http.app import create_app
from users_service.entrypoints.options import engine_options
from users_service.entrypoints.settings import Settings


@dataclass
class Service:
    app: FastAPI
    container: Container
    client: httpx.AsyncClient
    # The test's own SQLAlchemy engine on the service's database, for what it checks
    # behind the service's back (None on the memory backend).
    engine: AsyncEngine = field(init=False)

    @property
    def database(self) -> Database:
        database: Database = self.container.database()
        return database

    def connections_lent(self) -> int:
        return self.database.use().used


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
    uses_sql = container.backend() == "sqlalchemy"
    engine = create_engine(engine_options(container.settings())) if uses_sql else None
    try:
        async with app.router.lifespan_context(app):
            if empty and engine is not None:
                await empty_tables(engine)
                await engine.dispose()  # holds no connection until a test asks it to
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", timeout=30, headers=headers
            ) as client:
                service = Service(app, container, client)
                if engine is not None:
                    service.engine = engine
                yield service
    finally:
        if engine is not None:
            await engine.dispose()
