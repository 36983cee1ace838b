"""OpenAPI security follows the route class: every `ProtectedRoute` operation, and no
other, requires the bearer token, and its documented responses must agree (401, 403 and
503 on protected operations, no 401 elsewhere) or building the schema fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPBearer
from pydantic import SecretStr

from tests.support.app import Service, serve
from tests.support.settings import IsolatedSettings
from tests.support.tokens import SECRET, bearer, token
from users_service.entrypoints.http.openapi import (
    AUTHENTICATED,
    install_openapi,
    operation_id,
    problems,
)
from users_service.entrypoints.http.routing import ProtectedRoute
from users_service.entrypoints.http.security import BEARER_SCHEME

BEARER = [{"bearer": []}]


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    settings = IsolatedSettings(database_url="memory://", auth_jwt_secret=SecretStr(SECRET))
    async with serve(settings, headers=bearer(token())) as served:
        yield served


async def ok() -> dict[str, str]:
    return {"status": "ok"}


def _app(*routers: APIRouter, prefix: str = "") -> FastAPI:
    app = FastAPI()
    for router in routers:
        app.include_router(router, prefix=prefix)
    install_openapi(app)
    return app


def _router(*, protected: bool) -> APIRouter:
    if protected:
        return APIRouter(generate_unique_id_function=operation_id, route_class=ProtectedRoute)
    return APIRouter(generate_unique_id_function=operation_id)


async def test_security_matches_the_route_classes_exactly(service: Service) -> None:
    response = await service.client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    assert schema["components"]["securitySchemes"] == {"bearer": BEARER_SCHEME}
    seen: dict[bool, set[str]] = {True: set(), False: set()}
    for route in iter_route_contexts(service.app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        protected = isinstance(route.original_route, ProtectedRoute)
        for method in route.methods or ():
            operation = schema["paths"][route.path_format][method.lower()]
            assert operation["operationId"] == route.name
            responses = set(operation["responses"])
            if protected:
                assert operation.get("security") == BEARER, route.name
                assert {str(s) for s in AUTHENTICATED} <= responses, route.name
            else:
                assert "security" not in operation, route.name
                assert "401" not in responses, route.name
            seen[protected].add(operation["operationId"])
    # Both kinds are in the real app: the loop above checked something.
    assert {"get_user", "create_user", "delete_user"} <= seen[True]
    assert seen[False] == {"livez", "readyz"}


def test_a_small_app_gets_security_from_its_route_classes() -> None:
    protected, public = _router(protected=True), _router(protected=False)
    protected.get("/secret", name="secret", responses=problems(*AUTHENTICATED))(ok)
    public.get("/public", name="public", responses=problems(503))(ok)
    schema = _app(protected, public, prefix="/v1").openapi()
    assert schema["paths"]["/v1/secret"]["get"]["security"] == BEARER
    assert "security" not in schema["paths"]["/v1/public"]["get"]
    assert schema["components"]["securitySchemes"] == {"bearer": BEARER_SCHEME}


def test_an_unprotected_route_that_documents_401_fails_the_schema() -> None:
    router = _router(protected=False)
    router.get("/sneaky", name="sneaky", responses=problems(*AUTHENTICATED))(ok)
    app = _app(router)
    with pytest.raises(RuntimeError, match=r"GET /sneaky \(sneaky\).*not a ProtectedRoute"):
        app.openapi()


def test_an_unprotected_route_with_a_security_requirement_fails_the_schema() -> None:
    router = _router(protected=False)
    scheme = HTTPBearer(auto_error=False)
    router.get("/bearer", name="bearer_only", dependencies=[Depends(scheme)])(ok)
    with pytest.raises(RuntimeError, match=r"GET /bearer \(bearer_only\)"):
        _app(router).openapi()


@pytest.mark.parametrize(
    ("statuses", "missing"),
    [((403, 503), "401"), ((), "401, 403, 503"), ((401, 503), "403"), ((401, 403), "503")],
)
def test_a_protected_route_that_omits_its_auth_responses_fails_the_schema(
    statuses: tuple[int, ...], missing: str
) -> None:
    router = _router(protected=True)
    router.post("/open", name="open_door", responses=problems(*statuses))(ok)
    app = _app(router)
    with pytest.raises(
        RuntimeError, match=rf"POST /open \(open_door\) is a ProtectedRoute .* {missing}:"
    ):
        app.openapi()
    assert app.openapi_schema is None  # nothing half-built is cached
