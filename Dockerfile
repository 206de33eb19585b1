# Multi-stage build of the walcast binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p walcast

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system walcast
COPY --from=build /src/target/release/walcast /usr/local/bin/walcast
COPY config /etc/walcast
USER walcast
ENV WALCAST_CONFIG=/etc/walcast/walcast.toml WALCAST_LISTEN=0.0.0.0:4000
EXPOSE 4000
ENTRYPOINT ["walcast"]
CMD ["serve"]
