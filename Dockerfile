# One image for every Akri-py component (agent, hooks, standalone discovery handlers):
#   docker build -t ghcr.io/akri-py/agent:latest -t ghcr.io/akri-py/hooks:latest .
# The manifests pick the component with `command:` (akri-agent, akri-hooks, akri-udev-discovery, ...).
FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libudev1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY akri_api akri_api
COPY hooks hooks
COPY agent agent
COPY akri_local akri_local
RUN pip install --no-cache-dir . && rm -rf /src
WORKDIR /
USER 65532:65532
CMD ["akri-agent"]
