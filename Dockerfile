# users-service image.
#   docker build --build-arg REVISION="$(git rev-parse HEAD)" -t users-service .
# The image does not migrate at start-up: run `users-service migrate` as its own step.

# One base for both stages, so the interpreter /opt/venv links to is the same.
FROM python:3.11-slim-bookworm AS base

# ---------------------------------------------------------------------------------------
# builder: the locked dependencies and the service's wheel, installed into /opt/venv.
FROM base AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INPUT=1

WORKDIR /build

# /opt/venv gets no pip or setuptools of its own: the separate build venv's pip installs
# into it (pip --python). Everything is pinned and hash-checked, nothing is resolved:
# the build backend from requirements/build.lock, the service's dependencies from
# requirements/runtime.lock (both written by `make lock`).
COPY requirements/build.lock requirements/runtime.lock requirements/
RUN python -m venv --without-pip /opt/venv \
    && python -m venv /opt/build-venv \
    && /opt/build-venv/bin/pip install --no-cache-dir --require-hashes --no-deps \
        -r requirements/build.lock \
    && /opt/build-venv/bin/pip --python /opt/venv/bin/python install --no-cache-dir \
        --require-hashes --no-deps -r requirements/runtime.lock

# Only what the wheel is built from (.dockerignore keeps the rest out of the context).
COPY pyproject.toml setup.py README.md ./
COPY src/ src/
COPY migrations/ migrations/

# .git is not in the build context: the revision comes in as a build argument.
ARG REVISION=unknown
RUN USERS_SERVICE_REVISION="${REVISION}" /opt/build-venv/bin/pip wheel --no-cache-dir \
        --no-deps --no-build-isolation -w /tmp/dist . \
    && /opt/build-venv/bin/pip --python /opt/venv/bin/python install --no-cache-dir \
        --no-deps /tmp/dist/users_service-*.whl

# ---------------------------------------------------------------------------------------
# runtime: the base image, /opt/venv and an unprivileged user; no compiler, no build venv.
FROM base AS runtime

ARG REVISION=unknown
LABEL org.opencontainers.image.title="users-service" \
      org.opencontainers.image.description="Async users microservice (FastAPI, SQLAlchemy)" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="${REVISION}"

RUN groupadd --system --gid 10001 users-service \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin users-service

COPY --from=builder /opt/venv /opt/venv

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Owned by root: the service writes nothing to its working directory (temporary files go
# to /tmp only), and DATABASE_URL must name PostgreSQL or an absolute path.
WORKDIR /app

USER 10001:10001

EXPOSE 8000

# No curl in the slim image: python's urllib. An HTTP 503 raises, so the check fails.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]

# One uvicorn process per container (scale with replicas, not --workers). Exec form:
# the server is PID 1 and receives SIGTERM itself, for the drain.
CMD ["users-service", "serve", "--host", "0.0.0.0", "--port", "8000"]
