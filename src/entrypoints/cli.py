"""`users-service`: serve the API, migrate the database, relay events, import and export.

Every command reads its configuration from the environment (and `.env`): see
docs/configuration.md. Each command is a module of `commands/`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pydantic import ValidationError

from users_service.entrypoints.build_info import build_info
from users_service.entrypoints.commands import (
    Command,
    export_groups,
    export_users,
    import_groups,
    import_users,
    migrate,
    purge_idempotency_keys,
    relay,
    serve,
    token,
)
from users_service.entrypoints.logging_config import configure_logging
from users_service.entrypoints.settings import load_settings

COMMANDS: tuple[Command, ...] = (
    serve,
    migrate,
    token,
    relay,
    import_users,
    export_users,
    import_groups,
    export_groups,
    purge_idempotency_keys,
)
EPILOG = (
    "Configuration comes from environment variables (DATABASE_URL, AUTH_JWT_SECRET, ...) "
    "and a .env file; see docs/configuration.md."
)


def configuration_errors(exc: ValidationError) -> str:
    """One line per refused variable, named as it is set: `DB_POOL_SIZE: ...`."""
    lines = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]).upper() or "(settings)"
        lines.append(f"  {name}: {error['msg']}")
    return "\n".join(lines)


class _Version(argparse.Action):
    """`--version`, looked up only when asked (a checkout asks git for its revision)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        build = build_info()
        print(f"users-service {build.version} ({build.revision})")
        parser.exit()


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="users-service", description=__doc__.split("\n", 1)[0], epilog=EPILOG
    )
    main_parser.add_argument("--version", action=_Version, help="show the version and git revision")
    commands = main_parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command_parser = commands.add_parser(
            command.NAME, help=command.HELP, description=command.HELP, epilog=EPILOG
        )
        command_parser.set_defaults(run=command.run)
        command.add_arguments(command_parser)
    return main_parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValidationError as exc:
        print(f"users-service: invalid configuration\n{configuration_errors(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.command == serve.NAME and args.dev:
        settings = serve.development_settings(settings)
    configure_logging(settings.log_level, settings.log_format)
    raise SystemExit(args.run(settings, args))


if __name__ == "__main__":
    main()
