"""The users resource. Routes translate HTTP to use-case calls and back; errors are
raised, never caught here (the problem table answers them)."""

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from users_service.application.idempotency_store import IdempotencyClaim
from users_service.application.users.listing import MAX_IDS_FILTER, MAX_PAGE_SIZE
from users_service.domain.user import User
from users_service.entrypoints.http.freshness import CACHE_CONTROL_DOC, wants_fresh
from users_service.entrypoints.http.header_docs import all_headers
from users_service.entrypoints.http.idempotency import IDEMPOTENCY_KEY_DOC
from users_service.entrypoints.http.openapi import AUTHENTICATED, operation_id, problems
from users_service.entrypoints.http.paging import page_response
from users_service.entrypoints.http.preconditions import (
    IF_MATCH_DOC,
    IF_NONE_MATCH_DOC,
    expected_versions,
    none_match,
)
from users_service.entrypoints.http.representation import (
    etag,
    json_response,
    user_response,
    users_body,
    with_groups,
)
from users_service.entrypoints.http.routing import ProtectedRoute
from users_service.entrypoints.http.schemas import (
    BatchCreate,
    EmailFilter,
    UserCreate,
    UserList,
    UserOut,
    UserPage,
    UserPatch,
    UserWithGroupsOut,
    UserWithGroupsPage,
)
from users_service.entrypoints.http.security import caller
from users_service.entrypoints.http.services import http_services

MAX_ID = 2**63 - 1
# `{user_id:int}` matches digits only, so /users/batch is never taken for an id: other
# methods there answer 405 (Allow: POST), and a non-numeric id is simply no such route.
UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="The user's id")]
Expand = Annotated[
    Literal["groups"] | None,
    Query(
        description="`groups`: each user with its first 100 groups by id (`groups`) and "
        "whether they are all (`groups_complete`); needs `groups:read`, or is the caller"
    ),
]


_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: If-None-Match names the current version"}
}

# Every route here authenticates its caller first, and takes only JSON bodies.
router = APIRouter(
    tags=["users"], generate_unique_id_function=operation_id, route_class=ProtectedRoute
)


@router.post(
    "/users",
    name="create_user",
    summary="Create a user",
    status_code=201,
    response_model=UserOut,
    responses=problems(400, 409, 413, 415, 422, *AUTHENTICATED),
    openapi_extra=IDEMPOTENCY_KEY_DOC,
)
@router.post("/users/", status_code=201, include_in_schema=False)
async def create_user(request: Request, body: UserCreate) -> Response:
    actor, services = caller(request), http_services(request)
    register = services.register_users

    async def execute(claim: IdempotencyClaim[list[User]] | None) -> list[User]:
        return [await register.one(actor, body.email, body.name, claim=claim)]

    def render(users: Sequence[User]) -> Response:
        [user] = users
        return user_response(user, status_code=201, headers={"Location": f"/users/{user.id}"})

    return await services.idempotent_requests.run(request, actor, body, execute, render)


@router.post(
    "/users/batch",
    name="create_users_batch",
    summary="Create up to 1,000 users, all or nothing",
    status_code=201,
    response_model=UserList,
    responses=problems(400, 409, 413, 415, 422, *AUTHENTICATED),
    openapi_extra=IDEMPOTENCY_KEY_DOC,
)
async def create_users_batch(request: Request, body: BatchCreate) -> Response:
    actor, services = caller(request), http_services(request)
    register = services.register_users

    async def execute(claim: IdempotencyClaim[list[User]] | None) -> list[User]:
        return await register.many(actor, body.users, claim=claim)

    def render(users: Sequence[User]) -> Response:
        return json_response({"items": users_body(users)}, status_code=201)

    return await services.idempotent_requests.run(request, actor, body, execute, render)


@router.get(
    "/users/{user_id:int}",
    name="get_user",
    summary="Get a user",
    response_model=UserOut | UserWithGroupsOut,
    responses=_NOT_MODIFIED | problems(404, 422, *AUTHENTICATED),
    openapi_extra=all_headers(IF_NONE_MATCH_DOC, CACHE_CONTROL_DOC),
)
@router.get("/users/{user_id:int}/", include_in_schema=False)
async def get_user(request: Request, user_id: UserId, expand: Expand = None) -> Response:
    services, actor, fresh = http_services(request), caller(request), wants_fresh(request)
    if expand is not None:
        services.expand_groups.authorize(actor, user_id)
    user = await services.get_user(actor, user_id, fresh=fresh)
    if none_match(request, user.version):
        return Response(status_code=304, headers={"ETag": etag(user.version)})
    if expand is None:
        return user_response(user)
    groups = await services.expand_groups(actor, [user], fresh=fresh)
    # The user's ETag covers the user only: its groups change without it.
    return json_response(with_groups(user, groups[user.id]), headers={"ETag": etag(user.version)})


@router.get(
    "/users",
    name="list_users",
    summary="List users, a keyset page at a time",
    response_model=UserPage | UserWithGroupsPage,
    responses=problems(400, 422, *AUTHENTICATED),
    openapi_extra=CACHE_CONTROL_DOC,
)
@router.get("/users/", include_in_schema=False)
async def list_users(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
    sort: Annotated[
        str, Query(pattern=r"^-?id$", description="`id` (oldest first) or `-id` (newest first)")
    ] = "id",
    email: Annotated[EmailFilter | None, Query(description="Exact email, case-insensitive")] = None,
    ids: Annotated[
        list[Annotated[int, Query(ge=1, le=MAX_ID)]] | None,
        Query(alias="id", max_length=MAX_IDS_FILTER, description="Only these ids (repeat)"),
    ] = None,
    expand: Expand = None,
) -> Response:
    services = http_services(request)
    if expand is not None:
        services.expand_groups.authorize(caller(request))
    cursors = services.cursors
    query_key = f"{sort}|{(email or '').lower()}|{','.join(map(str, sorted(set(ids or ()))))}"
    after_id = cursors.decode(cursor, query_key) if cursor is not None else None
    page = await services.list_users(
        caller(request),
        limit=limit,
        after_id=after_id,
        descending=sort == "-id",
        email=email,
        ids=ids,
        fresh=wants_fresh(request),
    )
    items = users_body(page.items)
    if expand is not None:
        groups = await services.expand_groups(
            caller(request), page.items, fresh=wants_fresh(request)
        )
        items = [with_groups(user, groups[user.id]) for user in page.items]
    return page_response(request, items, page.next_after_id, query_key)


@router.patch(
    "/users/{user_id:int}",
    name="update_user",
    summary="Change a user's email and/or name (JSON merge patch)",
    response_model=UserOut,
    responses=problems(400, 404, 409, 412, 413, 415, 422, *AUTHENTICATED),
    openapi_extra=IF_MATCH_DOC,
)
@router.patch("/users/{user_id:int}/", include_in_schema=False)
async def update_user(request: Request, user_id: UserId, body: UserPatch) -> Response:
    user = await http_services(request).update_user(
        caller(request),
        user_id,
        email=body.email,
        name=body.name,
        expected_versions=expected_versions(request),
    )
    return user_response(user)


@router.delete(
    "/users/{user_id:int}",
    name="delete_user",
    summary="Delete a user",
    status_code=204,
    response_class=Response,
    responses=problems(404, 412, 422, *AUTHENTICATED),
    openapi_extra=IF_MATCH_DOC,
)
@router.delete("/users/{user_id:int}/", status_code=204, include_in_schema=False)
async def delete_user(request: Request, user_id: UserId) -> Response:
    delete = http_services(request).delete_user
    await delete(caller(request), user_id, expected_versions=expected_versions(request))
    return Response(status_code=204)
