# The node agent's image: Debian's own Node.js and bpftrace, plus the bundled agent.
# Multi-arch: nothing here is architecture-specific, so `docker buildx build --platform
# linux/amd64,linux/arm64 .` works after `npm run build`.
FROM debian:trixie-slim
# bpftrace loads libclang and libLLVM, but not libclang-cpp (68 MB), which only libbpfcc's libbcc.so
# needs (bpftrace uses its libbcc_bpf): dpkg leaves it out. `apt-get clean` keeps no .deb or cache
# even on a base image that does not clean up after apt by itself.
RUN echo 'path-exclude=/usr/lib/*/libclang-cpp.so*' >/etc/dpkg/dpkg.cfg.d/harden-agent \
 && apt-get update \
 && apt-get install -y --no-install-recommends nodejs bpftrace ca-certificates libjemalloc2 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(find /usr/lib -name libjemalloc.so.2 | head -n1)" /usr/local/lib/libjemalloc.so.2
COPY dist/harden-agent.cjs /opt/harden/harden-agent.cjs
COPY LICENSE /opt/harden/LICENSE
# Memory follows what runs (a 300-pod churn left glibc's heap fragmented, 2-3 MiB that only
# malloc_trim gave back): jemalloc returns freed pages within a second, from its own thread.
ENV LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 \
    MALLOC_CONF=background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0
# A small young generation (V8 grows it to 16 MiB per semi-space under pod churn and keeps it);
# gc() for the agent to hand the heap back once nothing is traced, compacting (or the pages that
# still hold a few objects stay).
ENTRYPOINT ["node", "--max-semi-space-size=2", "--compact-on-every-full-gc", "--expose-gc", "/opt/harden/harden-agent.cjs"]
