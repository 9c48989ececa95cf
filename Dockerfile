# syntax=docker/dockerfile:1
# Hubbub server image. Two stages: the builder turns the project and every dependency into
# wheels, so the runtime stage needs no compiler and keeps no build tools or sources.
#   docker build -t hubbub .
#   docker run -e HUBBUB_DATABASE_URL=mysql+aiomysql://... -e HUBBUB_JWT_SECRET=... -p 8080:8080 hubbub
# (docker-compose.yml next to this file runs it with MySQL 8 and the migrations.)

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# README.md* rather than README.md: pyproject.toml names it, but the build must not break
# while it is missing.
COPY pyproject.toml README.md* ./
COPY server ./server
COPY handlers ./handlers
COPY storage ./storage
COPY settings ./settings
COPY migrations ./migrations
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HUBBUB_ENV=production \
    HUBBUB_HOST=0.0.0.0 \
    HUBBUB_PORT=8080 \
    HUBBUB_UPLOAD_DIR=/data/uploads
# Install from the builder's wheels only (no index): the image gets exactly what was built.
# The bind mount keeps the wheels themselves out of this image's layers.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels hubbub
# An unprivileged user owns the uploads directory; it is created before VOLUME so that a new
# named volume starts out owned by that user.
RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home hubbub \
    && mkdir -p /data/uploads \
    && chown -R hubbub:hubbub /data
USER hubbub
WORKDIR /app
VOLUME ["/data/uploads"]
EXPOSE 8080
# slim has no curl: ask /healthz with the standard library. Liveness only (the process answers):
# a database outage is /readyz's to report, and must not make the container look broken.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HUBBUB_PORT', '8080'), timeout=4)"
CMD ["hubbub", "serve"]
