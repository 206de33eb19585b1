# Multi-stage build: the walcast binary, the demo pages' npm packages, and a
# slim runtime image with both.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p walcast

FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY web/ ./

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system walcast
COPY --from=build /src/target/release/walcast /usr/local/bin/walcast
COPY config /etc/walcast
COPY --from=web /web /usr/share/walcast/web
USER walcast
ENV WALCAST_CONFIG=/etc/walcast/walcast.toml WALCAST_LISTEN=0.0.0.0:4000 WALCAST_WEB_DIR=/usr/share/walcast/web
EXPOSE 4000
ENTRYPOINT ["walcast"]
CMD ["serve"]
