# rigor in a container: the load generator for sharded runs (README,
# "Running on many machines"; deploy/kubernetes/ runs N of these as an
# Indexed Job). Build from the repository root:
#   docker build -t rigor:latest .
# The image holds the binary and the checked-in scenarios; mount your own
# scenario (a ConfigMap in Kubernetes) and a folder for results.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY schemas schemas
RUN cargo build --release --locked -p rigor-cli \
 && cp target/release/rigor /usr/local/bin/rigor

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/rigor /usr/local/bin/rigor
COPY scenarios /scenarios
WORKDIR /work
# Results go to /results (a shared volume in Kubernetes).
ENTRYPOINT ["rigor"]
CMD ["--help"]
