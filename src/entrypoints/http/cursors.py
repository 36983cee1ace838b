"""Opaque, tamper-evident list cursors.

A cursor carries the last id of a page and is bound, by an HMAC, to the query it
came from (sort and filters): a cursor edited by hand or reused with another query
is refused with 400 instead of silently paging something else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from users_service.entrypoints.http.problems import INVALID_CURSOR, ProblemError

_SIGNATURE_BYTES = 12


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, after_id: int, query_key: str) -> str:
        payload = str(after_id).encode()
        token = base64.urlsafe_b64encode(payload + self._sign(payload, query_key))
        return token.decode().rstrip("=")

    def decode(self, cursor: str, query_key: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise ProblemError(INVALID_CURSOR, "The cursor is malformed.") from None
        payload, signature = raw[:-_SIGNATURE_BYTES], raw[-_SIGNATURE_BYTES:]
        if not payload or not hmac.compare_digest(signature, self._sign(payload, query_key)):
            raise ProblemError(
                INVALID_CURSOR,
                "The cursor was altered or belongs to a different query; "
                "start again without a cursor.",
            )
        return int(payload)

    def _sign(self, payload: bytes, query_key: str) -> bytes:
        message = payload + b"|" + query_key.encode()
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
