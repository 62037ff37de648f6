#!/usr/bin/env bash
# Prints the `go build` / `go test` flags of Sluice's shipped build: the Go runtime's network
# poller patched to ready goroutines oldest first (FIFO), and the build tag that tells the code
# so. docs/netpoll-order.md says why; `make build`, the end-to-end tests and bench/run.sh use it.
#
#   go build $(toolchain/netpoll-flags.sh) -o bin/sluice ./cmd/sluice
#   NETPOLL=stock toolchain/netpoll-flags.sh    # prints nothing: the stock runtime
#
# NETPOLL: fifo (the default) patches or fails; auto patches where it can and otherwise prints
# nothing, with a warning on stderr (another Go version, or a system without epoll); stock
# prints nothing. GO names the go command (default go): run the build with the same one, since
# the overlay names a file of its GOROOT.
#
# The change is made on a copy of the toolchain's runtime/netpoll_epoll.go, handed to the go
# command with -overlay; GOROOT is never written. The copy also defines
# runtime.sluiceNetpollFIFO, which internal/netpoll links to under the build tag (a tagged build
# without the overlay fails to link instead of claiming an order it does not have), and
# runtime.sluicePollWaitRead, internal/netpoll.ReadWaiter's wait without a readiness reset.
set -euo pipefail

mode=${NETPOLL:-fifo}
case "$mode" in
  stock) exit 0 ;;
  fifo|auto) ;;
  *) echo "toolchain/netpoll-flags.sh: NETPOLL must be fifo, auto or stock, not '$mode'" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" # the toolchain go.mod selects
go=${GO:-go}
unpatchable() {
  local msg="toolchain/netpoll-flags.sh: $1"
  if [ "$mode" = fifo ]; then
    echo "$msg; NETPOLL=stock builds with the stock runtime, NETPOLL=auto falls back to it" >&2
    exit 1
  fi
  echo "$msg: building with the stock network poller order" >&2
  exit 0
}
goos=$("$go" env GOOS)
gover=$("$go" env GOVERSION)
goroot=$("$go" env GOROOT)
# kqueue and the other pollers keep their order; only epoll's is rewritten
[ "$goos" = linux ] || unpatchable "GOOS $goos has no epoll poller to patch"
src="$goroot/src/runtime/netpoll_epoll.go"

# netpoll collects the goroutines whose descriptors epoll reported ready with gList.push, which
# prepends: the list it returns runs newest first. Reversing it before the return hands them
# to the scheduler in the kernel's ready-list order.
want='	return toRun, delta'
# The wait without a readiness reset (runtime.sluicePollWaitRead, below) must also know of a FIN
# that arrived before the read that emptied the socket: no event follows it. netpoll records
# EPOLLRDHUP/HUP/ERR in pollDesc.user (unused by the epoll poller) and netpollopen clears it.
event='				pd.setEventErr(ev.Events == linux.EPOLLERR, tag)'
open='func netpollopen(fd uintptr, pd *pollDesc) uintptr {'
# The record relies on epoll reporting RDHUP (registered edge-triggered with it), and on nothing
# else using pollDesc.user on Linux (only aix, solaris and wasip1 do, in their own files).
events='	ev.Events = linux.EPOLLIN | linux.EPOLLOUT | linux.EPOLLRDHUP | linux.EPOLLET'
[ -f "$src" ] || unpatchable "$src ($gover) does not exist"
for line in "$want" "$event" "$open" "$events"; do
  [ "$(grep -cxF "$line" "$src")" = 1 ] || unpatchable "$src ($gover) has no single '$line' line"
done
core="$goroot/src/runtime/netpoll.go"
[ "$(grep -cE '\.user\b' "$src")" = 0 ] && [ "$(grep -cE '\.user\b' "$core")" = 0 ] \
  && [ "$(grep -cE '^	user +uint32 ' "$core")" = 1 ] \
  || unpatchable "$core or $src ($gover) uses pollDesc.user: the FIN record needs another place"

dir=${NETPOLL_OVERLAY_DIR:-$root/bin/.netpoll-fifo} # a dot directory: ./... patterns skip it
case "$dir" in /*) ;; *) dir="$root/$dir" ;; esac
dir="$dir/$gover"
mkdir -p "$dir"
tmp=$(mktemp "$dir/.tmp.XXXXXX")
trap 'rm -f "$tmp" "$tmp.json"' EXIT
awk -v want="$want" -v event="$event" -v open="$open" '
  $0 == event {
    print
    print "\t\t\t\t// Sluice (toolchain/netpoll-flags.sh): the peer closed, for sluicePollWaitRead."
    print "\t\t\t\t// Stored before netpollready readies the waiter (atomics order it). A pollDesc"
    print "\t\t\t\t// closed and reused in between would start with user 1: its first waits then"
    print "\t\t\t\t// return at once and read as usual (harmless)."
    print "\t\t\t\tif ev.Events&(linux.EPOLLRDHUP|linux.EPOLLHUP|linux.EPOLLERR) != 0 {"
    print "\t\t\t\t\tatomic.Store(&pd.user, 1)"
    print "\t\t\t\t}"
    next
  }
  $0 == open {
    print
    print "\tatomic.Store(&pd.user, 0) // Sluice: no FIN seen yet (sluicePollWaitRead)"
    next
  }
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
  END {
    print ""
    print "// sluiceNetpollFIFO marks a runtime built with toolchain/netpoll-flags.sh; Sluice'"'"'s"
    print "// internal/netpoll links to it under the build tag sluice_fifo_netpoll."
    print "//"
    print "//go:linkname sluiceNetpollFIFO"
    print "func sluiceNetpollFIFO() bool { return true }"
    print ""
    print "// sluicePollWaitRead parks until the poller reports the descriptor of pollDesc ctx readable,"
    print "// or returns at once if it already did since the last reset; the result is a poll error"
    print "// code (0: readable). internal/poll always resets that readiness before it reads or"
    print "// waits: Sluice'"'"'s internal/netpoll.ReadWaiter uses this after a read that drained the"
    print "// socket, to park without a read that would only find nothing."
    print "//"
    print "// A FIN, hang-up or error the poller saw (pollDesc.user, set by netpoll) makes it return at"
    print "// once: it may have come before the read that emptied the socket, and no event follows."
    print "//"
    print "//go:linkname sluicePollWaitRead"
    print "func sluicePollWaitRead(ctx uintptr) int {"
    print "\tpd := (*pollDesc)(unsafe.Pointer(ctx))"
    print "\tif atomic.Load(&pd.user) != 0 {"
    print "\t\treturn pollNoError"
    print "\t}"
    print "\t// another goroutine waits to read (the caller broke its one-reader rule): not a"
    print "\t// second wait, which would throw; the caller reads as usual"
    print "\tif r := pd.rg.Load(); r != pdNil && r != pdReady {"
    print "\t\treturn pollNoError"
    print "\t}"
    print "\treturn poll_runtime_pollWait(pd, '"'"'r'"'"')"
    print "}"
  }
' "$src" >"$tmp"
# Replaced only when changed: concurrent runs (go test ./... and the e2e build) write the same
# bytes, and a reader never sees a half-written file.
if cmp -s "$tmp" "$dir/netpoll_epoll.go"; then rm -f "$tmp"; else mv -f "$tmp" "$dir/netpoll_epoll.go"; fi
printf '{"Replace":{"%s":"%s"}}\n' "$src" "$dir/netpoll_epoll.go" >"$tmp.json"
if cmp -s "$tmp.json" "$dir/overlay.json"; then rm -f "$tmp.json"; else mv -f "$tmp.json" "$dir/overlay.json"; fi
# A -tags on the command line replaces one in GOFLAGS: carry GOFLAGS' tags along (its entries
# are always -flag=value; as for the go command, the last -tags counts).
tags=sluice_fifo_netpoll
gotags=
for f in $("$go" env GOFLAGS); do
  case "$f" in
    -tags=*|--tags=*) gotags=${f#*=} ;;
  esac
done
[ -z "$gotags" ] || tags="$gotags,$tags"
echo "-overlay=$dir/overlay.json -tags=$tags"
