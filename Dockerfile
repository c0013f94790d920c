# The infercost operator image. Build from the repository root:
#   docker build -t infercost:0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
# (No image is built by this repository's tests: the machines have no Docker engine.
#  `make test` lints this file with hadolint and checks its structure.)
#
# Base: Docker's official Python image, Debian 12 slim, pinned by the digest of its
# multi-platform manifest so a rebuild gets the same bytes.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# Build stage: our wheel and a virtualenv with it and its dependencies. Every dependency has
# binary wheels for linux amd64/arm64 (numpy, scipy, pydantic-core), so no compiler is needed
# here either, and none reaches the final image.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/infercost \
 && /opt/infercost/bin/pip install --no-cache-dir /wheels/infercost-*.whl \
 && /opt/infercost/bin/python -m compileall -q /opt/infercost/lib \
 && /opt/infercost/bin/pip uninstall --yes pip

# Final stage: the interpreter, the virtualenv, a non-root user. Runs with a read-only root
# filesystem (the Helm chart mounts an emptyDir at /tmp), so bytecode is compiled above.
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="infercost" \
      org.opencontainers.image.description="Kubernetes operator serving models on NVIDIA Triton at the lowest cost per throughput within a latency SLO" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.14-slim-bookworm"
ENV PATH=/opt/infercost/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /opt/infercost /opt/infercost
# 65532: the conventional "nonroot" UID of distroless images; the chart runs as the same.
USER 65532:65532
WORKDIR /tmp
# 8080: kopf liveness (/healthz); 9090: the operator's Prometheus metrics.
EXPOSE 8080 9090
ENTRYPOINT ["infercost"]
CMD ["run", "--all-namespaces"]
