# syntax=docker/dockerfile:1
# Base image for Python algorithms: our wrapper (algorithms/wrappers/python, standard library
# only; msgpack for binary frames). A build adds the user's code in ALGORITHM_PATH and installs
# its requirements.txt. The worker container sets WORKER_SOCKET_URL and ALGORITHM_ENTRY_POINT.
# Build from the repository root:
#   docker build -f k8s/images/algorithm-python.Dockerfile -t <registry>/hkube/algorithm-python:<tag> .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/hkube/wrapper \
    ALGORITHM_PATH=/hkube/algorithm-runner/algorithm_unique_folder

RUN pip install msgpack==1.2.4 \
 && groupadd --gid 1000 hkube \
 && useradd --uid 1000 --gid 1000 --home-dir /hkube --shell /usr/sbin/nologin hkube \
 && mkdir -p /hkube/algorithm-runner/algorithm_unique_folder /hkube-logs \
 && chown -R 1000:1000 /hkube/algorithm-runner /hkube-logs

COPY algorithms/wrappers/python/hkube_wrapper /hkube/wrapper/hkube_wrapper

USER 1000:1000
WORKDIR /hkube/algorithm-runner/algorithm_unique_folder
CMD ["python", "-m", "hkube_wrapper"]
