"""/docs is Swagger UI from files the service ships: no URL on the page leaves the host."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr

from tests.support.app import serve
from tests.support.settings import IsolatedSettings
from tests.support.tokens import SECRET
from users_service.entrypoints.http.docs import ASSETS_DIR, ASSETS_URL, SWAGGER_UI_VERSION

VENDORED = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
# Python 3.11's mimetypes names JavaScript application/javascript; 3.12+ text/javascript.
_JAVASCRIPT = {"text/javascript", "application/javascript"}


class _References(HTMLParser):
    """Every src and href attribute on the page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    parser.close()
    return parser.urls


@pytest.fixture
async def anonymous() -> AsyncIterator[httpx.AsyncClient]:
    """No bearer token: the docs are public."""
    settings = IsolatedSettings(database_url="memory://", auth_jwt_secret=SecretStr(SECRET))
    async with serve(settings) as service:
        yield service.client


async def test_docs_page_references_only_local_assets(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "SwaggerUIBundle" in html
    assert "http://" not in html
    assert "https://" not in html
    assert "//" not in "".join(references(html))  # no scheme-relative URL either
    assert "validatorUrl" in html  # the badge that would load from validator.swagger.io: off
    assert "url: '/openapi.json'" in html
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in html

    urls = references(html)
    assert sorted(urlsplit(url).path for url in urls) == sorted(
        f"{ASSETS_URL}/{name}" for name in VENDORED
    )
    for url in urls:
        assert urlsplit(url).query == f"v={SWAGGER_UI_VERSION}"


async def test_every_referenced_asset_is_served(anonymous: httpx.AsyncClient) -> None:
    html = (await anonymous.get("/docs")).text
    for url in references(html):
        asset = await anonymous.get(url)
        name = urlsplit(url).path.rsplit("/", 1)[1]
        assert asset.status_code == 200, url
        media_type = asset.headers["content-type"].split(";")[0]
        expected = VENDORED[name]
        assert media_type in (_JAVASCRIPT if expected == "text/javascript" else {expected}), url
        assert asset.headers["x-content-type-options"] == "nosniff"  # so the type must be right
        assert asset.content == (ASSETS_DIR / name).read_bytes()


async def test_assets_are_confined_to_the_vendored_folder(anonymous: httpx.AsyncClient) -> None:
    for path in ("/docs/assets/missing.js", "/docs/assets/../app.py", "/docs/assets/%2e%2e/app.py"):
        assert (await anonymous.get(path)).status_code == 404, path


async def test_oauth2_redirect_page(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swaggerUIRedirectOauth2" in response.text


async def test_openapi_still_served_without_the_docs_routes(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/users" in paths
    assert not [path for path in paths if path.startswith("/docs")]


async def test_docs_honour_the_root_path() -> None:
    """Behind a proxy that strips /api, the page's URLs carry /api back."""
    settings = IsolatedSettings(database_url="memory://", auth_jwt_secret=SecretStr(SECRET))
    async with serve(settings) as service:
        transport = httpx.ASGITransport(app=service.app, root_path="/api")
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            html = (await client.get("/api/docs")).text
    assert "url: '/api/openapi.json'" in html
    assert "window.location.origin + '/api/docs/oauth2-redirect'" in html
    assert all(url.startswith(f"/api{ASSETS_URL}/") for url in references(html))


def test_vendored_files_match_their_readme() -> None:
    """The README's version and sha256 table describe the files actually shipped."""
    readme = (ASSETS_DIR / "README.md").read_text()
    assert f"Version: **{SWAGGER_UI_VERSION}**" in readme
    assert f"swagger-ui-dist-{SWAGGER_UI_VERSION}.tgz" in readme
    table = dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", readme, re.MULTILINE))
    shipped = {path.name for path in ASSETS_DIR.iterdir()} - {"README.md"}
    assert set(table) == shipped
    assert set(VENDORED) <= shipped
    for name, digest in table.items():
        assert hashlib.sha256((ASSETS_DIR / name).read_bytes()).hexdigest() == digest, name
