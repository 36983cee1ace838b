"""What routes take from the composition root, looked up from the request.

Routes call `services(request)` rather than declaring a FastAPI dependency per use case:
FastAPI solves every declared dependency as a request of its own (a pass over the path,
query, header and cookie parameters, a cache key, a call), about 7 µs of CPU apiece per
request (measured), which on a short read was a tenth of the service's CPU. A lookup is
one attribute read; tests still override the container's providers as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from starlette.requests import Request

if TYPE_CHECKING:
    from users_service.entrypoints.container import Container


def services(request: Request) -> Container:
    """The container the app was built from."""
    return cast("Container", request.app.state.container)
