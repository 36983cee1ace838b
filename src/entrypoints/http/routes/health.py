"""Probes for the orchestrator: liveness never touches the database; readiness does."""

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request, Response

from users_service.application.errors import StorageNotReady
from users_service.entrypoints.http.openapi import operation_id, problems
from users_service.entrypoints.http.problems import SERVICE_UNAVAILABLE, problem_response
from users_service.entrypoints.http.representation import json_response
from users_service.entrypoints.http.services import HttpServices, http_services

router = APIRouter(tags=["health"], generate_unique_id_function=operation_id)
logger = logging.getLogger("users_service.health")

_OK: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"example": {"status": "ok"}}}}
}
_READY: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Ready. With events on, what waits in the outbox (never a reason "
        "to be unready: writes go on while the broker is away), and who publishes it: "
        "`this process` (EVENTS_RELAY=inprocess) or `users-service relay` (external: "
        "events wait until one runs).",
        "content": {
            "application/json": {
                "example": {
                    "status": "ok",
                    "outbox": {
                        "pending": 0,
                        "oldest_age_seconds": None,
                        "published_by": "this process",
                    },
                }
            }
        },
    }
}


@router.get("/livez", name="livez", summary="The process is alive", responses=_OK)
async def livez() -> Response:
    return json_response({"status": "ok"})


@router.get(
    "/readyz",
    name="readyz",
    summary="The database answers with this release's schema, and the service is not shutting down",
    responses=_READY | problems(503),
)
async def readyz(request: Request) -> Response:
    services = http_services(request)
    detail = None
    if services.lifecycle.draining:
        detail = "The service is shutting down."
    elif (failure := await database_failure(services)) is not None:
        logger.warning("readiness probe failed: %r", failure)
        not_ready = isinstance(failure, StorageNotReady)
        detail = str(failure) if not_ready else "The database does not answer."
    if services.metrics is not None:
        services.metrics.readiness(detail is None)
    if detail is not None:
        return _not_ready(request, detail)
    body: dict[str, Any] = {"status": "ok"}
    if services.outbox_backlog is not None:
        # Reported, never a reason to be unready: writes go on while the broker is away.
        try:
            backlog, age = await asyncio.wait_for(
                services.outbox_backlog(), services.readiness_timeout
            )
            body["outbox"] = {
                "pending": backlog.pending,
                "oldest_age_seconds": age,
                "published_by": services.outbox_publisher,
            }
        except Exception as exc:
            logger.warning("outbox backlog unknown: %r", exc)
    return json_response(body)


async def database_failure(services: HttpServices) -> Exception | None:
    """Why the readiness probe failed within READINESS_TIMEOUT, or None."""
    try:
        await asyncio.wait_for(services.readiness_probe(), services.readiness_timeout)
    except Exception as exc:
        return exc
    return None


def _not_ready(request: Request, detail: str) -> Response:
    return problem_response(
        SERVICE_UNAVAILABLE, detail, instance=request.url.path, headers={"Retry-After": "2"}
    )
