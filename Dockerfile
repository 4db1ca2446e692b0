# syntax=docker/dockerfile:1
# darklaunch: build the wheel in one stage, run it as a non-root user in the others.
#
#   docker build --target proxy -t darklaunch:proxy .   # the proxy alone: serve, check-config
#   docker build -t darklaunch .                         # full (the default): and compare,
#                                                        # report, gate, export, demo
# The proxy image carries no numpy, scipy or matplotlib (about 240 MB `serve` never loads).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY proxy ./proxy
COPY comparators ./comparators
RUN python -m pip install --no-cache-dir build \
 && python -m build --wheel --outdir /dist .

# The data plane: `pip install darklaunch`, with the image's own config.
FROM python:3.11-slim AS proxy
RUN useradd --create-home --uid 10001 darklaunch \
 && mkdir -p /etc/darklaunch /var/lib/darklaunch \
 && chown darklaunch /var/lib/darklaunch
COPY --from=build /dist/*.whl /tmp/
RUN python -m pip install --no-cache-dir /tmp/*.whl \
 && rm -f /tmp/*.whl
COPY deploy/image.yaml /etc/darklaunch/darklaunch.yaml
USER darklaunch
WORKDIR /var/lib/darklaunch
ENV DARKLAUNCH_CONFIG=/etc/darklaunch/darklaunch.yaml \
    PYTHONUNBUFFERED=1
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import os, sys, urllib.request; port = os.environ.get('DARKLAUNCH_ADMIN_PORT', '9090'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2).status == 200 else 1)"
ENTRYPOINT ["darklaunch", "serve"]

# Both planes: `pip install 'darklaunch[analysis]'`. The last stage, so the default target.
FROM proxy AS full
USER root
COPY --from=build /dist/*.whl /tmp/
RUN for wheel in /tmp/*.whl; do python -m pip install --no-cache-dir "${wheel}[analysis]"; done \
 && rm -f /tmp/*.whl
USER darklaunch
