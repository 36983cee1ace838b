"""What routes use, typed: one frozen `HttpServices` per app, built by `create_app` from
the container when the app starts.

Routes read it with `http_services(request)` rather than declaring a FastAPI dependency
per use case: FastAPI solves every declared dependency as a request of its own (a pass
over the path, query, header and cookie parameters, a cache key, a call), on every
request (docs/performance.md). A lookup is one attribute read, and every field keeps its
type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from starlette.requests import Request

from users_service.adapters.metrics import PrometheusMetrics
from users_service.application.events import Backlog
from users_service.application.groups.membership import ChangeMembers
from users_service.application.groups.reading import (
    ExpandGroups,
    GetGroup,
    ListGroups,
    ListMembers,
    ListUserGroups,
)
from users_service.application.groups.writing import CreateGroup, DeleteGroup, UpdateGroup
from users_service.application.users.delete import DeleteUser
from users_service.application.users.get import GetUser
from users_service.application.users.listing import ListUsers
from users_service.application.users.register import RegisterUsers
from users_service.application.users.update import UpdateUser
from users_service.entrypoints.http.authenticator import Authenticator
from users_service.entrypoints.http.cursors import CursorCodec
from users_service.entrypoints.http.idempotency import IdempotentRequests
from users_service.entrypoints.process.lifecycle import Lifecycle, ReadinessProbe


@dataclass(frozen=True, slots=True)
class HttpServices:
    lifecycle: Lifecycle
    readiness_probe: ReadinessProbe
    readiness_timeout: float
    metrics: PrometheusMetrics | None
    authenticator: Authenticator
    cursors: CursorCodec
    idempotent_requests: IdempotentRequests
    register_users: RegisterUsers
    get_user: GetUser
    list_users: ListUsers
    update_user: UpdateUser
    delete_user: DeleteUser
    create_group: CreateGroup
    get_group: GetGroup
    list_groups: ListGroups
    update_group: UpdateGroup
    delete_group: DeleteGroup
    change_members: ChangeMembers
    list_members: ListMembers
    list_user_groups: ListUserGroups
    expand_groups: ExpandGroups
    # What waits in the outbox, for /readyz (None: events are off).
    outbox_backlog: Callable[[], Awaitable[tuple[Backlog, float | None]]] | None
    # Who publishes the outbox, as /readyz says it.
    outbox_publisher: str


def http_services(request: Request) -> HttpServices:
    """The services of the app serving this request (set when its lifespan starts)."""
    return cast(HttpServices, request.app.state.services)
