# The wsgate image: `docker build -t wsgate .` (e2e/run.sh builds it for kind).
#
# Stage 1 compiles the TypeScript with every dependency; the final stage holds only
# the production dependencies and the compiled dist/. Node runs as PID 1: wsgate
# handles SIGTERM and SIGINT itself (src/cli/main.ts: readiness fails, listeners
# close, connections drain with 1001, exit 0) and starts no child processes, so no
# init process is needed to forward signals or reap zombies.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no runtime dependency needs an install script. Then, in the same
# layer (a later layer's deletions would not shrink the image), what Node never loads:
# TypeScript sources and declarations (most of the Kubernetes client's size), source
# maps, Markdown, test directories, and native prebuilds for other platforms (the bare-*
# packages' addons serve the Bare runtime only), and the CommonJS half of the
# OpenTelemetry packages: they ship every module twice, wsgate loads them as ES modules
# (src/cli/serve.ts, only with --otlp-endpoint), and only @opentelemetry/api is also
# required from CommonJS (by prom-client) — e2e/image.e2e.test.ts exports a span from
# the image to prove the rest still loads. 89 MB → 38.9 MB above the base.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force \
    && find node_modules -type d \( -name test -o -name tests -o -name __tests__ \
         -o \( -path '*/prebuilds/*' ! -path '*/prebuilds/linux-*' \) \) -prune -exec rm -rf {} + \
    && find node_modules -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' \
         -o -name '*.md' \) -delete \
    && find node_modules/@opentelemetry -type f -name '*.cjs' ! -path 'node_modules/@opentelemetry/api/*' -delete
COPY --from=build /src/dist ./dist
COPY crds ./crds
# A numeric UID, so Kubernetes can verify runAsNonRoot (the chart also sets it).
USER 10001:10001
# http, https, admin (/metrics /healthz /readyz /debug/config)
EXPOSE 8080 8443 9090
# The V8 flags are the ones in dist/cli/main.js's first line (the `wsgate` command's own
# shebang; a test keeps them equal). --max-semi-space-size caps V8's young generation,
# which otherwise grows to 32 MiB per isolate while connections arrive and stays there:
# that halved RSS per idle connection (W4, docs/benchmarks.md) at no measured CPU cost.
ENTRYPOINT ["node", "--max-semi-space-size=8", "/app/dist/cli/main.js"]
CMD ["serve"]
