#!/usr/bin/env bash
# Prints the `go build` / `go test` flags of Sluice's shipped build: the Go runtime's network
# poller patched to ready goroutines oldest first (FIFO), and the build tag that tells the code
# so. docs/netpoll-order.md says why; `make build`, the end-to-end tests and bench/run.sh use it.
#
#   go build $(toolchain/netpoll-flags.sh) -o bin/sluice ./cmd/sluice
#   NETPOLL=stock toolchain/netpoll-flags.sh    # prints nothing: the stock runtime
#
# The change is made on a copy of the installed toolchain's runtime/netpoll_epoll.go, handed to
# the go command with -overlay; GOROOT is never written. With NETPOLL=fifo (the default) a
# toolchain whose file does not have the one line rewritten here (another Go version) is built
# as it is, with a warning on stderr: the build never fails for it (internal/netpoll's test
# checks whichever order a build got).
set -euo pipefail

mode=${NETPOLL:-fifo}
case "$mode" in
  stock) exit 0 ;;
  fifo) ;;
  *) echo "toolchain/netpoll-flags.sh: NETPOLL must be fifo or stock, not '$mode'" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
go=${GO:-go}
goroot=$("$go" env GOROOT)
src="$goroot/src/runtime/netpoll_epoll.go"
dir=${NETPOLL_OVERLAY_DIR:-$root/bin/.netpoll-fifo} # a dot directory: ./... patterns skip it

# netpoll collects the goroutines whose descriptors epoll reported ready with gList.push, which
# prepends: the list it returns runs newest first. Reversing it before the return hands them
# to the scheduler in the kernel's ready-list order.
want='	return toRun, delta'
if [ "$("$go" env GOOS)" != linux ]; then
  # kqueue and the other pollers keep their order; only epoll's is rewritten
  msg="toolchain/netpoll-flags.sh: GOOS $("$go" env GOOS) has no epoll poller to patch"
  echo "$msg: building with the stock network poller order" >&2
  exit 0
fi
if [ ! -f "$src" ] || [ "$(grep -cxF "$want" "$src")" != 1 ]; then
  msg="toolchain/netpoll-flags.sh: $src (Go $("$go" env GOVERSION)) has no single '$want' line"
  echo "$msg: building with the stock network poller order" >&2
  exit 0
fi

mkdir -p "$dir"
tmp=$(mktemp "$dir/.netpoll_epoll.go.XXXXXX")
awk -v want="$want" '
  $0 == want {
    print "\t// Sluice (toolchain/netpoll-flags.sh): oldest ready first, as epoll reported them."
    print "\tvar fifo gList"
    print "\tfor !toRun.empty() {"
    print "\t\tfifo.push(toRun.pop())"
    print "\t}"
    print "\treturn fifo, delta"
    next
  }
  { print }
' "$src" >"$tmp"
# Written only when changed, so the go command's cache keeps matching.
if cmp -s "$tmp" "$dir/netpoll_epoll.go"; then rm -f "$tmp"; else mv -f "$tmp" "$dir/netpoll_epoll.go"; fi
printf '{"Replace":{"%s":"%s"}}\n' "$src" "$dir/netpoll_epoll.go" >"$tmp.json"
if cmp -s "$tmp.json" "$dir/overlay.json"; then rm -f "$tmp.json"; else mv -f "$tmp.json" "$dir/overlay.json"; fi
echo "-overlay=$dir/overlay.json -tags=sluice_fifo_netpoll"
