FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY edge edge
COPY device_sim device_sim
COPY provisioning provisioning
COPY coordinator coordinator
COPY programs programs
RUN pip install --no-cache-dir .
USER nobody
