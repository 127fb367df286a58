# Pushpin for the cluster (deploy/base/pushpin/): Debian bookworm's packages, the versions the dev
# stack runs (tools/pushpin/pushpin.sh install) and docs/pushpin.md checked, so that one
# configuration (services condure,zurl,pushpin-proxy,pushpin-handler) serves both. The upstream
# image fanout/pushpin ships Pushpin 1.41 (built from source, other services, an entrypoint that
# rewrites pushpin.conf): not used, its config was not checked here.
#
#   docker build -f deploy/images/pushpin.Dockerfile -t ghcr.io/<owner>/todo-pushpin:<tag> deploy/images
#   minikube image build -f deploy/images/pushpin.Dockerfile -t todo-pushpin:dev deploy/images
#
# The Deployment supplies the config (ConfigMap) and the command; it runs as 10001 with a read-only
# root file system and an emptyDir at /var/run/pushpin.
FROM docker.io/library/debian:bookworm-slim
RUN apt-get update && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        pushpin=1.36.0-2 condure=1.9.1-1 zurl=1.11.1-1+b1 && \
    rm -rf /var/lib/apt/lists/* && \
    groupadd --system --gid 10001 todo-pushpin && \
    useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin todo-pushpin
USER 10001:10001
EXPOSE 7999 5561
CMD ["pushpin", "--merge-output"]
