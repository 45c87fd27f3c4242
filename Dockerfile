# syntax=docker/dockerfile:1
# One image for every role: `start` (all in one, embedded storage under /data), `collector`, `query`,
# `migrate`, and the admin commands (`keys`, `audit`):
#   docker build -t cognive .
#   docker run -e COGNIVE_ADMIN_KEY=... -p 4317:4317 -p 4318:4318 -p 3300:3300 -v cognive-data:/data cognive
# The build stage compiles the server (`npm run build`); the image carries that JavaScript and the
# server's production dependencies only: no TypeScript sources, no tsx, no build tools.

ARG NODE_IMAGE=node:20-bookworm-slim

# Every workspace's manifest, as the lockfile needs them; each install stage starts here, so its
# dependency layer is rebuilt only when a manifest changes.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY semconv/package.json semconv/
COPY collector/package.json collector/
COPY query/package.json query/
COPY sdk/package.json sdk/
COPY ui/package.json ui/
COPY examples/package.json examples/

FROM manifests AS build
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json ./
COPY scripts/build.mjs scripts/
COPY semconv/ semconv/
COPY collector/ collector/
COPY ui/ ui/
COPY query/ query/
RUN npm run build

FROM manifests AS deps
# The server's production dependencies; no dev tools, no example agents' SDKs.
RUN npm ci --omit=dev --workspace=@cognive/query --no-audit --no-fund \
  && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
  COGNIVE_HOST=0.0.0.0 \
  COGNIVE_DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app /app
# The build: the workspaces' package.json (from deps) resolve @cognive/* to these files.
COPY --from=build /app/semconv/dist/esm semconv/dist/esm
COPY --from=build /app/collector/dist collector/dist
COPY --from=build /app/query/dist query/dist
COPY --from=build /app/ui/dist/cognive-ui.js ui/dist/
COPY query/bin/cognive.js query/bin/
COPY deploy/docker/healthcheck.mjs deploy/docker/
# The embedded store (`start`) and its files belong to the unprivileged `node` user (uid 1000).
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
# OTLP/gRPC, OTLP/HTTP, query API and UI.
EXPOSE 4317 4318 3300
# Listening on 0.0.0.0 makes keys required (COGNIVE_AUTH defaults to "required" off loopback):
# pass COGNIVE_ADMIN_KEY (32+ characters) to create the first keys.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "deploy/docker/healthcheck.mjs"]
ENTRYPOINT ["node", "query/bin/cognive.js"]
CMD ["start"]
