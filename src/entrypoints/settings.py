"""Configuration from the environment (and a dotenv file), read once by the container.

Relative paths resolve against the process's working directory: the default database
`./var/users.db` and the dotenv file `.env` (`ENV_FILE` names another; `ENV_FILE=` reads
none). Variables set in the environment win over the file.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MEMORY_URL = "memory://"
ENV_FILE_VARIABLE = "ENV_FILE"
DEFAULT_ENV_FILE = ".env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    # -- storage
    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/users.db",
        description="`postgresql+asyncpg://user:pass@host/db`, `sqlite+aiosqlite:///path` "
        "(an absolute path takes four slashes: `sqlite+aiosqlite:////var/lib/users.db`), "
        "or `memory://` (nothing kept after exit)",
    )
    database_migration_url: str | None = Field(
        default=None,
        description="what `users-service migrate` uses (default: `DATABASE_URL`): "
        "PostgreSQL itself, never a transaction-mode pooler",
    )
    database_replica_url: str | None = Field(
        default=None,
        description="read replicas for `GET /users/{id}` and `GET /users` (same URL forms, "
        "several hosts allowed, e.g. `target_session_attrs=prefer-standby`); see "
        "[Scaling](scaling.md#read-replicas)",
    )
    db_replica_max_lag: float = Field(
        default=2.0, ge=0, description="seconds a replica may be behind and still serve reads"
    )
    db_pgbouncer: bool = Field(
        default=False,
        description="`DATABASE_URL` goes through PgBouncer (or another pooler) in transaction "
        "mode; see [Scaling](scaling.md#behind-pgbouncer-in-transaction-mode)",
    )
    db_pool_size: int = Field(
        default=20,
        ge=1,
        description="connections the pool keeps; they are opened on demand",
    )
    db_max_overflow: int = Field(
        default=0, ge=0, description="connections the pool may open beyond `DB_POOL_SIZE`"
    )
    db_pool_timeout: float = Field(
        default=3.0,
        gt=0,
        description="seconds to wait for a free connection, when every one is lent, before "
        "answering 503",
    )
    db_pool_recycle: int = Field(
        default=1800,
        description="PostgreSQL: seconds an idle connection is kept before it is closed "
        "(opened again on demand); SQLite: seconds before a connection is renewed",
    )
    db_pool_pre_ping: bool = Field(
        default=False,
        description="test each connection before it is lent (one more round trip); a dead "
        "one is replaced",
    )
    db_connect_timeout: float = Field(
        default=3.0, gt=0, description="seconds to establish a connection"
    )
    db_statement_timeout: float = Field(
        default=5.0,
        gt=0,
        description="PostgreSQL's `statement_timeout` and `lock_timeout`, seconds; the "
        "client gives up one second later",
    )
    db_sqlite_busy_timeout: float = Field(
        default=5.0, gt=0, description="SQLite: seconds a writer waits for the write lock"
    )
    db_echo: bool = Field(default=False, description="log every SQL statement")

    # -- serving
    host: str = Field(default="127.0.0.1", description="where `serve` listens")
    port: int = Field(default=8000, ge=1, le=65535, description="the port `serve` listens on")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="`DEBUG`, `INFO`, `WARNING` or `ERROR`"
    )
    log_format: Literal["json", "console"] = Field(
        default="json",
        description="`json`: one JSON object per line; `console`: one readable line, "
        "coloured on a terminal (`NO_COLOR` and `FORCE_COLOR` honoured); `serve --dev` "
        "makes `console` the default",
    )
    access_log: Literal["on", "off", "errors"] = Field(
        default="on",
        description="`on`: one line per request; `errors`: only 4xx and 5xx; `off`: none",
    )
    drain_seconds: float = Field(
        default=5.0,
        ge=0,
        description="after SIGTERM, seconds `/readyz` answers 503 while requests are still "
        "served (`serve --dev` makes 0 the default)",
    )
    shutdown_timeout: float = Field(
        default=20.0, gt=0, description="then, seconds in-flight requests get to finish"
    )
    readiness_timeout: float = Field(
        default=1.0, gt=0, description="seconds `/readyz` waits for the database"
    )
    cursor_secret: SecretStr = Field(
        default=SecretStr("users-service-cursor-key"),
        description="HMAC key that makes list cursors tamper-evident; set it in production, "
        "the same on every instance",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1, description="request body limit, bytes (413 beyond)"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="comma-separated origins allowed to call from a browser (none: CORS off)",
    )
    gc_freeze: bool = Field(
        default=True,
        description="freeze what the serving process built at start-up out of the garbage "
        "collector's generations, so full collections no longer walk it",
    )

    # -- authentication
    auth_disabled: bool = Field(
        default=False, description="switch authentication off (logged as a warning)"
    )
    auth_jwt_secret: SecretStr | None = Field(default=None, description="HS256 shared secret")
    auth_jwt_public_key: str | None = Field(
        default=None, description="PEM public key for RS256 and ES256 tokens"
    )
    auth_jwks_url: str | None = Field(
        default=None,
        description="the identity provider's JWKS endpoint (RS256 and ES256, keys by `kid`)",
    )
    auth_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="comma-separated accepted algorithms, e.g. `RS256,ES256` (none: from "
        "the keys given)",
    )
    auth_issuer: str | None = Field(default=None, description="the `iss` required, when set")
    auth_audience: str | None = Field(default=None, description="the `aud` required, when set")
    auth_leeway: float = Field(
        default=5.0, ge=0, description="seconds of clock skew allowed on `exp` and `nbf`"
    )
    auth_jwks_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        description="seconds fetched keys are trusted before a refresh; a key that leaves "
        "the set stops verifying tokens within this time",
    )
    auth_jwks_min_refresh_seconds: float = Field(
        default=10.0, ge=0, description="least seconds between two refreshes for unknown `kid`s"
    )
    auth_jwks_timeout: float = Field(
        default=3.0, gt=0, description="seconds a fetch of the JWKS may take"
    )

    # -- metrics
    metrics: bool = Field(default=True, description="Prometheus metrics on `/metrics`")
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="serve `/metrics` on this port only, from the serving process (one "
        "endpoint for all workers); none: on the API's port",
    )
    metrics_dir: str | None = Field(
        default=None,
        description="with `serve --workers N`: prometheus-client's multiprocess folder (an "
        "`emptyDir` in Kubernetes); its `*.db` value files are deleted at start, nothing "
        "else, and a path that is not a folder is refused (none: a new temporary folder)",
    )

    # -- events
    events_enabled: bool = Field(
        default=True,
        description="write each change's event to the outbox; `false`: no events at all",
    )
    events_relay: Literal["external", "inprocess"] = Field(
        default="external",
        description="`external`: `users-service relay` publishes the outbox; `inprocess`: "
        "`serve` runs the relay too",
    )
    events_source: str = Field(default="users-service", description="the events' `source`")
    events_redact: bool = Field(
        default=False, description="publish ids and versions only, no email or name"
    )
    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        description="the NATS server, with JetStream (`tls://` for TLS; `user:password@` or "
        "a token may be in it)",
    )
    nats_tls_ca_file: str | None = Field(
        default=None, description="PEM file of the CAs that sign the NATS server's certificate"
    )
    nats_tls_cert_file: str | None = Field(
        default=None, description="PEM client certificate, for servers that verify clients"
    )
    nats_tls_key_file: str | None = Field(
        default=None, description="PEM key of `NATS_TLS_CERT_FILE` (if not in that file)"
    )
    nats_nkey_seed_file: str | None = Field(
        default=None,
        description="file holding the NKEY seed the client signs in with (needs the `nkeys` "
        "package)",
    )
    nats_credentials_file: str | None = Field(
        default=None,
        description="NATS credentials file, a user JWT and its NKEY seed (needs the `nkeys` "
        "package)",
    )
    events_stream: str = Field(
        default="USERS", description="the JetStream stream, created when missing"
    )
    events_subject_prefix: str = Field(
        default="users.v1",
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        max_length=100,
        description="the first tokens of every event's subject and type "
        "(`<prefix>.user.created.<id>`); give each deployment sharing one NATS server its own",
    )
    events_stream_max_age: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="seconds the stream keeps an event"
    )
    events_duplicate_window: float = Field(
        default=120.0, gt=0, description="seconds within which JetStream drops a repeated event id"
    )
    events_publish_timeout: float = Field(
        default=5.0,
        gt=0,
        description="seconds the relay waits for a connection to NATS, and for a wave of "
        "events to be acknowledged",
    )
    events_outbox_retention: float = Field(
        default=24 * 3600.0, ge=0, description="seconds a published event stays in the outbox"
    )
    events_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="events a relay round publishes at most"
    )
    events_poll_max: float = Field(
        default=1.0, gt=0, description="longest wait, in seconds, between two outbox polls"
    )
    events_poll_min: float = Field(
        default=0.1,
        ge=0,
        description="shortest time, in seconds, between the starts of two relay rounds: "
        "under load each round carries more events",
    )

    @field_validator("cors_origins", "auth_algorithms", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def accepted_algorithms(self) -> list[str]:
        if self.auth_algorithms:
            return self.auth_algorithms
        algorithms = ["HS256"] if self.auth_jwt_secret else []
        if self.auth_jwt_public_key or self.auth_jwks_url:
            algorithms += ["RS256", "ES256"]
        return algorithms

    def auth_misconfiguration(self) -> str | None:
        """Why the service must not start as configured, or None."""
        if self.auth_disabled:
            return None
        if not (self.auth_jwt_secret or self.auth_jwt_public_key or self.auth_jwks_url):
            return (
                "No token verification key is configured: set AUTH_JWT_SECRET, "
                "AUTH_JWT_PUBLIC_KEY or AUTH_JWKS_URL, or AUTH_DISABLED=true explicitly."
            )
        return None

    @property
    def migration_url(self) -> str:
        return self.database_migration_url or self.database_url

    @property
    def uses_memory(self) -> bool:
        return self.database_url.startswith(MEMORY_URL)


def load_settings() -> Settings:
    """The settings of this process: its environment, then its dotenv file."""
    env_file = os.environ.get(ENV_FILE_VARIABLE, DEFAULT_ENV_FILE) or None
    return Settings(_env_file=env_file)
