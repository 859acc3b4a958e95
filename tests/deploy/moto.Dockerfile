# S3-compatible object storage for the many-hosts compose test: moto's standalone server
# (`moto[server]`, the version of requirements-dev.lock, its dependencies pinned by the same lock).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements-dev.lock /tmp/requirements-dev.lock
RUN grep -E '^moto==' /tmp/requirements-dev.lock \
    && pip install -c /tmp/requirements-dev.lock "moto[server]"
EXPOSE 5000
CMD ["python", "-m", "moto.server", "-H", "0.0.0.0", "-p", "5000"]
