# The hotline app: FastAPI + FastAGI + AMI client in one process (one uvicorn worker).
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends espeak-ng sox \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/hotline
COPY pyproject.toml README.md ./
COPY core core
COPY ivr ivr
COPY cti cti
COPY app app
COPY hotline hotline
COPY asterisk_conf asterisk_conf
COPY prompts prompts
RUN pip install --no-cache-dir -e .
COPY docker/app-entrypoint.sh /usr/local/bin/app-entrypoint
ENV HOTLINE_CONFIG=/etc/hotline/hotline.toml
ENTRYPOINT ["/usr/local/bin/app-entrypoint"]
