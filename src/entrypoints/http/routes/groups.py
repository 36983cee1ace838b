"""The groups resource and memberships. Routes translate HTTP to use-case calls and back;
errors are raised, never caught here (the problem table answers them)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from users_service.application.groups.reading import MAX_PAGE_SIZE, Page
from users_service.application.idempotency_store import IdempotencyClaim
from users_service.domain.group import Group, MembershipChange
from users_service.domain.user import User
from users_service.entrypoints.http.freshness import CACHE_CONTROL_DOC, wants_fresh
from users_service.entrypoints.http.header_docs import all_headers
from users_service.entrypoints.http.idempotency import IDEMPOTENCY_KEY_DOC
from users_service.entrypoints.http.openapi import AUTHENTICATED, operation_id, problems
from users_service.entrypoints.http.paging import page_response
from users_service.entrypoints.http.preconditions import (
    GROUP_IF_MATCH_DOC,
    GROUP_IF_NONE_MATCH_DOC,
    expected_versions,
    none_match,
)
from users_service.entrypoints.http.representation import (
    etag,
    group_dict,
    group_response,
    json_response,
    users_body,
)
from users_service.entrypoints.http.routing import ProtectedRoute
from users_service.entrypoints.http.schemas import (
    GroupCreate,
    GroupOut,
    GroupPage,
    GroupPatch,
    MemberChangesIn,
    MemberChangesOut,
    NameIn,
    UserPage,
)
from users_service.entrypoints.http.security import caller
from users_service.entrypoints.http.services import http_services

MAX_ID = 2**63 - 1
GroupId = Annotated[int, Path(ge=1, le=MAX_ID, description="The group's id")]
UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="The user's id")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")]
Cursor = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` of the previous page")
]

_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: If-None-Match names the current version"}
}

router = APIRouter(
    tags=["groups"], generate_unique_id_function=operation_id, route_class=ProtectedRoute
)


@router.post(
    "/groups",
    name="create_group",
    summary="Create a group",
    status_code=201,
    response_model=GroupOut,
    responses=problems(400, 409, 413, 415, 422, *AUTHENTICATED),
    openapi_extra=IDEMPOTENCY_KEY_DOC,
)
async def create_group(request: Request, body: GroupCreate) -> Response:
    actor, services = caller(request), http_services(request)

    async def execute(claim: IdempotencyClaim[Group] | None) -> Group:
        return await services.create_group(actor, body.name, body.description, claim=claim)

    def render(group: Group) -> Response:
        return group_response(group, status_code=201, headers={"Location": f"/groups/{group.id}"})

    return await services.idempotent_requests.run(request, actor, body, execute, render)


@router.get(
    "/groups/{group_id:int}",
    name="get_group",
    summary="Get a group",
    response_model=GroupOut,
    responses=_NOT_MODIFIED | problems(404, 422, *AUTHENTICATED),
    openapi_extra=all_headers(GROUP_IF_NONE_MATCH_DOC, CACHE_CONTROL_DOC),
)
async def get_group(request: Request, group_id: GroupId) -> Response:
    group = await http_services(request).get_group(
        caller(request), group_id, fresh=wants_fresh(request)
    )
    if none_match(request, group.version):
        return Response(status_code=304, headers={"ETag": etag(group.version)})
    return group_response(group)


@router.get(
    "/groups",
    name="list_groups",
    summary="List groups, a keyset page at a time",
    response_model=GroupPage,
    responses=problems(400, 422, *AUTHENTICATED),
    openapi_extra=CACHE_CONTROL_DOC,
)
async def list_groups(
    request: Request,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?id$", description="`id` (oldest first) or `-id` (newest first)")
    ] = "id",
    name: Annotated[NameIn | None, Query(description="Exact name, case-insensitive")] = None,
) -> Response:
    services = http_services(request)
    query_key = f"groups|{sort}|{(name or '').strip().lower()}"
    after_id = services.cursors.decode(cursor, query_key) if cursor is not None else None
    page = await services.list_groups(
        caller(request),
        limit=limit,
        after_id=after_id,
        descending=sort == "-id",
        name=name,
        fresh=wants_fresh(request),
    )
    return page_response(
        request, [group_dict(g) for g in page.items], page.next_after_id, query_key
    )


@router.patch(
    "/groups/{group_id:int}",
    name="update_group",
    summary="Change a group's name and/or description (JSON merge patch)",
    response_model=GroupOut,
    responses=problems(400, 404, 409, 412, 413, 415, 422, *AUTHENTICATED),
    openapi_extra=GROUP_IF_MATCH_DOC,
)
async def update_group(request: Request, group_id: GroupId, body: GroupPatch) -> Response:
    group = await http_services(request).update_group(
        caller(request),
        group_id,
        name=body.name,
        description=body.description,
        sets_description="description" in body.model_fields_set,
        expected_versions=expected_versions(request),
    )
    return group_response(group)


@router.delete(
    "/groups/{group_id:int}",
    name="delete_group",
    summary="Delete a group (its memberships go, its members stay)",
    status_code=204,
    response_class=Response,
    responses=problems(404, 412, 422, *AUTHENTICATED),
    openapi_extra=GROUP_IF_MATCH_DOC,
)
async def delete_group(request: Request, group_id: GroupId) -> Response:
    delete = http_services(request).delete_group
    await delete(caller(request), group_id, expected_versions=expected_versions(request))
    return Response(status_code=204)


@router.get(
    "/groups/{group_id:int}/members",
    name="list_members",
    summary="List a group's members, by ascending user id",
    response_model=UserPage,
    responses=problems(400, 404, 422, *AUTHENTICATED),
    openapi_extra=CACHE_CONTROL_DOC,
)
async def list_members(
    request: Request, group_id: GroupId, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    services = http_services(request)
    query_key = f"members|{group_id}"
    after_id = services.cursors.decode(cursor, query_key) if cursor is not None else None
    page: Page[User] = await services.list_members(
        caller(request), group_id, limit=limit, after_id=after_id, fresh=wants_fresh(request)
    )
    return page_response(request, users_body(page.items), page.next_after_id, query_key)


@router.put(
    "/groups/{group_id:int}/members/{user_id:int}",
    name="add_member",
    summary="Make a user a member (whether or not it was one)",
    status_code=204,
    response_class=Response,
    responses=problems(404, 412, 422, *AUTHENTICATED),
    openapi_extra=GROUP_IF_MATCH_DOC,
)
async def add_member(request: Request, group_id: GroupId, user_id: UserId) -> Response:
    change = http_services(request).change_members
    await change.add(
        caller(request), group_id, user_id, expected_versions=expected_versions(request)
    )
    return Response(status_code=204)


@router.delete(
    "/groups/{group_id:int}/members/{user_id:int}",
    name="remove_member",
    summary="Make a user not a member (whether or not it was one)",
    status_code=204,
    response_class=Response,
    responses=problems(404, 412, 422, *AUTHENTICATED),
    openapi_extra=GROUP_IF_MATCH_DOC,
)
async def remove_member(request: Request, group_id: GroupId, user_id: UserId) -> Response:
    change = http_services(request).change_members
    await change.remove(
        caller(request), group_id, user_id, expected_versions=expected_versions(request)
    )
    return Response(status_code=204)


@router.post(
    "/groups/{group_id:int}/members",
    name="change_members",
    summary="Add and remove up to 1,000 members, all or nothing",
    response_model=MemberChangesOut,
    responses=problems(400, 404, 412, 413, 415, 422, *AUTHENTICATED),
    openapi_extra=all_headers(GROUP_IF_MATCH_DOC, IDEMPOTENCY_KEY_DOC),
)
async def change_members(request: Request, group_id: GroupId, body: MemberChangesIn) -> Response:
    actor, services = caller(request), http_services(request)
    versions = expected_versions(request)

    async def execute(claim: IdempotencyClaim[MembershipChange] | None) -> MembershipChange:
        return await services.change_members.batch(
            actor, group_id, body.add, body.remove, expected_versions=versions, claim=claim
        )

    def render(result: MembershipChange) -> Response:
        body_out = {
            "added": list(result.added),
            "removed": list(result.removed),
            "group": group_dict(result.group),
        }
        return json_response(body_out, headers={"ETag": etag(result.group.version)})

    return await services.idempotent_requests.run(request, actor, body, execute, render)


@router.get(
    "/users/{user_id:int}/groups",
    name="list_user_groups",
    summary="List a user's groups, by ascending group id",
    response_model=GroupPage,
    responses=problems(400, 404, 422, *AUTHENTICATED),
    openapi_extra=CACHE_CONTROL_DOC,
)
async def list_user_groups(
    request: Request, user_id: UserId, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    services = http_services(request)
    query_key = f"user-groups|{user_id}"
    after_id = services.cursors.decode(cursor, query_key) if cursor is not None else None
    page: Page[Group] = await services.list_user_groups(
        caller(request), user_id, limit=limit, after_id=after_id, fresh=wants_fresh(request)
    )
    return page_response(
        request, [group_dict(g) for g in page.items], page.next_after_id, query_key
    )
