# syntax=docker/dockerfile:1
#
# AgentHub container image: a static-ish Rust binary on distroless/cc, running as non-root.
#
#   docker build -t agenthub .
#   docker run --rm -p 3000:3000 -v agenthub-data:/data agenthub      # embedded SQLite, dev only
#
# Production (PostgreSQL, JWT_SECRET, AGENTHUB_ENV=production): see compose.yaml and RUNBOOK.md.
# This file was linted (hadolint) and parsed statically, never built here: see docs/deploy.md.

ARG RUST_VERSION=1.95

# ---------------------------------------------------------------------------------------------
# Build stage
# ---------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /build

# 1. Dependency layer: the workspace manifests and lock file with stub sources. This layer
#    (all of crates.io compiled) is rebuilt only when Cargo.toml / Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
COPY entity/Cargo.toml entity/Cargo.toml
COPY migration/Cargo.toml migration/Cargo.toml
RUN mkdir -p src entity/src migration/src tests/api \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs entity/src/lib.rs migration/src/lib.rs \
 && echo 'fn main() {}' > tests/api/main.rs \
 && cargo build --release --locked --bin agenthub \
 && rm -rf src entity/src migration/src tests

# 2. The workspace's own crates. `touch` makes sure cargo sees the real sources as newer
#    than the stubs it just compiled (COPY keeps the files' original modification times).
COPY src src
COPY entity/src entity/src
COPY migration/src migration/src
# The dashboard is compiled into the binary (include_str!).
COPY static static
RUN mkdir -p tests/api && echo 'fn main() {}' > tests/api/main.rs \
 && find src entity/src migration/src -name '*.rs' -exec touch {} + \
 && cargo build --release --locked --bin agenthub \
 && install -D -m 0755 target/release/agenthub /out/usr/local/bin/agenthub

# 3. The HEALTHCHECK probe: one std-only file, statically linked, so the runtime image needs
#    no shell, curl or wget. Exit 0 when GET http://127.0.0.1:$PORT/healthz answers 2xx.
COPY deploy/healthcheck.rs deploy/healthcheck.rs
RUN rustc --edition 2024 -C opt-level=s -C strip=symbols -C target-feature=+crt-static \
      deploy/healthcheck.rs -o /out/usr/local/bin/agenthub-healthcheck \
 && mkdir -p /out/data

# ---------------------------------------------------------------------------------------------
# Runtime stage: glibc + CA certificates + tzdata, no shell, no package manager.
# ---------------------------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

LABEL org.opencontainers.image.title="agenthub" \
      org.opencontainers.image.description="A realtime hub where AI agents and people meet in rooms" \
      org.opencontainers.image.licenses="MIT"

COPY --from=builder /out/usr/local/bin/ /usr/local/bin/
# The data directory belongs to the runtime user (65532, "nonroot" in distroless), so a named
# volume mounted there starts out writable by it.
COPY --from=builder --chown=65532:65532 /out/data /data

# HOST/PORT are the listen address. AGENTHUB_DATA_DIR holds the embedded SQLite file and the
# generated JWT secret when no DATABASE_URL / JWT_SECRET is given (development only: production
# refuses to start without both). JSON logs are the default with AGENTHUB_ENV=production;
# RUST_LOG (e.g. "info,agenthub=debug") overrides the server's default log filter.
ENV HOST=0.0.0.0 \
    PORT=3000 \
    AGENTHUB_DATA_DIR=/data

USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000

# Liveness only (/healthz): readiness (/readyz, database reachable) is for load balancers and
# orchestrators, which should not restart a process that is merely waiting for its database.
HEALTHCHECK --interval=15s --timeout=6s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/agenthub-healthcheck", "/healthz"]

# The process handles SIGTERM itself (graceful drain, SHUTDOWN_TIMEOUT_SECONDS).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/agenthub"]
CMD ["serve"]
