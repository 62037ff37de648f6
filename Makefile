# Sluice: `make run` starts a gateway with an embedded etcd; `make test` installs what the
# tests need (Debian packages, when missing) and runs every test.
GO        ?= go
BIN       := bin/sluice
DATA_DIR  ?= sluice-data
CONFIG    ?=
GOTEST_FLAGS ?= -timeout 15m
# The shipped build: the runtime's network poller readies goroutines oldest first
# (docs/netpoll-order.md). NETPOLL=stock builds with the stock runtime, NETPOLL=auto falls back
# to it where the toolchain cannot be patched (NETPOLL=fifo fails there).
NETPOLL   ?= fifo
export NETPOLL

.PHONY: all build run test test-deps vet fmt clean

all: build

build:
	flags=$$(GO='$(GO)' toolchain/netpoll-flags.sh) && $(GO) build $$flags -o $(BIN) ./cmd/sluice

run: build
	./$(BIN) start --data-dir $(DATA_DIR) $(if $(CONFIG),-c $(CONFIG))

# Debian's etcd-server gives the external-etcd tests a real etcd 3.4 cluster member;
# redis-server and redis-sentinel back the Redis policies of the rate-limit plugins.
TEST_PKGS := etcd:etcd-server redis-server:redis-server redis-sentinel:redis-sentinel

test-deps:
	@missing=; for p in $(TEST_PKGS); do \
		command -v $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing (apt)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends $$missing \
		|| { $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends $$missing; }; \
	fi

vet:
	$(GO) vet ./...

# The end-to-end tests build the binary as `make build` does. The packages whose code depends
# on the poller order run again with the same flags: internal/netpoll checks the order the
# shipped build gets, internal/upstream and internal/proxy its request path.
FIFO_PKGS := ./internal/netpoll/ ./internal/upstream/ ./internal/proxy/
test: test-deps vet
	$(GO) test $(GOTEST_FLAGS) ./...
	flags=$$(GO='$(GO)' toolchain/netpoll-flags.sh) && $(GO) test $(GOTEST_FLAGS) $$flags $(FIFO_PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
