# syntax=docker/dockerfile:1
# todo-migrate, the migrations Job's image (deploy/base/migrate-job.yaml). todo-migrate embeds the
# SQL files of migrations/ when it is compiled (refinery::embed_migrations!), so this image
# applies exactly the migrations of the revision it is built from, the same way `./dev up` does.
# Build it from the repository root, with the tag of the app image (deploy/README.md):
#
#   docker build -f deploy/images/migrate.Dockerfile -t ghcr.io/<owner>/todo-migrate:<tag> .
#   minikube image build -f deploy/images/migrate.Dockerfile -t todo-migrate:dev .
#   docker run --rm ghcr.io/<owner>/todo-migrate:<tag> --list     # the embedded versions
#
# The binary links only glibc and libgcc (TLS is rustls with Mozilla's roots compiled in), so the
# distroless "cc" image is enough; it runs as distroless' nonroot user (65532).
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p todo-migrate && \
    install -D target/release/todo-migrate /out/todo-migrate && \
    /out/todo-migrate --list

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/todo-migrate /usr/local/bin/todo-migrate
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/todo-migrate"]
