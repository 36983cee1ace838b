"""Probes for the orchestrator: liveness never touches the database; readiness does."""

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request, Response

from users_service.entrypoints.http.openapi import operation_id, problems
from users_service.entrypoints.http.problems import SERVICE_UNAVAILABLE, problem_response
from users_service.entrypoints.http.representation import json_response
from users_service.entrypoints.http.services import http_services

router = APIRouter(tags=["health"], generate_unique_id_function=operation_id)
logger = logging.getLogger("users_service.health")

_OK: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"example": {"status": "ok"}}}}
}


@router.get("/livez", name="livez", summary="The process is alive", responses=_OK)
async def livez() -> Response:
    return json_response({"status": "ok"})


@router.get(
    "/readyz",
    name="readyz",
    summary="The database answers and the service is not shutting down",
    responses=_OK | problems(503),
)
async def readyz(request: Request) -> Response:
    services = http_services(request)
    metrics = services.metrics
    if services.lifecycle.draining:
        if metrics is not None:
            metrics.readiness(False)
        return _not_ready(request, "The service is shutting down.")
    try:
        await asyncio.wait_for(services.readiness_probe(), services.readiness_timeout)
    except Exception as exc:
        logger.warning("readiness probe failed: %r", exc)
        if metrics is not None:
            metrics.readiness(False)
        return _not_ready(request, "The database does not answer.")
    if metrics is not None:
        metrics.readiness(True)
    return json_response({"status": "ok"})


def _not_ready(request: Request, detail: str) -> Response:
    return problem_response(
        SERVICE_UNAVAILABLE, detail, instance=request.url.path, headers={"Retry-After": "2"}
    )
