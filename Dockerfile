# syntax=docker/dockerfile:1
#
# Custodian's container image: one static binary (CGO off: the SQLite driver is pure Go)
# on an empty base, run as an unprivileged user (65532:65532) that writes only to the
# volume /data (the SQLite database and its secret file), so the root file system can be
# read-only. README.md, "Container image and systemd", shows how to run it.
#
#   docker build -t custodian .
#   podman build --format docker -t custodian .    # the docker format keeps HEALTHCHECK
#
# The build stage is the official Go image. GO_IMAGE names another image with Go 1.26
# and git (git stamps the commit into the binary for `custodian version`): CI builds
# offline from one made of the machine's own Go toolchain (.ci/image). GOPROXY, GOSUMDB
# and GOFLAGS reach the build when given as build arguments. Built from a git worktree
# (whose .git points outside the build context) the binary carries no commit.
ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
# Empty means the Go toolchain's default.
ARG GOPROXY=""
ARG GOSUMDB=""
ARG GOFLAGS=""
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/custodian ./cmd/custodian \
    && /out/custodian version \
    && mkdir -p /out/root && mkdir -m 0700 /out/root/data \
    && printf 'root:x:0:0:root:/:/sbin/nologin\ncustodian:x:65532:65532:custodian:/data:/sbin/nologin\n' >/out/passwd \
    && printf 'root:x:0:\ncustodian:x:65532:\n' >/out/group

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/passwd /out/group /etc/
COPY docs/deploy/custodian.container.yaml /etc/custodian/custodian.yaml
COPY --from=build /out/custodian /usr/local/bin/custodian
# /data, mode 0700 (the directory, copied by its parent, keeps its mode).
COPY --from=build --chown=65532:65532 /out/root/ /
USER 65532:65532
WORKDIR /data
# The image's settings (the database on the volume, every interface) live in a config
# file, below the environment in precedence: CUSTODIAN_DATABASE_URL, CUSTODIAN_ADDR …
# given to the container win over them.
# SQLite's temporary files (large sorts) go to the volume too.
ENV PATH=/usr/local/bin \
    CUSTODIAN_CONFIG=/etc/custodian/custodian.yaml \
    TMPDIR=/data
VOLUME ["/data"]
# 8080: the public listener. The admin listener (/readyz, /metrics, /admin/…) is on the
# container's loopback (127.0.0.1:8081) unless CUSTODIAN_ADMIN_ADDR opens it; the
# HEALTHCHECK asks it there.
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/custodian", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/custodian"]
CMD ["serve"]
