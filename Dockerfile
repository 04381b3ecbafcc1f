# syntax=docker/dockerfile:1
# Accouch's container image: built with `npm pack`, installed from that tarball with production dependencies
# only (the same steps test/e2e/package.test.ts runs), run by a non-root user on a read-only root filesystem.
#
#   docker build -t accouch .
#   docker run -d -p 8080:8080 -v accouch-data:/data --read-only --tmpfs /tmp \
#     -e ACCOUCH_ISSUER=https://id.home.example accouch
#
# ACCOUCH_ISSUER must be the public URL people reach Accouch at (byte-exact, it ends up in every token); behind a
# TLS-terminating proxy also set ACCOUCH_TRUST_PROXY=true. Every setting is an ACCOUCH_* variable (see README).

ARG NODE_IMAGE=node:24-bookworm-slim

# 1. build: `npm pack` runs the prepack script (tsc), exactly as a release does.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the only install script among the dependencies is the `node` devDependency's, which fetches
# node 24 for machines that lack it; this image has node 24 already.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json README.md ./
COPY src ./src
COPY scripts ./scripts
COPY migrations ./migrations
COPY views ./views
RUN npm pack --pack-destination /pkg && mv /pkg/accouch-*.tgz /pkg/accouch.tgz

# 2. install: a production install of the tarball into an empty directory, as a user's `npm install` would.
FROM ${NODE_IMAGE} AS install
WORKDIR /app
COPY --from=build /pkg/accouch.tgz /tmp/accouch.tgz
RUN echo '{"name":"accouch-image","private":true}' > package.json \
 && npm install --omit=dev --no-audit --no-fund /tmp/accouch.tgz \
 && npm cache clean --force

# 3. runtime: no compiler, no npm cache, no sources; tini as PID 1 forwards SIGTERM to node (whose handler drains
# requests and closes the database) and reaps any zombie.
FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="Accouch" \
      org.opencontainers.image.description="The one login for a home cloud in a box: an OpenID Connect provider with a lock-screen sign-in." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/node:24-bookworm-slim"
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 accouch \
 && useradd --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin accouch \
 && mkdir /data && chown 10001:10001 /data && chmod 700 /data
COPY --from=install /app /app
# The server writes only the SQLite database and its secret key, both in ACCOUCH_DATA_DIR; SQLite may spill
# temporary files to /tmp. Everything else can be read-only.
# A young generation of 3 × 8 MB instead of V8's 3 × 16: peak memory under a token load ~190 instead of ~270 MB,
# at no CPU cost the bench could tell apart (bench/results.md). npm start passes the same flag.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=8 \
    ACCOUCH_DATA_DIR=/data \
    ACCOUCH_PORT=8080 \
    PATH=/app/node_modules/.bin:$PATH
WORKDIR /app
VOLUME ["/data"]
EXPOSE 8080
USER 10001:10001
# No curl in the image: node's fetch asks /healthz (the process answers; /readyz also checks the database).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.ACCOUCH_PORT || 8080}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "accouch"]
CMD ["serve"]
