# One image for every chargepark process. The command picks what it runs:
#   docker run IMAGE                     all five services in one process (embedded, SQLite)
#   docker run IMAGE serve parking       one service (distributed; see docker-compose.yml)
#   docker run IMAGE migrate             apply every service's migrations
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CHARGEPARK_HOST=0.0.0.0 \
    CHARGEPARK_HTTP_PORT=8080 \
    CHARGEPARK_OCPP_PORT=9000 \
    CHARGEPARK_DATA_DIR=/var/lib/chargepark

RUN groupadd --system --gid 10001 chargepark \
    && useradd --system --uid 10001 --gid chargepark --no-create-home \
        --home-dir /var/lib/chargepark --shell /usr/sbin/nologin chargepark \
    && install -d -o chargepark -g chargepark -m 0750 /var/lib/chargepark

WORKDIR /src
COPY pyproject.toml README.md ./
COPY chargepark ./chargepark
COPY csms ./csms
COPY parking ./parking
COPY billing ./billing
COPY accounts ./accounts
COPY ops ./ops
COPY simulators ./simulators
# A regular (not editable) install: the source tree is not needed at run time.
RUN pip install --no-cache-dir . \
    && chargepark --version \
    && rm -rf /src

USER 10001:10001
WORKDIR /var/lib/chargepark

# REST (every service) and OCPP WebSocket (csms and the embedded process).
EXPOSE 8080 9000

# Healthy when /healthz answers 200: at the root under `serve`, or under a prefix under `up`
# (/accounts/healthz). Errors (4xx/5xx) are read as statuses, not raised; no answer fails.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; \
o = u.OpenerDirector(); o.add_handler(u.HTTPHandler()); \
base = 'http://127.0.0.1:' + os.environ.get('CHARGEPARK_HTTP_PORT', '8080'); \
sys.exit(0 if 200 in [o.open(base + p, timeout=2).status \
for p in ('/healthz', '/accounts/healthz')] else 1)"]

ENTRYPOINT ["chargepark"]
CMD ["up"]
