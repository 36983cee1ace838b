"""Container lookups as FastAPI dependencies.

Each is an async function, so FastAPI calls it inline: a synchronous callable (such as
dependency-injector's `Provide` marker used as a dependency) is run in the thread pool,
which costs a thread round trip per parameter per request. Resolution itself is one
provider call on the app's container, so tests still override providers as usual.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request


def provided(name: str) -> Any:
    """`Depends` on the container provider called `name`."""

    async def resolve(request: Request) -> Any:
        return getattr(request.app.state.container, name)()

    resolve.__name__ = f"provide_{name}"
    return Depends(resolve)
