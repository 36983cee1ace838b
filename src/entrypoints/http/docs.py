"""Swagger UI at /docs from files shipped in the package: the page needs no CDN.

FastAPI's own /docs loads Swagger UI's script, stylesheet and favicon from the internet,
so offline (or behind an egress firewall) it is a blank page. The files are vendored in
`static/swagger-ui/` (its README says where they come from and how to update them).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

# Must match static/swagger-ui/README.md. In the asset URLs, so that a browser holding an
# older copy fetches the new one after an update.
SWAGGER_UI_VERSION = "5.35.0"
ASSETS_DIR = Path(__file__).resolve().parent / "static" / "swagger-ui"

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def asset_url(root_path: str, name: str) -> str:
    return f"{root_path}{ASSETS_URL}/{name}?v={SWAGGER_UI_VERSION}"


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at /docs, its assets under /docs/assets, and its OAuth2 redirect
    page; none of them in the schema, none authenticated. Build the app with
    `docs_url=None` so that FastAPI's CDN-backed page is not installed as well."""
    openapi_url = app.openapi_url
    if openapi_url is None:
        return  # no schema served, nothing to show
    # StaticFiles checks the folder here: a build that lost the package data fails at
    # startup rather than serving a blank page.
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="swagger-ui-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        # Behind a proxy that strips a path prefix, every URL the page uses needs it back.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=asset_url(root, "swagger-ui-bundle.js"),
            swagger_css_url=asset_url(root, "swagger-ui.css"),
            swagger_favicon_url=asset_url(root, "favicon-32x32.png"),
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            init_oauth=app.swagger_ui_init_oauth,
            # validatorUrl: no badge fetched from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
        )

    async def oauth2_redirect(_request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_route(DOCS_URL, swagger_ui, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT_URL, oauth2_redirect, include_in_schema=False)
