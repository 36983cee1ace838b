"""The users resource. Routes translate HTTP to use-case calls and back; errors are
raised, never caught here (the problem table answers them)."""

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from application.idempotency import IdempotencyClaim
from application.users.delete import DeleteUser
from application.users.get import GetUser
from application.users.listing import MAX_IDS_FILTER, MAX_PAGE_SIZE, ListUsers
from application.users.register import RegisterUsers
from application.users.update import UpdateUser
from domain.user import User
from entrypoints.http.cursors import CursorCodec
from entrypoints.http.dependencies import provided
from entrypoints.http.idempotency import IDEMPOTENCY_KEY_DOC, IdempotentRequests
from entrypoints.http.openapi import AUTHENTICATED, operation_id, problems
from entrypoints.http.preconditions import (
    IF_MATCH_DOC,
    IF_NONE_MATCH_DOC,
    expected_versions,
    none_match,
)
from entrypoints.http.problems import UNSUPPORTED_MEDIA_TYPE, ProblemError
from entrypoints.http.representation import etag, json_response, user_response, users_body
from entrypoints.http.schemas import (
    BatchCreate,
    EmailFilter,
    UserCreate,
    UserList,
    UserOut,
    UserPage,
    UserPatch,
)
from entrypoints.http.security import Actor

MAX_ID = 2**63 - 1
# `{user_id:int}` matches digits only, so /users/batch is never taken for an id: other
# methods there answer 405 (Allow: POST), and a non-numeric id is simply no such route.
UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="The user's id")]


async def require_json(request: Request) -> None:
    """Bodies must be JSON (application/json or any +json type such as merge-patch)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise ProblemError(UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json (UTF-8).")


_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: If-None-Match names the current version"}
}

router = APIRouter(tags=["users"], generate_unique_id_function=operation_id)
_JSON_BODY = [Depends(require_json)]


@router.post(
    "/users",
    name="create_user",
    summary="Create a user",
    status_code=201,
    response_model=UserOut,
    responses=problems(400, 409, 413, 415, 422, *AUTHENTICATED),
    dependencies=_JSON_BODY,
    openapi_extra=IDEMPOTENCY_KEY_DOC,
)
@router.post("/users/", status_code=201, include_in_schema=False, dependencies=_JSON_BODY)
async def create_user(
    request: Request,
    actor: Actor,
    body: UserCreate,
    register: Annotated[RegisterUsers, provided("register_users")],
    idempotent: Annotated[IdempotentRequests, provided("idempotent_requests")],
) -> Response:
    async def execute(claim: IdempotencyClaim | None) -> list[User]:
        return [await register.one(actor, body.email, body.name, claim=claim)]

    def render(users: Sequence[User]) -> Response:
        [user] = users
        return user_response(user, status_code=201, headers={"Location": f"/users/{user.id}"})

    return await idempotent.run(request, actor, body, execute, render)


@router.post(
    "/users/batch",
    name="create_users_batch",
    summary="Create up to 1,000 users, all or nothing",
    status_code=201,
    response_model=UserList,
    responses=problems(400, 409, 413, 415, 422, *AUTHENTICATED),
    dependencies=_JSON_BODY,
    openapi_extra=IDEMPOTENCY_KEY_DOC,
)
async def create_users_batch(
    request: Request,
    actor: Actor,
    body: BatchCreate,
    register: Annotated[RegisterUsers, provided("register_users")],
    idempotent: Annotated[IdempotentRequests, provided("idempotent_requests")],
) -> Response:
    async def execute(claim: IdempotencyClaim | None) -> list[User]:
        return await register.many(actor, body.users, claim=claim)

    def render(users: Sequence[User]) -> Response:
        return json_response({"items": users_body(users)}, status_code=201)

    return await idempotent.run(request, actor, body, execute, render)


@router.get(
    "/users/{user_id:int}",
    name="get_user",
    summary="Get a user",
    response_model=UserOut,
    responses=_NOT_MODIFIED | problems(404, 422, *AUTHENTICATED),
    openapi_extra=IF_NONE_MATCH_DOC,
)
@router.get("/users/{user_id:int}/", include_in_schema=False)
async def get_user(
    request: Request,
    actor: Actor,
    user_id: UserId,
    get: Annotated[GetUser, provided("get_user")],
) -> Response:
    user = await get(actor, user_id)
    if none_match(request, user.version):
        return Response(status_code=304, headers={"ETag": etag(user.version)})
    return user_response(user)


@router.get(
    "/users",
    name="list_users",
    summary="List users, a keyset page at a time",
    response_model=UserPage,
    responses=problems(400, 422, *AUTHENTICATED),
)
@router.get("/users/", include_in_schema=False)
async def list_users(
    request: Request,
    actor: Actor,
    list_page: Annotated[ListUsers, provided("list_users")],
    cursors: Annotated[CursorCodec, provided("cursor_codec")],
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
) -> Response:
    query_key = f"{sort}|{email or ''}|{','.join(map(str, sorted(set(ids or ()))))}"
    after_id = cursors.decode(cursor, query_key) if cursor is not None else None
    page = await list_page(
        actor, limit=limit, after_id=after_id, descending=sort == "-id", email=email, ids=ids
    )
    next_cursor = None
    headers: dict[str, str] = {}
    if page.next_after_id is not None:
        next_cursor = cursors.encode(page.next_after_id, query_key)
        next_url = request.url.include_query_params(cursor=next_cursor)
        headers["Link"] = f'<{next_url}>; rel="next"'
    body = {"items": users_body(page.items), "next_cursor": next_cursor}
    return json_response(body, headers=headers)


@router.patch(
    "/users/{user_id:int}",
    name="update_user",
    summary="Change a user's email and/or name (JSON merge patch)",
    response_model=UserOut,
    responses=problems(400, 404, 409, 412, 413, 415, 422, *AUTHENTICATED),
    dependencies=_JSON_BODY,
    openapi_extra=IF_MATCH_DOC,
)
@router.patch("/users/{user_id:int}/", include_in_schema=False, dependencies=_JSON_BODY)
async def update_user(
    request: Request,
    actor: Actor,
    user_id: UserId,
    body: UserPatch,
    update: Annotated[UpdateUser, provided("update_user")],
) -> Response:
    user = await update(
        actor,
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
async def delete_user(
    request: Request,
    actor: Actor,
    user_id: UserId,
    delete: Annotated[DeleteUser, provided("delete_user")],
) -> Response:
    await delete(actor, user_id, expected_versions=expected_versions(request))
    return Response(status_code=204)
