# syntax=docker/dockerfile:1
#
# logspool container image: a static Go binary on distroless.
#   docker build -t ghcr.io/logspool/logspool:dev --build-arg VERSION=$(git describe --always) .
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 ...
# (the build stage runs natively and cross-compiles; no emulation needed).

# The build stage is pinned to the toolchain go.mod names (its `toolchain`
# line): go1.26.x has called standard-library vulnerabilities (make vuln).
FROM --platform=$BUILDPLATFORM golang:1.27.3 AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/logspool ./cmd/logspool
# An empty spool directory owned by the image user, so that `docker run`
# without a volume works; the DaemonSet mounts its hostPath over it.
RUN mkdir -p /out/spool

# static-debian12 has CA certificates, tzdata and /etc/passwd, nothing else:
# no shell, no package manager. The :nonroot variant runs as uid 65532 by
# default, which suits `logspool version`, stdout mode or a spool on a
# volume the user owns. The Kubernetes DaemonSet runs it as uid 0 with all
# capabilities dropped but DAC_READ_SEARCH, because node logs and the
# hostPath spool are root-owned: see deploy/kubernetes/daemonset.yaml.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/logspool /logspool
COPY --from=build --chown=65532:65532 /out/spool /var/lib/logspool
USER 65532:65532
EXPOSE 2021
ENTRYPOINT ["/logspool"]
CMD ["run"]
