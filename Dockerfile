# grouproom in a container.
#
#   docker build -t grouproom .
#   docker run -p 127.0.0.1:8080:8080 -p 10000:10000/udp \
#     -e GROUPROOM_ICE_ADDRESSES=203.0.113.10 -e GROUPROOM_MEDIA_BIND_ADDRESS=0.0.0.0 \
#     grouproom
#
# Ports:
#   8080/tcp   HTTP and the signalling WebSocket (/ws); put a TLS proxy in front,
#              browsers only allow camera and microphone on https or localhost.
#   10000/udp  media of every participant (GROUPROOM_MEDIA_PORT); room worker
#              processes, when switched on, use the ports after it.
#              GROUPROOM_ICE_ADDRESSES is the address browsers reach this host
#              on; with GROUPROOM_MEDIA_BIND_ADDRESS=0.0.0.0 the container listens
#              on its own address, whatever it is. See docs/deployment.md.
#
# The compiled copy step (grouproom/media/_copy_step.c) is built in a stage of its
# own, with a C compiler that does not go into the image; the image insists on it
# (GROUPROOM_COPY_STEP=compiled), so a build without it does not start unnoticed.
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/grouproom
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY grouproom ./grouproom
RUN /opt/grouproom/bin/pip install .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

COPY --from=build /opt/grouproom /opt/grouproom
WORKDIR /opt/grouproom/src
COPY web ./web

RUN useradd --system --create-home --home-dir /home/grouproom --shell /usr/sbin/nologin grouproom \
    && install -d -o grouproom -g grouproom -m 0700 /var/lib/grouproom
USER grouproom
# The embedded database and the secret key: keep this volume, or set
# GROUPROOM_DATABASE_URL to a PostgreSQL database.
VOLUME /var/lib/grouproom

ENV PATH=/opt/grouproom/bin:$PATH \
    GROUPROOM_HOST=0.0.0.0 \
    GROUPROOM_PORT=8080 \
    GROUPROOM_WEB_ROOT=/opt/grouproom/src/web \
    GROUPROOM_DATA_DIR=/var/lib/grouproom \
    GROUPROOM_COPY_STEP=compiled

EXPOSE 8080/tcp 10000/udp

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('GROUPROOM_PORT', '8080'), timeout=4)"]

CMD ["grouproom", "serve"]
