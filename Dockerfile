# The node agent's image: Debian's own Node.js and bpftrace, plus the bundled agent.
# Multi-arch: nothing here is architecture-specific, so `docker buildx build --platform
# linux/amd64,linux/arm64 .` works after `npm run build`.
FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs bpftrace ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY dist/harden-agent.cjs /opt/harden/harden-agent.cjs
COPY LICENSE /opt/harden/LICENSE
ENTRYPOINT ["node", "/opt/harden/harden-agent.cjs"]
