# syntax=docker/dockerfile:1
# peregrine serve in a container: Node 20 on Debian 12 (the uWebSockets.js binary we
# ship needs glibc ≥ 2.36, not musl), non-root, production dependencies only.
#
#   docker build -t peregrine:0.1.0 .
#   docker run --rm -p 9765:9765 -p 8765:8765 -v "$PWD/config:/etc/peregrine:ro" peregrine:0.1.0
#
# The image runs `peregrine serve --config /etc/peregrine/peregrine.yaml`: mount a config
# that listens on 0.0.0.0 with authentication (docs/kubernetes.md, deploy/config/).
# Listening beyond loopback without auth is refused. test/ops/image.test.ts checks what
# this recipe assumes.
ARG NODE_VERSION=20

# ---- build: all dependencies, TypeScript → dist/ (the addon is built in prod-deps)
FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json binding.gyp tsconfig.json ./
COPY scripts/ scripts/
COPY src/ src/
COPY rules/ rules/
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm run build \
 && node dist/cli/main.js rules check rules/

# ---- prod-deps: production dependencies only. `npm ci` runs the package's install
# script (node-gyp: the native addon, from node-addon-api and @nozbe/simdjson, both
# regular dependencies; python3, make and g++ are in this image) and its prepare
# script, which skips the TypeScript build when the compiler is not installed.
FROM node:${NODE_VERSION}-bookworm AS prod-deps
WORKDIR /src
# Node's headers ship in the image: node-gyp needs no download.
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json binding.gyp ./
COPY scripts/ scripts/
COPY src/native/ src/native/
RUN npm ci --omit=dev --no-audit --no-fund \
 && test -f build/Release/peregrine_json.node

# ---- runtime
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="peregrine" \
      org.opencontainers.image.description="Kubernetes audit-log threat detector: Falco k8s_audit rules, authenticated multi-cluster webhook" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"
# PEREGRINE_NATIVE=1: fail at start if the native extractor does not load, rather than
# run on the slower pure-JS parser.
ENV NODE_ENV=production \
    PEREGRINE_NATIVE=1 \
    PEREGRINE_HEALTHCHECK_URL=http://127.0.0.1:8765/healthz
WORKDIR /app
COPY --from=prod-deps /src/package.json ./
COPY --from=prod-deps /src/node_modules/ node_modules/
COPY --from=prod-deps /src/build/Release/peregrine_json.node build/Release/peregrine_json.node
COPY --from=build /src/dist/ dist/
COPY rules/ rules/
# Both native modules must load on this image (glibc, Node ABI), or the build fails here.
RUN node -e "require('/app/build/Release/peregrine_json.node')" \
 && node --input-type=module -e "const m = await import('/app/dist/ingest/uws.js'); m.loadUws();" \
 && node dist/cli/main.js rules check rules/
# The node image's unprivileged user, numeric so that runAsNonRoot can verify it.
USER 1000:1000
# 9765: webhook (/k8s-audit); 8765: /healthz, /readyz, /metrics.
EXPOSE 9765 8765
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.PEREGRINE_HEALTHCHECK_URL).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["serve", "--config", "/etc/peregrine/peregrine.yaml"]
