# syntax=docker/dockerfile:1
# darklaunch: build the wheel in one stage, run it as a non-root user in another.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY proxy ./proxy
COPY comparators ./comparators
RUN python -m pip install --no-cache-dir build \
 && python -m build --wheel --outdir /dist .

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 darklaunch \
 && mkdir -p /etc/darklaunch /var/lib/darklaunch \
 && chown darklaunch /var/lib/darklaunch
COPY --from=build /dist/*.whl /tmp/
RUN python -m pip install --no-cache-dir /tmp/*.whl \
 && rm -f /tmp/*.whl
COPY config/darklaunch.yaml config/prices.json config/gate.yaml /etc/darklaunch/
USER darklaunch
WORKDIR /var/lib/darklaunch
ENV DARKLAUNCH_CONFIG=/etc/darklaunch/darklaunch.yaml \
    PYTHONUNBUFFERED=1
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=2).status == 200 else 1)"
ENTRYPOINT ["darklaunch", "serve"]
