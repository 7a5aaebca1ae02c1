# syntax=docker/dockerfile:1
#
# hallpass and the school demo as static binaries on distroless images,
# one target per binary:
#
#   docker build -t hallpass .                          # the identity provider (default: the last stage)
#   docker build --target schoolapi -t hallpass-schoolapi .
#   docker build --target demoapp -t hallpass-demoapp .
#
# `docker compose up --build` (docker-compose.yml) runs all three with
# PostgreSQL. internal/deploytest/compose_test.go checks this file against
# docker-compose.yml and the binaries.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w" -o /out/ ./cmd/hallpass ./cmd/schoolapi ./cmd/demoapp \
 && mkdir -p /out/data

# The school API (cmd/schoolapi), a resource server.
FROM gcr.io/distroless/static-debian12:nonroot AS schoolapi
COPY --from=build /out/schoolapi /usr/local/bin/schoolapi
USER 65532:65532
ENV SCHOOLAPI_ADDR=0.0.0.0:8081
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["/usr/local/bin/schoolapi", "-healthcheck"]
ENTRYPOINT ["/usr/local/bin/schoolapi"]

# The demo third-party web app (cmd/demoapp).
FROM gcr.io/distroless/static-debian12:nonroot AS demoapp
COPY --from=build /out/demoapp /usr/local/bin/demoapp
USER 65532:65532
ENV DEMOAPP_ADDR=0.0.0.0:8082
EXPOSE 8082
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["/usr/local/bin/demoapp", "-healthcheck"]
ENTRYPOINT ["/usr/local/bin/demoapp"]

# hallpass itself. Without HALLPASS_DATABASE it keeps an SQLite file in the
# /data volume; production sets a postgres:// URL and HALLPASS_SECRET.
FROM gcr.io/distroless/static-debian12:nonroot AS hallpass
COPY --from=build /out/hallpass /usr/local/bin/hallpass
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
VOLUME /data
ENV HALLPASS_ADDR=0.0.0.0:8080 \
    HALLPASS_DATABASE=sqlite:/data/hallpass.db
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["/usr/local/bin/hallpass", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/hallpass"]
CMD ["serve"]
