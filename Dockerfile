# Playroom server image: slim Python, non-root, health-checked.

# The sand tray's miniatures, exactly as package.json and package-lock.json pin them (npm ci,
# without the linter): the server reads them from node_modules/ at run time.
FROM node:20-slim AS miniatures
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PLAYROOM_DATA_DIR=/data \
    PLAYROOM_HOST=0.0.0.0 \
    PLAYROOM_PORT=8080

WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin playroom \
    && mkdir /data && chown playroom:playroom /data && chmod 700 /data

COPY pyproject.toml README.md constraints.txt package.json ./
COPY --from=miniatures /build/node_modules/@iconify-json/fluent-emoji-flat ./node_modules/@iconify-json/fluent-emoji-flat
COPY server ./server
COPY media ./media
COPY web ./web
COPY checklists ./checklists
# PYTHONDONTWRITEBYTECODE (above) keeps the running server from writing bytecode, and it could
# not write into /app as its own user anyway: Playroom's modules are compiled here, once, so
# that each start reads them compiled (pip compiles the dependencies as it installs them)
RUN pip install --no-cache-dir --constraint constraints.txt --editable . \
    && python -m compileall -q server media

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["sh", "-c", "python -m server migrate && exec python -m server serve"]
