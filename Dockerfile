# Cairn controller image: `cairn server` as a non-root user on Node 24.
#
#   docker build -t cairn:0.1.0 .
#   cairn install --image cairn:0.1.0
#
# Two stages: the build stage compiles src/ and sandbox/ to dist/ (TypeScript
# is a devDependency; `npm ci` runs the `prepare` build), the runtime stage
# installs production dependencies only and ships dist/ without the sources,
# so bin/cairn.js runs the compiled code (it starts in less than half the
# time and memory of the type-stripped sources).

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the build needs the sources, copied below; run it explicitly then.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY scripts/build.ts ./scripts/build.ts
COPY src ./src
COPY sandbox ./sandbox
RUN node scripts/build.ts

FROM node:24-slim
ENV NODE_ENV=production \
    TMPDIR=/tmp
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; --ignore-scripts skips `prepare` (no TypeScript here) and the
# download of the `node` devDependency (the base image already is Node 24).
RUN npm ci --omit=dev --ignore-scripts \
 && npm cache clean --force
COPY bin ./bin
COPY --from=build /app/dist ./dist
# A fixed numeric user, so `runAsNonRoot` can verify it without a passwd lookup; it owns nothing
# in /app (the code is read-only to it) and the root filesystem can be mounted read-only.
RUN groupadd --gid 10001 cairn \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cairn
USER 10001:10001
# /metrics, /healthz, /readyz
EXPOSE 8085
ENTRYPOINT ["/app/bin/cairn.js", "server"]
