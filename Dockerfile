# The production image: gunicorn with the project's uvicorn workers, as `make serve` runs it.
# Build: docker build -t backend .   Migrate: docker run --rm --env-file prod.env backend python manage.py migrate
# README, "Container". BASE_IMAGE must have a python3 of 3.12 or newer on PATH (the default, or the
# Debian 13 image tests/container/test_image.py builds with debootstrap).
ARG BASE_IMAGE=python:3.12-slim-trixie

FROM ${BASE_IMAGE} AS build
# A CA bundle for HTTPS downloads where the build network needs one (mounted, with its path here);
# empty by default, so a normal build uses the image's own.
ARG SSL_CERT_FILE=""
ARG PIP_CERT=""
ARG UV_SYSTEM_CERTS=""
ARG UV_VERSION=0.13.9
ENV UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN set -eu; \
    for name in SSL_CERT_FILE PIP_CERT UV_SYSTEM_CERTS; do eval "[ -n \"\${$name}\" ] || unset $name"; done; \
    python3 -m venv /opt/uv && /opt/uv/bin/pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"; \
    /opt/uv/bin/uv sync --frozen --no-dev --no-install-project --python python3
COPY manage.py ./
COPY config config
COPY backend backend
COPY apps apps
COPY deploy/healthcheck.py deploy/healthcheck.py
# Static files at build time: whitenoise serves them, compressed, with hashed names. The settings
# need a key and a database to load; neither is used by collectstatic.
RUN APP_ENV=production SECRET_KEY=collectstatic-only DB_HOST=unused ALLOWED_HOSTS=build \
    /app/.venv/bin/python manage.py collectstatic --no-input --verbosity 0

FROM ${BASE_IMAGE}
# No home, no shell login, no root: the app cannot write its own code.
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000
USER app
EXPOSE 8000
STOPSIGNAL SIGTERM
# /api/health with a Host the app accepts (the first of ALLOWED_HOSTS), over plain HTTP (exempt from
# the HTTPS redirect); no curl in a slim image, so Python's urllib.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "deploy/healthcheck.py"]
CMD ["gunicorn", "--config", "config/gunicorn.py", "config.asgi:application"]
