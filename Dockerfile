# syntax=docker/dockerfile:1
# A static porchlight binary in a distroless, non-root image.
#
#   docker build -t porchlight .            (or: make docker)
#   docker run -d --name porchlight --network host -v porchlight:/data porchlight
#   docker exec porchlight porchlight status
#
# --network host: mDNS needs the LAN's multicast, and the local API stays on
# the host's 127.0.0.1. Everything the node keeps is in the /data volume.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/porchlight ./cmd/porchlight \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/porchlight /usr/local/bin/porchlight
# A named volume copies this directory's owner: the nonroot user (65532).
COPY --from=build --chown=65532:65532 /out/data /data
ENV PORCHLIGHT_DATA=/data
VOLUME ["/data"]
EXPOSE 7781/tcp
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/porchlight"]
CMD ["run"]
