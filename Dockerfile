# syntax=docker/dockerfile:1
#
# One image for all six Learnstream services. The command chooses the service:
#
#   docker build -t learnstream .
#   docker run --env-file … learnstream python -m learnstream.progress
#
# Configuration is environment variables only (LEARNSTREAM_*, OTEL_*; see the
# README's table). docker-compose.yml and deploy/k8s/ run this image.

ARG PYTHON_IMAGE=python:3.11-slim

# --------------------------------------------------------------------------
# build: resolve nothing, install exactly what uv.lock says into /opt/venv.
# --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

# uv from PyPI, pinned (the repeated --package below was checked with this version).
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

# Compile bytecode now: the runtime filesystem is read-only. Copy instead of
# hard-link (the cache is a mount). Use the image's CPython, never a download.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv

# The six services and, through them, libs/events and libs/runtime. The root
# project also depends on learnstream-devstack (the embedded PostgreSQL, Tansu
# broker and Redis binaries for `make run`); selecting the services with
# --package leaves devstack and all its dependencies out of the image, which
# `--all-packages --no-install-package learnstream-devstack` would not.
ARG SERVICE_PACKAGES="\
    --package learnstream-gateway \
    --package learnstream-progress \
    --package learnstream-chat \
    --package learnstream-achievements \
    --package learnstream-analytics \
    --package learnstream-exports"

WORKDIR /src

# 1. Third-party dependencies only, cached until the lock or a pyproject.toml
#    changes. uv reads every workspace member's pyproject.toml (devstack's too,
#    though it is not installed), so each one is copied here.
COPY pyproject.toml uv.lock ./
COPY libs/events/pyproject.toml libs/events/
COPY libs/runtime/pyproject.toml libs/runtime/
COPY libs/devstack/pyproject.toml libs/devstack/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/progress/pyproject.toml services/progress/
COPY services/chat/pyproject.toml services/chat/
COPY services/achievements/pyproject.toml services/achievements/
COPY services/analytics/pyproject.toml services/analytics/
COPY services/exports/pyproject.toml services/exports/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace ${SERVICE_PACKAGES}

# 2. Our own packages, built as wheels (--no-editable) so /opt/venv does not
#    point back into /src and is all the runtime stage needs.
COPY libs libs
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable ${SERVICE_PACKAGES}

# --------------------------------------------------------------------------
# runtime: the interpreter, /opt/venv and an unprivileged user. No uv, no
# sources, no compilers.
# --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it and the
# k8s securityContext (runAsUser: 10001) matches.
RUN groupadd --system --gid 10001 learnstream \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin learnstream

COPY --from=build /opt/venv /opt/venv

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LEARNSTREAM_ENV=prod \
    LEARNSTREAM_HTTP_HOST=0.0.0.0

WORKDIR /tmp
USER 10001:10001

# gateway, progress, chat, achievements, analytics, exports
EXPOSE 8000 8001 8002 8003 8004 8005

# Every deployment names its service explicitly; the gateway is only the default.
CMD ["python", "-m", "learnstream.gateway"]
