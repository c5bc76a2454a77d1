# One image for every GridTokenX process: coordinator (ingest, API), simulator,
# gateway, installer CLI. Build context: the repository (see .dockerignore).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY wire wire
COPY edge edge
COPY device_sim device_sim
COPY provisioning provisioning
COPY coordinator coordinator
COPY programs programs
COPY demo demo
COPY verify verify
# openssl: deploy/broker/setup.sh checks the broker's certificate (and makes a
# development CA when asked) in this image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssl \
    && rm -rf /var/lib/apt/lists/*
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/gtx gtx \
    && mkdir -p /var/lib/gtx /etc/gtx \
    && chown gtx:gtx /var/lib/gtx
# Platform keys (GTX_KEY_DIR) and gateway state live in volumes mounted here.
ENV GTX_KEY_DIR=/var/lib/gtx/coordinator-keys
USER gtx
CMD ["gtx-coordinator", "--help"]
