FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN pip install --no-cache-dir .
COPY monitor.yaml ./monitor.yaml
# rules/ and state/ are mounted by docker-compose.yml, so rule edits on the host are seen live
RUN mkdir -p /app/rules /app/state
ENV MONITOR_CONFIG=/app/monitor.yaml
# healthy while the service's poll tick runs (see `news-monitor status --check`); the first cycle may be slow
HEALTHCHECK --interval=60s --timeout=30s --start-period=120s --retries=3 CMD ["news-monitor", "status", "--check"]
STOPSIGNAL SIGTERM
CMD ["news-monitor", "run"]
