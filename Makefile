# Porchlight build targets. Only Go is needed (and docker for `make docker`,
# protoc for `make proto`).
GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GOBUILD  = CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w"

.PHONY: build test pi docker service demo docs proto fuzz vulncheck clean

# A static binary for this machine.
build:
	$(GOBUILD) -o $(BIN)/porchlight ./cmd/porchlight

test:
	$(GO) test ./...

# A Raspberry Pi 3/4/5 (or any 64-bit ARM Linux) binary: copy it to the hub.
pi:
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o $(BIN)/porchlight-linux-arm64 ./cmd/porchlight

# The container image (needs a docker engine; not built in CI).
docker:
	docker build -t porchlight:$(VERSION) -t porchlight:latest .

# Check the systemd unit against the freshly built binary (skipped when
# systemd-analyze is absent), then say how to install it.
service: build
	@if command -v systemd-analyze >/dev/null; then \
		tmp=$$(mktemp -d) && \
		sed "s|/usr/local/bin/porchlight|$(CURDIR)/$(BIN)/porchlight|" deploy/porchlight.service > $$tmp/porchlight.service && \
		systemd-analyze verify $$tmp/porchlight.service && echo "deploy/porchlight.service: systemd-analyze verify OK"; \
		status=$$?; rm -rf $$tmp; exit $$status; \
	else echo "systemd-analyze not found: unit not verified"; fi
	@echo "install: see the comment at the top of deploy/porchlight.service"

demo:
	$(GO) run ./cmd/porchlight demo

# Regenerate docs/cli from the commands' help.
docs:
	$(GO) generate ./cmd/porchlight

# Regenerate the protobuf code (needs protoc 3.21.12: docs/protocol.md,
# Generated code).
proto:
	$(GO) generate ./record/pb ./mesh/pb ./clips/pb

# Every fuzz target for 10 s each (FUZZTIME=1m make fuzz for longer).
fuzz:
	.ci/fuzz

# govulncheck against the pinned vulnerability database snapshot.
vulncheck:
	.ci/vulncheck

clean:
	rm -rf $(BIN)
