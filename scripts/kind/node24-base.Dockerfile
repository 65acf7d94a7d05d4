# A local stand-in for node:24-bookworm-slim (scripts/e2e-provision.sh), so the
# project's Dockerfile builds unchanged where no container registry is reachable:
# docker build --build-arg NODE_IMAGE=<this image> .
#
# Context: node (the Node.js binary from the npm registry's node-linux-<arch> package),
# npm/ (the npm package), certs/ (extra CA certificates the host trusts, possibly none:
# where the npm registry is reached through a TLS-intercepting proxy, npm ci in a
# container needs them).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY certs/ /usr/local/share/ca-certificates/
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/debconf/* /var/log/* /usr/share/doc/* /usr/share/man/* \
    && update-ca-certificates
COPY node /usr/local/bin/node
COPY npm/ /usr/local/lib/node_modules/npm/
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && groupadd --gid 1000 node \
    && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
    && node --version && npm --version
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
