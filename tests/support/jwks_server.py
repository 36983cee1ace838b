"""A tiny local JWKS endpoint whose key set the test can rotate."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


class JwksServer:
    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.requests = 0
        self.headers: list[dict[str, str]] = []  # of each request, names lowercased
        self.failing = False
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/.well-known/jwks.json"

    def document(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": keys}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        lines = head.decode("latin-1").split("\r\n")[1:]
        self.headers.append(
            {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines)
                if k
            }
        )
        if self.failing:
            status, body = "500 Internal Server Error", b"{}"
        else:
            status, body = "200 OK", json.dumps(self.document()).encode()
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> JwksServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
