# syntax=docker/dockerfile:1
# One image for both services: the gateway by default, the AI connector with
# `node dist/src/bin/athena.js` as the command (the athena chart and docker-compose.yml do that).
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off: `prepare` would build before the sources are copied; dependencies' own scripts run below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm rebuild && npm run build

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/docs ./docs
# The guide's 500:500 user. ./data is the default dataDir (embedded database, generated keys); the
# Helm charts mount an emptyDir instead and keep the root filesystem read-only.
RUN groupadd --gid 500 nexus \
  && useradd --uid 500 --gid 500 --home-dir /app --no-create-home --shell /usr/sbin/nologin nexus \
  && mkdir -p /app/data \
  && chown 500:500 /app/data
USER 500:500
# 8080 gateway HTTP and socket.io, 4004 gateway metrics, 4084 AI connector.
EXPOSE 8080 4004 4084
# Liveness of whichever service runs; the AI connector sets HEALTHCHECK_URL to its own port.
ENV HEALTHCHECK_URL=http://127.0.0.1:8080/health/live
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/bin/nexus.js"]
