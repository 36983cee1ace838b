"""The composition root: the only module that names concrete adapters. It builds
settings, adapters and use cases; the HTTP edge builds its own objects from them
(`http/app.py`), so nothing here imports the web framework."""

from __future__ import annotations

from dependency_injector import containers, providers

from users_service.adapters.clock import SystemClock
from users_service.adapters.email_syntax import EmailValidatorSyntax
from users_service.adapters.events.cloudevents import EventNames
from users_service.adapters.events.jetstream import JetStreamPublisher, NatsOptions
from users_service.adapters.memory import InMemoryUnitOfWorkFactory
from users_service.adapters.metrics import PoolStats, PrometheusMetrics
from users_service.adapters.sqlalchemy import (
    Database,
    SqlAlchemyUnitOfWorkFactory,
    create_database,
)
from users_service.adapters.sqlalchemy.health import SchemaCheck
from users_service.adapters.sqlalchemy.instrumentation import Instrumentation
from users_service.adapters.sqlalchemy.replica import Replica
from users_service.adapters.sqlalchemy.unit_of_work import Waiting
from users_service.adapters.tokens import Hs256TokenMinter, JwksClient, JwtSettings, JwtVerifier
from users_service.application.events import NO_EVENTS, EventPolicy
from users_service.application.groups.bulk import ExportGroups, ImportGroups
from users_service.application.groups.membership import ChangeMembers
from users_service.application.groups.reading import (
    ExpandGroups,
    GetGroup,
    ListGroups,
    ListMembers,
    ListUserGroups,
)
from users_service.application.groups.writing import CreateGroup, DeleteGroup, UpdateGroup
from users_service.application.idempotency import Idempotency
from users_service.application.metrics import NO_METRICS, UsageMetrics
from users_service.application.relay import OutboxRelay
from users_service.application.users.delete import DeleteUser
from users_service.application.users.exporting import ExportUsers
from users_service.application.users.get import GetUser
from users_service.application.users.importing import ImportUsers
from users_service.application.users.listing import ListUsers
from users_service.application.users.register import RegisterUsers
from users_service.application.users.update import UpdateUser
from users_service.entrypoints.build_info import build_info
from users_service.entrypoints.migrations import head_revision, known_revisions
from users_service.entrypoints.options import engine_options, relay_settings
from users_service.entrypoints.process.lifecycle import Lifecycle, always_ready
from users_service.entrypoints.settings import Settings, load_settings
from users_service.entrypoints.tracing import (
    Tracing,
    current_traceparent,
    tracing_from_environment,
)


def _replica(settings: Settings) -> Replica | None:
    """The read replica, when DATABASE_REPLICA_URL names one."""
    if settings.database_replica_url is None or settings.uses_memory:
        return None
    database = create_database(engine_options(settings, settings.database_replica_url))
    return Replica(database, settings.db_replica_max_lag)


def _metrics(settings: Settings) -> PrometheusMetrics | None:
    if not settings.metrics:
        return None
    build = build_info()
    return PrometheusMetrics(build.version, build.revision)


def _events(settings: Settings, tracing: Tracing | None, relay: OutboxRelay) -> EventPolicy:
    """EVENTS_ENABLED; the request's trace in each event when tracing is on; and, with
    the relay in process, a wake-up for it after each commit."""
    if not settings.events_enabled:
        return NO_EVENTS
    inprocess = settings.events_relay == "inprocess"
    return EventPolicy(
        traceparent=current_traceparent if tracing is not None else _no_traceparent,
        committed=relay.wake if inprocess else _nothing,
    )


def _no_traceparent() -> None:
    return None


def _nothing() -> None:
    return None


def _publisher(settings: Settings) -> JetStreamPublisher:
    return JetStreamPublisher(
        settings.nats_url,
        settings.events_stream,
        source=settings.events_source,
        redact=settings.events_redact,
        max_age=settings.events_stream_max_age,
        duplicate_window=settings.events_duplicate_window,
        timeout=settings.events_publish_timeout,
        names=EventNames(settings.events_subject_prefix),
        options=NatsOptions(
            tls_ca_file=settings.nats_tls_ca_file,
            tls_cert_file=settings.nats_tls_cert_file,
            tls_key_file=settings.nats_tls_key_file,
            nkeys_seed_file=settings.nats_nkey_seed_file,
            credentials_file=settings.nats_credentials_file,
        ),
    )


def _usage_metrics(metrics: PrometheusMetrics | None) -> UsageMetrics:
    return NO_METRICS if metrics is None else metrics


def _instrumentation(
    settings: Settings, metrics: PrometheusMetrics | None, tracing: Tracing | None
) -> Instrumentation | None:
    """What every database statement reports to, or None (then nothing is wrapped)."""
    if metrics is None and tracing is None:
        return None
    system = "sqlite" if settings.database_url.startswith("sqlite") else "postgresql"
    return Instrumentation(metrics, tracing.tracer if tracing else None, system)


def watch_pools(container: Container) -> None:
    """The pools' own counters, sampled into the metrics (no pool listener)."""
    metrics = container.metrics()
    if metrics is None or container.backend() != "sqlalchemy":
        return
    factory = container.unit_of_work()
    primary_waiting, replica_waiting = factory.waiting
    databases = [("primary", container.database(), primary_waiting)]
    replica = container.replica()
    if replica is not None:
        databases.append(("replica", replica.database, replica_waiting))
        metrics.watch_replica(lambda: (replica.lag, replica.serving))
    for name, database, waiting in databases:

        def stats(database: Database = database, waiting: Waiting = waiting) -> PoolStats:
            use = database.use()
            return PoolStats(use.used, use.idle, use.max, waiting.count)

        metrics.watch_pool(name, stats)


def _token_verifier(
    settings: Settings, metrics: PrometheusMetrics | None, tracing: Tracing | None
) -> JwtVerifier | None:
    if settings.auth_disabled:
        return None
    jwks = None
    if settings.auth_jwks_url:
        jwks = JwksClient(
            settings.auth_jwks_url,
            max_age=settings.auth_jwks_cache_seconds,
            min_refresh_interval=settings.auth_jwks_min_refresh_seconds,
            timeout=settings.auth_jwks_timeout,
            on_refresh=metrics.jwks_refresh if metrics else None,
            tracer=tracing.tracer if tracing else None,
        )
    secret = settings.auth_jwt_secret
    return JwtVerifier(
        JwtSettings(
            algorithms=settings.accepted_algorithms,
            secret=secret.get_secret_value() if secret else None,
            public_key=settings.auth_jwt_public_key,
            jwks=jwks,
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            leeway=settings.auth_leeway,
        )
    )


def _token_minter(settings: Settings) -> Hs256TokenMinter:
    if settings.auth_jwt_secret is None:
        raise RuntimeError("minting tokens needs AUTH_JWT_SECRET")
    return Hs256TokenMinter(
        settings.auth_jwt_secret.get_secret_value(), settings.auth_issuer, settings.auth_audience
    )


def _backend(settings: Settings) -> str:
    return "memory" if settings.uses_memory else "sqlalchemy"


class Container(containers.DeclarativeContainer):
    settings = providers.Singleton(load_settings)
    backend = providers.Callable(_backend, settings)
    clock = providers.Singleton(SystemClock)
    lifecycle = providers.Singleton(Lifecycle)
    metrics = providers.Singleton(_metrics, settings)
    usage_metrics = providers.Callable(_usage_metrics, metrics)
    tracing = providers.Singleton(tracing_from_environment)
    instrumentation = providers.Singleton(_instrumentation, settings, metrics, tracing)

    database = providers.Singleton(create_database, providers.Callable(engine_options, settings))
    replica = providers.Singleton(_replica, settings)

    unit_of_work = providers.Selector(
        backend,
        memory=providers.Singleton(InMemoryUnitOfWorkFactory),
        sqlalchemy=providers.Singleton(
            SqlAlchemyUnitOfWorkFactory,
            database,
            replica=replica,
            instrumentation=instrumentation,
        ),
    )
    readiness_probe = providers.Selector(
        backend,
        memory=providers.Object(always_ready),
        sqlalchemy=providers.Singleton(
            SchemaCheck,
            database,
            providers.Callable(head_revision),
            providers.Callable(known_revisions),
        ),
    )

    token_verifier = providers.Singleton(_token_verifier, settings, metrics, tracing)
    token_minter = providers.Factory(_token_minter, settings)

    # The one authority on email syntax, for every use case that accepts an email.
    emails = providers.Singleton(EmailValidatorSyntax)

    event_publisher = providers.Singleton(_publisher, settings)
    relay = providers.Singleton(
        OutboxRelay,
        uow=unit_of_work,
        publisher=event_publisher,
        clock=clock,
        settings=providers.Callable(relay_settings, settings),
        metrics=usage_metrics,
    )
    events = providers.Singleton(_events, settings, tracing, relay)

    register_users = providers.Singleton(
        RegisterUsers,
        uow=unit_of_work,
        clock=clock,
        emails=emails,
        metrics=usage_metrics,
        events=events,
    )
    get_user = providers.Singleton(GetUser, uow=unit_of_work)
    list_users = providers.Singleton(ListUsers, uow=unit_of_work, emails=emails)
    update_user = providers.Singleton(
        UpdateUser,
        uow=unit_of_work,
        clock=clock,
        emails=emails,
        metrics=usage_metrics,
        events=events,
    )
    delete_user = providers.Singleton(
        DeleteUser, uow=unit_of_work, clock=clock, metrics=usage_metrics, events=events
    )

    create_group = providers.Singleton(CreateGroup, uow=unit_of_work, clock=clock, events=events)
    get_group = providers.Singleton(GetGroup, uow=unit_of_work)
    list_groups = providers.Singleton(ListGroups, uow=unit_of_work)
    update_group = providers.Singleton(UpdateGroup, uow=unit_of_work, clock=clock, events=events)
    delete_group = providers.Singleton(DeleteGroup, uow=unit_of_work, clock=clock, events=events)
    change_members = providers.Singleton(
        ChangeMembers, uow=unit_of_work, clock=clock, events=events
    )
    list_members = providers.Singleton(ListMembers, uow=unit_of_work)
    list_user_groups = providers.Singleton(ListUserGroups, uow=unit_of_work)
    expand_groups = providers.Singleton(ExpandGroups, uow=unit_of_work)
    export_groups = providers.Singleton(ExportGroups, uow=unit_of_work)
    import_groups = providers.Singleton(ImportGroups, uow=unit_of_work, clock=clock, events=events)

    import_users = providers.Singleton(
        ImportUsers,
        uow=unit_of_work,
        clock=clock,
        emails=emails,
        metrics=usage_metrics,
        events=events,
    )

    export_users = providers.Singleton(ExportUsers, uow=unit_of_work, emails=emails)

    idempotency = providers.Singleton(Idempotency, uow=unit_of_work, clock=clock)


def container_for(settings: Settings) -> Container:
    """A container on these settings rather than on the environment's."""
    container = Container()
    container.settings.override(providers.Object(settings))
    return container
