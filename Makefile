# Sluice: `make run` starts a gateway with an embedded etcd; `make test` installs what the
# tests need (Debian packages, when missing) and runs every test.
GO        ?= go
BIN       := bin/sluice
DATA_DIR  ?= sluice-data
CONFIG    ?=
GOTEST_FLAGS ?= -timeout 15m

.PHONY: all build run test test-deps vet fmt clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/sluice

run: build
	./$(BIN) start --data-dir $(DATA_DIR) $(if $(CONFIG),-c $(CONFIG))

# Debian's etcd-server gives the external-etcd tests a real etcd 3.4 cluster member.
test-deps:
	@if ! command -v etcd >/dev/null 2>&1; then \
		echo "installing etcd-server (apt)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends etcd-server \
		|| { $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends etcd-server; }; \
	fi

vet:
	$(GO) vet ./...

test: test-deps vet
	$(GO) test $(GOTEST_FLAGS) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
