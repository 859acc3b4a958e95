# The appbuzz image: the project and its exact, tested dependencies (requirements.lock).
# docker-compose.yml runs it as the Prefect server, the one-shot `deploy` and the scalable `worker`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

WORKDIR /opt/appbuzz

# Dependencies first, in their own layer: a code change does not reinstall them.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY . .
RUN pip install --no-deps -e . \
    && useradd --system --create-home --home-dir /home/appbuzz appbuzz \
    && mkdir -p /var/lib/appbuzz/out /var/lib/appbuzz/results /var/lib/appbuzz/prefect-ui \
        /var/lib/appbuzz/prefect-home \
    && chown -R appbuzz /var/lib/appbuzz

# `prefect server start` writes its UI build at start; site-packages is not the appbuzz user's, so
# without a folder of its own the server answers 404 on / (the API still works).
ENV PREFECT_UI_STATIC_DIRECTORY=/var/lib/appbuzz/prefect-ui

USER appbuzz

# A worker on the pool named in prefect.yaml; flow runs are subprocesses of this container.
CMD ["prefect", "worker", "start", "--pool", "appbuzz-process", "--type", "process", "--with-healthcheck"]
