"""`users-service token`: an HS256 token signed with AUTH_JWT_SECRET."""

from __future__ import annotations

import argparse
import sys

from users_service.entrypoints.settings import Settings

NAME = "token"
HELP = "mint an HS256 token signed with AUTH_JWT_SECRET"
DEFAULT_SCOPES = "users:read users:write groups:read groups:write"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scope", default=DEFAULT_SCOPES, help="space-separated scopes")
    parser.add_argument("--sub", default="developer", help="the token's subject")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from users_service.entrypoints.container import container_for

    if settings.auth_jwt_secret is None:
        print(
            "users-service token: minting a token needs AUTH_JWT_SECRET (the HS256 secret "
            "the service verifies with)",
            file=sys.stderr,
        )
        return 2
    minter = container_for(settings).token_minter()
    print(minter.mint(subject=args.sub, scopes=args.scope, ttl_seconds=args.ttl))
    return 0
