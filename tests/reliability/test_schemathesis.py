"""Property-based contract tests: schemathesis drives the app in process (memory backend)
from the app's own OpenAPI schema, with every default check, a bounded and deterministic
number of examples, and a check of our own that every status met is documented.

Three inputs are valid by the schema and still refused, by contract, because they are
server-issued state the schema cannot describe. They are configured narrowly, per operation:

- a list `cursor` the service never issued is a 400 (GET /users);
- an `If-Match` naming a version the user is not at is a 412 (PATCH and DELETE);
- an `Idempotency-Key` reused with another body is a 422: each generated valid key is made
  unique per request, so a key is never reused by accident.

And unknown query parameters on the lists (GET /users, /groups, a group's members, a
user's groups) are ignored (the contract does not forbid them), so they are not generated
as "negative" data there.

Other methods on /users/batch must answer 405 with `Allow: POST` (ids are digits only,
so the batch path is never read as a user id).
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict

import httpx
import pytest
import schemathesis
from dependency_injector import providers
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    status_code_conformance,
)
from starlette.types import Receive, Scope, Send

from tests.support.reliability import assert_problem, auth_headers, figures, make_settings
from users_service.entrypoints.container import Container
from users_service.entrypoints.http.app import create_app

MAX_EXAMPLES = 40
SEEDED = 5
_DEFAULT_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
_FOREIGN_CURSOR = [*_DEFAULT_ACCEPTED, "400"]
_STALE_IF_MATCH = [*_DEFAULT_ACCEPTED, "412"]
# Operation -> what it may answer to schema-valid input, beyond the defaults (module doc).
_REFUSED_BY_CONTRACT = {
    "update_user": _STALE_IF_MATCH,
    "delete_user": _STALE_IF_MATCH,
    "list_groups": _FOREIGN_CURSOR,
    "list_members": _FOREIGN_CURSOR,
    "list_user_groups": _FOREIGN_CURSOR,
    "update_group": _STALE_IF_MATCH,
    "delete_group": _STALE_IF_MATCH,
    "add_member": _STALE_IF_MATCH,
    "remove_member": _STALE_IF_MATCH,
    # unknown users, an id in both lists, no id at all, more than 1,000 in all
    "change_members": [*_STALE_IF_MATCH, "422"],
}


def build_app() -> FastAPI:
    container = Container()
    container.settings.override(providers.Object(make_settings("memory://")))
    return create_app(container)


class CurrentApp:
    """The ASGI app schemathesis talks to: a fresh app (empty store, fresh lifecycle) per
    operation, swapped in by a fixture. Schemathesis runs the lifespan in its own event
    loop and ends it after each test; a lifespan binds to the app current when it starts."""

    def __init__(self) -> None:
        self.app = build_app()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


CURRENT = CurrentApp()

schema = schemathesis.openapi.from_dict(
    CURRENT.app.openapi(),
    config=schemathesis.Config.from_dict(
        {
            # Derandomized generation and no example database: every run sends the same requests.
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "operations": [
                {
                    "include-operation-id": "list_users",
                    # Unknown query parameters are ignored, as HTTP APIs commonly do; the
                    # contract does not forbid them, so do not send them as "negative" data.
                    "generation": {"allow-extra-parameters": False},
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*_DEFAULT_ACCEPTED, "400"]  # foreign cursor
                        }
                    },
                },
                *(
                    {
                        "include-operation-id": operation,
                        # Lists ignore unknown query parameters, as GET /users does.
                        "generation": {"allow-extra-parameters": statuses is not _FOREIGN_CURSOR},
                        "checks": {"positive_data_acceptance": {"expected-statuses": statuses}},
                    }
                    for operation, statuses in _REFUSED_BY_CONTRACT.items()
                ),
            ],
        }
    ),
)
schema.app = CURRENT

# method and path -> statuses met
MET = figures("schemathesis: statuses met", defaultdict[str, set[int]](set))
_keys = itertools.count()
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,200}")


@pytest.fixture
def fresh_app() -> None:
    """A new app per operation, with users 1 to SEEDED stored so that generated ids find
    some (sent through schemathesis' own client, so in its event loop)."""
    CURRENT.app = build_app()
    with asgi.get_client(CURRENT) as client:
        for i in range(SEEDED):
            created = client.post(
                "/users",
                json={"email": f"seed{i}@example.com", "name": f"Seed {i}"},
                headers=auth_headers(),
            )
            assert created.status_code == 201, created.text


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # one app per operation
def test_api_conforms_to_its_schema(case: schemathesis.Case, fresh_app: None) -> None:
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and _VALID_KEY.fullmatch(key):
        case.headers["Idempotency-Key"] = f"{key}-{next(_keys)}"
    response = case.call_and_validate(
        headers=auth_headers(),
        additional_checks=[status_code_conformance],
    )
    if case.method.upper() == case.operation.method.upper():  # not a probe with another method
        documented = case.operation.definition.raw["responses"]
        assert str(response.status_code) in documented or "default" in documented, (
            f"{case.method} {case.path} answered {response.status_code}, "
            f"which its schema does not document ({sorted(documented)})"
        )
        MET[f"{case.method} {case.path}"].add(response.status_code)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE", "OPTIONS"])
async def test_other_methods_on_the_batch_resource_are_405_allow_post(method: str) -> None:
    app = build_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=auth_headers()
    ) as client:
        response = await client.request(method, "/users/batch", json={"name": "x"})
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
