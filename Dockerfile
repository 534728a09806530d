# rigor in a container: the load generator for sharded runs (docs/many-machines.md,
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
# The debug info (line tables for symbolized profiles) goes to a side
# file, as `just dist` does: the image ships the small binary. To profile
# inside the container, mount rigor.debug beside it (/usr/local/bin/).
RUN cargo build --release --locked -p rigor-cli \
 && objcopy --only-keep-debug target/release/rigor /usr/local/bin/rigor.debug \
 && objcopy --strip-debug --add-gnu-debuglink=/usr/local/bin/rigor.debug \
      target/release/rigor /usr/local/bin/rigor

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
