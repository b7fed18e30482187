FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
# the Apprise extra: chat channels (Telegram, Discord, Teams, Matrix, ntfy, ...) work in the container.
# DL3013 (pin versions) reads '.[apprise]' as a package from PyPI; it is this project, pinned by pyproject.toml
# hadolint ignore=DL3013
RUN pip install --no-cache-dir '.[apprise]'
COPY monitor.yaml ./monitor.yaml
# The service runs as a system user with a fixed uid that owns state/ (the database and outbox); the code,
# config and rules stay read-only to it. A host directory mounted on /app/state must be writable by uid
# 10001 (`sudo chown -R 10001 state` once): `run` says so at start when it is not.
# rules/ and state/ are mounted by docker-compose.yml, so rule edits on the host are seen live
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /app/state monitor \
    && mkdir -p /app/rules /app/state \
    && chown monitor:monitor /app/state
USER 10001:10001
ENV MONITOR_CONFIG=/app/monitor.yaml
# healthy while the service's poll tick runs (see `news-monitor status --check`); the first cycle may be slow
HEALTHCHECK --interval=60s --timeout=30s --start-period=120s --retries=3 CMD ["news-monitor", "status", "--check"]
STOPSIGNAL SIGTERM
CMD ["news-monitor", "run"]
