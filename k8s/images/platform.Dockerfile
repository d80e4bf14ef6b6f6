# syntax=docker/dockerfile:1
# The platform image: the API (gunicorn), the Celery workers, beat, Flower, the supervisor,
# the migrations Job, and the `worker` container of every algorithm pod.
# Build from the repository root:
#   docker build -f k8s/images/platform.Dockerfile -t <registry>/hkube/platform:<tag> .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HKUBE_HOME=/var/lib/hkube \
    PYTHONPATH=/app

# git: the build Job's init container clones git algorithms (builds/git_source.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 1000 hkube \
 && useradd --uid 1000 --gid 1000 --home-dir /var/lib/hkube --create-home --shell /usr/sbin/nologin hkube

WORKDIR /app
# Runtime dependencies only: requirements.txt lists the test tools after "# Dev and test".
COPY requirements.txt ./
RUN sed '/^# Dev and test/,$d' requirements.txt > /tmp/runtime.txt \
 && pip install -r /tmp/runtime.txt \
 && rm /tmp/runtime.txt

COPY manage.py pyproject.toml ./
COPY hkube_site ./hkube_site
COPY storage ./storage
COPY pipelines ./pipelines
COPY builds ./builds
COPY algorithms ./algorithms
COPY graphql_api ./graphql_api
COPY hkubectl ./hkubectl
COPY k8s ./k8s

# Static files for the admin and the /jobs/ pages, served by the API from HKUBE_HOME/static.
RUN python manage.py collectstatic --noinput --verbosity 0 \
 && rm -f /var/lib/hkube/hkube.sqlite3* \
 && chown -R 1000:1000 /var/lib/hkube

USER 1000:1000
EXPOSE 8000
CMD ["gunicorn", "hkube_site.wsgi", "--bind=0.0.0.0:8000", "--worker-class=gthread", "--threads=8", "--access-logfile=-"]
