#!/usr/bin/env bash
# Sluice vs nginx on one core: see bench/README.md.
#
#   bench/run.sh                                   # every case, 5 rounds of 5s (~8 min)
#   CASES=a ROUNDS=5 DURATION=10s bench/run.sh     # case (a) only
#   bench/run.sh --cases b,c --rounds 5 --duration 5s   # the same with flags
#   SLUICE_VARIANTS=old=/tmp/sluice-old,new=/tmp/sluice-new CASES=a bench/run.sh
#                                                  # two builds side by side, interleaved
#
# Cases: a one route, no plugins · b limit-count + prometheus · c key-auth + proxy-rewrite +
# cors + request-id · d 10k routes (written into etcd by bench/etcdload; D_LOADER=admin: Admin
# API PUTs), requests spread over 100 · e as a, 200 connections · f as a over HTTPS (TLS 1.3,
# keep-alive; not in the default set).
# Everything listens on 127.0.0.1; every process started here is stopped on exit.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: bench/run.sh [--cases a,b,c,d,e] [--rounds N] [--duration 10s] [--warmup 2s]
Flags override the environment variables of the same meaning (CASES, ROUNDS, DURATION,
WARMUP); every other setting is an environment variable, see bench/README.md.
USAGE
}
while [ $# -gt 0 ]; do
  case "$1" in
    -c|--cases) CASES=${2:?--cases needs a value}; shift 2 ;;
    -r|--rounds) ROUNDS=${2:?--rounds needs a value}; shift 2 ;;
    -d|--duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
    -w|--warmup) WARMUP=${2:?--warmup needs a value}; shift 2 ;;
    --cases=*) CASES=${1#*=}; shift ;;
    --rounds=*) ROUNDS=${1#*=}; shift ;;
    --duration=*) DURATION=${1#*=}; shift ;;
    --warmup=*) WARMUP=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; echo "bench/run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
OUT="$BENCH/.out"

CASES=${CASES:-a,b,c,d,e}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}       # wrk -d of each measured run (all cases, 5 rounds: ~8 min)
WARMUP=${WARMUP:-2s}           # wrk -d of the unmeasured run before each measured one ("0" = none)
CONNS=${CONNS:-50}             # connections for cases a-d
CONNS_E=${CONNS_E:-200}        # connections for case e
PROXY_CORE=${PROXY_CORE:-0}    # the proxy under test (nginx worker / Sluice)
LOAD_CORE=${LOAD_CORE:-1}      # wrk and the origin
SERVE_WAIT=${SERVE_WAIT:-15}   # seconds to wait for Sluice to answer 200 on a new route
D_ROUTES=${D_ROUTES:-10000}    # routes loaded in case d
D_PATHS=${D_PATHS:-100}        # of which this many are requested
D_LOADER=${D_LOADER:-etcd}     # case d: etcd (bench/etcdload, batched txns) | admin (Admin API PUTs)
D_PARALLEL=${D_PARALLEL:-8}    # case d with D_LOADER=admin: concurrent Admin API PUTs
D_SERVE_WAIT=${D_SERVE_WAIT:-120}  # case d: seconds to wait for all requested paths to answer 200
SLUICE_BIN=${SLUICE_BIN:-}     # use this binary instead of building one
SLUICE_VARIANTS=${SLUICE_VARIANTS:-}  # name=binary,name=binary: several builds, one row each
SLUICE_REV=${SLUICE_REV:-}     # build this git revision (git archive, read-only) instead of the work tree
BENCH_NO_CHECK=${BENCH_NO_CHECK:-0}  # 1: skip the "plugins really ran" checks of cases b and c
REF_FASTHTTP=${REF_FASTHTTP:-1}  # 1: also measure bench/fasthttpref (the bare engine) in cases a and e

BODY=$(printf 'x%.0s' $(seq 1 100))   # the origin's 100-byte body
API_KEY="bench-consumer-key"          # case c's key-auth key

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

case "$ROUNDS" in ''|*[!0-9]*) die "ROUNDS must be a positive integer";; esac
[ "$ROUNDS" -ge 1 ] || die "ROUNDS must be >= 1"
dur_s() { # "10s" / "1m" / "10" -> seconds
  local d=$1
  case "$d" in
    *ms) echo 1 ;;
    *s) echo "${d%s}" ;;
    *m) echo $(( ${d%m} * 60 )) ;;
    *h) echo $(( ${d%h} * 3600 )) ;;
    *) echo "$d" ;;
  esac
}
DUR_S=$(dur_s "$DURATION"); WARM_S=$(dur_s "$WARMUP")

IFS=, read -r -a CASE_LIST <<<"$CASES"
for c in "${CASE_LIST[@]}"; do
  case "$c" in a|b|c|d|e|f) ;; *) die "unknown case '$c' (cases: a,b,c,d,e,f)";; esac
done

# ---------------------------------------------------------------- tools

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
need=()
[ -x "$NGINX" ] || need+=(nginx)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  log "installing with apt-get: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends "${need[@]}" \
    || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends "${need[@]}"; }
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi
[ "$(nproc)" -ge 2 ] || log "warning: $(nproc) core(s); proxy and load share a core, numbers are not comparable"
CLK_TCK=$(getconf CLK_TCK)
LOADAVG_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOADAVG_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
  log "warning: load average $LOADAVG_BEFORE before starting: other work on this machine will skew the numbers (compare ratios from one invocation)"
fi

# ---------------------------------------------------------------- processes and cleanup

PIDS=()
stop_pid() { # pid [seconds]: SIGTERM, wait, SIGKILL
  local pid=$1 t=${2:-20} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < t * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop within ${t}s of SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  [ -z "${WRK_PID:-}" ] || stop_pid "$WRK_PID" 5
  for pid in "${PIDS[@]}"; do stop_pid "$pid" 10; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

USED_PORTS=" "
PORT=
free_port() { # sets PORT to an unused loopback port below the ephemeral range
  local p i
  for ((i = 0; i < 500; i++)); do
    p=$((20000 + RANDOM % 12000))
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS+="$p "; PORT=$p; return 0
    fi
  done
  die "no free port found"
}
wait_port() { # port seconds pid: wait until something accepts on 127.0.0.1:port
  local port=$1 t=$2 pid=$3 i
  for ((i = 0; i < t * 20; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
children() { # pid: its direct children
  local f stat
  if [ -r "/proc/$1/task/$1/children" ]; then
    tr ' ' '\n' <"/proc/$1/task/$1/children" | grep . || true
    return 0
  fi
  for f in /proc/[0-9]*/stat; do
    stat=$(cat "$f" 2>/dev/null) || continue
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat                 # $1 = state (field 3), $2 = ppid (field 4)
    if [ "$2" = "$PARENT" ]; then f=${f#/proc/}; echo "${f%/stat}"; fi
  done
}
cpu_ticks() { # pids...: utime+stime summed, in clock ticks
  local pid stat sum=0
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }            # comm may contain spaces: cut after it
    # shellcheck disable=SC2086
    set -- $stat                 # $1 = state (field 3): utime = field 14 = $12, stime = $13
    sum=$((sum + ${12} + ${13}))
  done
  echo "$sum"
}
rss_kib() { # pids...: VmRSS summed, KiB
  local pid sum=0 v
  for pid in "$@"; do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
cpu_mask() { # core -> nginx worker_cpu_affinity bitmask
  local m=1 i
  for ((i = 0; i < $1; i++)); do m+=0; done
  echo "$m"
}

# ---------------------------------------------------------------- build and fixtures

rm -rf "$OUT"
mkdir -p "$OUT"
# Sluice and the engine reference are built as `make build` builds Sluice: NETPOLL=fifo (the
# default) patches the runtime's poller order, NETPOLL=stock does not (docs/netpoll-order.md).
GO_FLAGS=$(GO=go "$ROOT/toolchain/netpoll-flags.sh") || die "toolchain/netpoll-flags.sh failed"
# shellcheck disable=SC2086 # GO_FLAGS is a list of flags
gobuild() { go build $GO_FLAGS "$@"; }
if [ -z "$SLUICE_BIN" ] && [ -n "$SLUICE_VARIANTS" ]; then
  SLUICE_BIN=${SLUICE_VARIANTS%%,*}; SLUICE_BIN=${SLUICE_BIN#*=}   # nothing to build
elif [ -z "$SLUICE_BIN" ] && [ -n "$SLUICE_REV" ]; then
  log "building Sluice at $SLUICE_REV ($(git -C "$ROOT" rev-parse --short "$SLUICE_REV"))"
  mkdir -p "$OUT/src"
  git -C "$ROOT" archive "$SLUICE_REV" | tar -x -C "$OUT/src"
  if [ -d "$OUT/src/internal/netpoll" ]; then
    (cd "$OUT/src" && gobuild -o "$OUT/sluice" ./cmd/sluice)
  else
    # older than the FIFO poller: its unconditional upstream yield belongs with the stock order
    log "$SLUICE_REV predates internal/netpoll: built with the stock runtime"
    (cd "$OUT/src" && go build -o "$OUT/sluice" ./cmd/sluice)
  fi
  rm -rf "$OUT/src"
  SLUICE_BIN="$OUT/sluice"
elif [ -z "$SLUICE_BIN" ]; then
  log "building Sluice (work tree)"
  (cd "$ROOT" && gobuild -o "$OUT/sluice" ./cmd/sluice)
  SLUICE_BIN="$OUT/sluice"
fi
[ -x "$SLUICE_BIN" ] || die "no Sluice binary at $SLUICE_BIN"
case "$D_LOADER" in etcd|admin) ;; *) die "D_LOADER must be etcd or admin";; esac
if [ "$REF_FASTHTTP" = 1 ]; then
  (cd "$ROOT" && gobuild -o "$OUT/fasthttpref" ./bench/fasthttpref) || die "building bench/fasthttpref failed"
fi
if [[ ",$CASES," == *,d,* ]] && [ "$D_LOADER" = etcd ]; then
  (cd "$ROOT" && go build -o "$OUT/etcdload" ./bench/etcdload) || die "building bench/etcdload failed"
fi
# Rows: "sluice" alone, or "sluice-<name>" per variant (every variant runs in every round, in
# an order that alternates between rounds so drift on the machine hits them alike).
declare -A VARIANT_BIN
VARIANTS=()
if [ -n "$SLUICE_VARIANTS" ]; then
  IFS=, read -r -a _vs <<<"$SLUICE_VARIANTS"
  for v in "${_vs[@]}"; do
    name=${v%%=*} bin=${v#*=}
    [ -n "$name" ] && [ "$name" != "$v" ] || die "SLUICE_VARIANTS entries are name=binary, got '$v'"
    case "$name" in *[!A-Za-z0-9_.-]*) die "variant name '$name': letters, digits, . _ - only";; esac
    [ -x "$bin" ] || die "variant $name: no binary at $bin"
    VARIANTS+=("sluice-$name"); VARIANT_BIN[sluice-$name]=$bin
  done
else
  VARIANTS=(sluice); VARIANT_BIN[sluice]=$SLUICE_BIN
fi

nginx_conf() { # prefix core port body-of-http-block
  local prefix=$1 core=$2 port=$3 http=$4
  mkdir -p "$prefix/logs" "$prefix/temp"
  cat >"$prefix/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity $(cpu_mask "$core");
worker_rlimit_nofile 65536;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path $prefix/temp/body;
    proxy_temp_path $prefix/temp/proxy;
    fastcgi_temp_path $prefix/temp/fastcgi;
    uwsgi_temp_path $prefix/temp/uwsgi;
    scgi_temp_path $prefix/temp/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
$http
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
$LOCATION
        }
    }
}
EOF
}
NGINX_WORKERS=()   # set by start_nginx
start_nginx() { # name core port -> sets STARTED_PID
  local prefix="$OUT/$1" core=$2 port=$3 pid i
  "$NGINX" -t -q -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" \
    || die "nginx config $prefix/nginx.conf is invalid"
  taskset -c "$core" "$NGINX" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" &
  pid=$!
  PIDS+=("$pid")
  wait_port "$port" 10 "$pid" || die "nginx $1 did not listen on $port (see $prefix/logs/error.log)"
  for ((i = 0; i < 100; i++)); do
    PARENT=$pid; mapfile -t NGINX_WORKERS < <(children "$pid")
    [ "${#NGINX_WORKERS[@]}" -gt 0 ] && break
    sleep 0.05
  done
  [ "${#NGINX_WORKERS[@]}" -gt 0 ] || die "nginx $1 has no worker"
  STARTED_PID=$pid
}

free_port; ORIGIN_PORT=$PORT
LOCATION="            default_type text/plain;
            return 200 \"$BODY\";"
nginx_conf "$OUT/origin" "$LOAD_CORE" "$ORIGIN_PORT" ""
start_nginx origin "$LOAD_CORE" "$ORIGIN_PORT"
log "origin: nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') on 127.0.0.1:$ORIGIN_PORT (core $LOAD_CORE), 100-byte body"

free_port; REF_PORT=$PORT
LOCATION="            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";"
# Case f: one self-signed ECDSA certificate for bench.test serves both proxies' HTTPS port (the
# Sluice ssl object also names 127.0.0.1: wrk sends the URL's IP as its SNI).
REF_TLS_SERVER= REF_TLS_PORT=
if [[ ",$CASES," == *,f,* ]]; then
  command -v openssl >/dev/null || die "case f needs openssl (apt-get install openssl)"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=bench.test -addext subjectAltName=DNS:bench.test \
    -keyout "$OUT/tls.key" -out "$OUT/tls.crt" 2>/dev/null || die "openssl could not make the case f certificate"
  free_port; REF_TLS_PORT=$PORT
  REF_TLS_SERVER="    server {
        listen 127.0.0.1:$REF_TLS_PORT ssl backlog=4096;
        ssl_certificate $OUT/tls.crt;
        ssl_certificate_key $OUT/tls.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets off;
        location / {
$LOCATION
        }
    }"
fi
nginx_conf "$OUT/nginx" "$PROXY_CORE" "$REF_PORT" "    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 320;
        keepalive_requests 100000000;
        keepalive_timeout 300s;
    }
$REF_TLS_SERVER"
start_nginx nginx "$PROXY_CORE" "$REF_PORT"
REF_PIDS=("$STARTED_PID" "${NGINX_WORKERS[@]}")
log "reference: nginx proxy_pass on 127.0.0.1:$REF_PORT (worker pid ${NGINX_WORKERS[*]} on core $PROXY_CORE)"

curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$REF_PORT/" || die "the nginx reference does not answer 200"

# The engine reference (row "fasthttp", cases a and e): it proxies every path as nginx does.
FH_PID=
if [ "$REF_FASTHTTP" = 1 ]; then
  free_port; FH_PORT=$PORT
  GOMAXPROCS=1 taskset -c "$PROXY_CORE" "$OUT/fasthttpref" -listen "127.0.0.1:$FH_PORT" \
    -upstream "127.0.0.1:$ORIGIN_PORT" 2>"$OUT/fasthttpref.log" &
  FH_PID=$!
  PIDS+=("$FH_PID")
  wait_port "$FH_PORT" 10 "$FH_PID" || die "bench/fasthttpref did not listen on $FH_PORT"
  curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$FH_PORT/" || die "bench/fasthttpref does not answer 200"
  log "engine reference: bench/fasthttpref on 127.0.0.1:$FH_PORT (core $PROXY_CORE, GOMAXPROCS=1)"
fi
fh_case() { [ -n "$FH_PID" ] && case "$1" in a|e) true ;; *) false ;; esac; }

# ---------------------------------------------------------------- Sluice

ADMIN_KEY="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
declare -A S_PROXY S_ADMIN S_ETCD S_SETUP S_SSL NOT_SERVED
SLUICE_PID=
group_of() { case "$1" in e) echo a ;; *) echo "$1" ;; esac; }  # e reuses a's node and route

sluice_config() { # group: writes $OUT/sluice-<g>/config.yaml with free ports
  local g=$1 dir="$OUT/sluice-$1" proxy admin control ec ep prom
  mkdir -p "$dir/data"
  free_port; proxy=$PORT; free_port; admin=$PORT; free_port; control=$PORT
  free_port; ec=$PORT; free_port; ep=$PORT; free_port; prom=$PORT
  S_PROXY[$g]=$proxy; S_ADMIN[$g]=$admin; S_ETCD[$g]=$ec
  local ssl="  ssl:
    enable: false"
  if [ "$g" = f ]; then
    free_port; S_SSL[$g]=$PORT
    ssl="  ssl:
    fallback_sni: bench.test
    listen:
      - ip: 127.0.0.1
        port: ${S_SSL[$g]}"
  fi
  cat >"$dir/config.yaml" <<EOF
# bench/run.sh case group $g: loopback only, free ports, logs off.
apisix:
  node_listen:
    - ip: 127.0.0.1
      port: $proxy
  enable_control: true
  control:
    ip: 127.0.0.1
    port: $control
$ssl
nginx_config:
  worker_processes: 1
  error_log_level: warn
  http:
    enable_access_log: false
deployment:
  role: traditional
  admin:
    admin_key:
      - name: admin
        key: $ADMIN_KEY
        role: admin
    admin_listen:
      ip: 127.0.0.1
      port: $admin
  etcd:
    embedded:
      listen_client: http://127.0.0.1:$ec
      listen_peer: http://127.0.0.1:$ep
plugin_attr:
  prometheus:
    export_addr:
      ip: 127.0.0.1
      port: $prom
EOF
  "$SLUICE_BIN" validate -c "$dir/config.yaml" >>"$dir/sluice.log" 2>&1 \
    || { cat "$dir/sluice.log" >&2; die "sluice validate rejected $dir/config.yaml"; }
}

start_sluice() { # group -> SLUICE_PID, or returns 1
  local g=$1 dir="$OUT/sluice-$1"
  [ -n "${S_PROXY[$g]:-}" ] || sluice_config "$g"
  echo "---- start $(date +%T)" >>"$dir/sluice.log"
  GOMAXPROCS=1 taskset -c "$PROXY_CORE" "$SLUICE_BIN" start -c "$dir/config.yaml" \
    --data-dir "$dir/data" --log-level warn >>"$dir/sluice.log" 2>&1 &
  SLUICE_PID=$!
  PIDS+=("$SLUICE_PID")
  if ! wait_port "${S_ADMIN[$g]}" 60 "$SLUICE_PID" || ! wait_port "${S_PROXY[$g]}" 30 "$SLUICE_PID"; then
    log "Sluice ($g) did not open its admin and proxy ports; log: $dir/sluice.log"
    tail -n 20 "$dir/sluice.log" >&2
    stop_sluice
    return 1
  fi
}
stop_sluice() {
  [ -n "$SLUICE_PID" ] || return 0
  stop_pid "$SLUICE_PID" 20
  SLUICE_PID=
}

ADMIN_CODE= ADMIN_RESP=
admin() { # group method path [json] -> ADMIN_CODE, ADMIN_RESP
  local g=$1
  ADMIN_CODE=$(curl -sS --max-time 30 -o "$OUT/admin.resp" -w '%{http_code}' -X "$2" \
    -H "X-API-KEY: $ADMIN_KEY" -H 'Content-Type: application/json' \
    ${4:+--data-binary "$4"} "http://127.0.0.1:${S_ADMIN[$g]}/apisix/admin$3" 2>&1) || ADMIN_CODE=000
  ADMIN_RESP=$(cat "$OUT/admin.resp" 2>/dev/null || true)
}
put() { # group path json: 2xx or return 1 (and say why)
  admin "$1" PUT "$2" "$3"
  case "$ADMIN_CODE" in 2??) return 0 ;; esac
  SETUP_ERR="PUT $2 -> $ADMIN_CODE $ADMIN_RESP"
  return 1
}

d_path() { echo "/bench/d/$1"; }   # route i of case d
D_REQUESTED=()                     # the D_PATHS paths wrk spreads case d over
for ((k = 0; k < D_PATHS; k++)); do
  D_REQUESTED+=("$(d_path $((1 + k * (D_ROUTES / D_PATHS))))")
done

setup_routes() { # group: create its objects through the Admin API (once per data dir)
  local g=$1
  SETUP_ERR=
  put "$g" /upstreams/origin "{\"type\":\"roundrobin\",\"nodes\":{\"127.0.0.1:$ORIGIN_PORT\":1}}" || return 1
  case "$g" in
    a) put a /routes/bench-a '{"uri":"/bench/a","upstream_id":"origin"}' || return 1 ;;
    b) put b /routes/bench-b '{"uri":"/bench/b","upstream_id":"origin","plugins":{
         "limit-count":{"count":999999999999,"time_window":60,"rejected_code":503,"key":"remote_addr"},
         "prometheus":{}}}' || return 1 ;;
    c) put c /consumers "{\"username\":\"bench\",\"plugins\":{\"key-auth\":{\"key\":\"$API_KEY\"}}}" || return 1
       put c /routes/bench-c '{"uri":"/bench/c","upstream_id":"origin","plugins":{
         "key-auth":{},
         "proxy-rewrite":{"uri":"/rewritten","headers":{"set":{"X-Bench":"sluice"}}},
         "cors":{},
         "request-id":{}}}' || return 1 ;;
    d) setup_d || return 1 ;;
    f) put f /routes/bench-a '{"uri":"/bench/a","upstream_id":"origin"}' || return 1
       put f /ssls/bench "$(python3 -c 'import json,sys; print(json.dumps({"snis":["bench.test","127.0.0.1"],"cert":open(sys.argv[1]).read(),"key":open(sys.argv[2]).read()}))' "$OUT/tls.crt" "$OUT/tls.key")" || return 1 ;;
  esac
}
setup_d() { # D_ROUTES routes: straight into the embedded etcd, or through the Admin API
  if [ "$D_LOADER" = etcd ]; then
    log "case d: writing $D_ROUTES routes into etcd (bench/etcdload)"
    local t0=$SECONDS
    if ! "$OUT/etcdload" -endpoints "http://127.0.0.1:${S_ETCD[d]}" -n "$D_ROUTES" -upstream origin \
      >>"$OUT/sluice-d/sluice.log" 2>&1; then
      SETUP_ERR="bench/etcdload failed: $(tail -n 1 "$OUT/sluice-d/sluice.log")"
      return 1
    fi
    log "case d: $D_ROUTES routes written in $((SECONDS - t0))s"
    return 0
  fi
  # One curl process, D_PARALLEL PUTs in flight (curl --parallel).
  local cfg="$OUT/sluice-d/routes.curl" codes ok
  awk -v n="$D_ROUTES" -v port="${S_ADMIN[d]}" -v key="$ADMIN_KEY" 'BEGIN {
    for (i = 1; i <= n; i++) {
      printf "url = \"http://127.0.0.1:%s/apisix/admin/routes/bench-d-%d\"\n", port, i
      printf "request = \"PUT\"\nheader = \"X-API-KEY: %s\"\nheader = \"Content-Type: application/json\"\n", key
      printf "data = \"{\\\"uri\\\":\\\"/bench/d/%d\\\",\\\"upstream_id\\\":\\\"origin\\\"}\"\n", i
      printf "output = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\nmax-time = 30\n"
      if (i < n) print "next"
    }
  }' >"$cfg"
  log "case d: loading $D_ROUTES routes through the Admin API ($D_PARALLEL in parallel)"
  local t0=$SECONDS
  codes=$(timeout 1200 curl -sS --parallel --parallel-max "$D_PARALLEL" -K "$cfg" 2>>"$OUT/sluice-d/sluice.log" || true)
  ok=$(grep -c '^2' <<<"$codes" || true)
  log "case d: $ok/$D_ROUTES routes accepted in $((SECONDS - t0))s"
  if [ "$ok" -ne "$D_ROUTES" ]; then
    SETUP_ERR="$((D_ROUTES - ok)) of $D_ROUTES route PUTs failed (codes: $(sort <<<"$codes" | uniq -c | tr -s ' \n' ' '))"
    return 1
  fi
}

case_path() { case "$1" in a|e|f) echo /bench/a ;; b) echo /bench/b ;; c) echo /bench/c ;; d) echo "${D_REQUESTED[0]}" ;; esac; }
case_conns() { case "$1" in e) echo "$CONNS_E" ;; *) echo "$CONNS" ;; esac; }
case_scheme() { case "$1" in f) echo https ;; *) echo http ;; esac; }
case_headers() { # one header per line, sent to both proxies
  case "$1" in c) printf '%s\n' "apikey: $API_KEY" "Origin: http://bench.example" ;; esac
}

SERVE_ERR=
check_served() { # case port: Sluice answers 200 on every path of the case (and the plugins ran)
  local c=$1 port=$2 i code urls=() hdr=() codes
  while IFS= read -r h; do [ -n "$h" ] && hdr+=(-H "$h"); done < <(case_headers "$c")
  if [ "$c" = d ]; then
    for p in "${D_REQUESTED[@]}"; do urls+=("http://127.0.0.1:$port$p"); done
  else
    urls=("$(case_scheme "$c")://127.0.0.1:$port$(case_path "$c")")
  fi
  local args=()
  for u in "${urls[@]}"; do args+=(-o /dev/null "$u"); done
  local wait_s=$SERVE_WAIT
  [ "$c" = d ] && [ "$D_SERVE_WAIT" -gt "$wait_s" ] && wait_s=$D_SERVE_WAIT   # 10k routes to compile and restore
  for ((i = 0; i < wait_s * 4; i++)); do
    codes=$(curl -sk --max-time 5 -w '%{http_code}\n' "${hdr[@]}" "${args[@]}" || true)
    if [ -n "$codes" ] && ! grep -qv '^200$' <<<"$codes"; then
      [ "$BENCH_NO_CHECK" = 1 ] && return 0
      check_plugins "$c" "$port" "${hdr[@]}" && return 0
      return 1
    fi
    sleep 0.25
  done
  local body
  body=$(curl -sk --max-time 5 "${hdr[@]}" "${urls[0]}" 2>/dev/null | head -c 200 | tr -d '\n' || true)
  SERVE_ERR="the proxy answers $(grep -v '^200$' <<<"$codes" | sort | uniq -c | awk '{printf "%s%s×%s", sep, $2, $1; sep=", "}') on ${urls[0]#*://127.0.0.1:$port}$([ "${#urls[@]}" -gt 1 ] && echo " (and the other $((${#urls[@]} - 1)) paths)")${body:+: $body}"
  return 1
}
check_plugins() { # case port headers...: the case's plugins visibly ran (fail-closed builds make this redundant)
  local c=$1 port=$2 h; shift 2
  case "$c" in
    b) h=$(curl -s --max-time 5 -D - -o /dev/null "$@" "http://127.0.0.1:$port/bench/b")
       grep -qi '^x-ratelimit-limit:' <<<"$h" || { SERVE_ERR="200 but no X-RateLimit-Limit header: limit-count did not run"; return 1; } ;;
    c) code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/bench/c")
       [ "$code" = 401 ] || { SERVE_ERR="answers $code without an apikey: key-auth did not run"; return 1; }
       h=$(curl -s --max-time 5 -D - -o /dev/null "$@" "http://127.0.0.1:$port/bench/c")
       grep -qi '^access-control-allow-origin:' <<<"$h" || { SERVE_ERR="200 but no Access-Control-Allow-Origin: cors did not run"; return 1; }
       grep -qi '^x-request-id:' <<<"$h" || { SERVE_ERR="200 but no X-Request-Id: request-id did not run"; return 1; } ;;
  esac
  return 0
}

# ---------------------------------------------------------------- load

TSV="$OUT/results.tsv"
printf 'round\tcase\tproxy\tstatus\tconns\trequests\tduration_s\treq_per_s\tp50_us\tp99_us\tcpu_ticks\tcpu_us_per_req\trss_kib\tnon2xx\tsocket_errors\tnote\n' >"$TSV"

WRK_LINE= WRK_PID=
wrk_run() { # case port duration -> WRK_LINE (wrk runs as a background job so a signal stops it at once)
  local c=$1 port=$2 d=$3 hdr=() env=() rc=0
  while IFS= read -r h; do [ -n "$h" ] && hdr+=(-H "$h"); done < <(case_headers "$c")
  [ "$c" = d ] && env=("BENCH_PATHS=$(IFS=,; echo "${D_REQUESTED[*]}")")
  env "${env[@]}" timeout $(( $(dur_s "$d") + 60 )) taskset -c "$LOAD_CORE" \
    wrk -t1 -c"$(case_conns "$c")" -d"$d" --latency -s "$BENCH/wrk.lua" "${hdr[@]}" \
    "$(case_scheme "$c")://127.0.0.1:$port$(case_path "$c")" >"$OUT/wrk.out" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || rc=$?
  WRK_PID=
  [ "$rc" = 0 ] || { log "wrk failed ($rc): $(cat "$OUT/wrk.out")"; return 1; }
  WRK_LINE=$(grep '^BENCH ' "$OUT/wrk.out") || { log "wrk printed no result: $(cat "$OUT/wrk.out")"; return 1; }
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

measure() { # round case proxy port pids...
  local r=$1 c=$2 p=$3 port=$4; shift 4
  local line t0 t1 req dus rps ticks cpu rss non2xx sock
  if [ "$WARM_S" -gt 0 ]; then wrk_run "$c" "$port" "$WARMUP" || return 1; fi
  t0=$(cpu_ticks "$@")
  wrk_run "$c" "$port" "$DURATION" || return 1
  t1=$(cpu_ticks "$@")
  line=$WRK_LINE
  rss=$(rss_kib "$@")
  req=$(field requests "$line"); dus=$(field duration_us "$line")
  non2xx=$(field status "$line")
  sock=$(( $(field connect "$line") + $(field read "$line") + $(field write "$line") + $(field timeout "$line") ))
  ticks=$((t1 - t0))
  rps=$(awk -v n="$req" -v d="$dus" 'BEGIN { printf "%.0f", (d > 0 ? n * 1e6 / d : 0) }')
  cpu=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", (n > 0 ? t * 1e6 / hz / n : 0) }')
  printf '%s\t%s\t%s\tok\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n' "$r" "$c" "$p" "$(case_conns "$c")" \
    "$req" "$(awk -v d="$dus" 'BEGIN { printf "%.2f", d / 1e6 }')" "$rps" "$(field p50_us "$line")" \
    "$(field p99_us "$line")" "$ticks" "$cpu" "$rss" "$non2xx" "$sock" >>"$TSV"
  log "round $r case $c $p: $rps req/s, p50 $(field p50_us "$line")µs, p99 $(field p99_us "$line")µs, $cpu CPU µs/req, RSS $((rss / 1024)) MiB$([ "$non2xx" -gt 0 ] && echo ", $non2xx non-2xx!")$([ "$sock" -gt 0 ] && echo ", $sock socket errors!")"
}

not_served() { # round case reason
  local c=$2
  if [ -z "${NOT_SERVED[$c]:-}" ]; then
    NOT_SERVED[$c]=$3
    echo "case $c: not served yet — $3" >&2
    for v in "${VARIANTS[@]}"; do
      printf '%s\t%s\t%s\tnot_served\t\t\t\t\t\t\t\t\t\t\t\t%s\n' "$1" "$c" "$v" "$3" >>"$TSV"
    done
  fi
}

run_sluice() { # round case variant
  local r=$1 c=$2 v=${3:-sluice} g
  SLUICE_BIN=${VARIANT_BIN[$v]}
  g=$(group_of "$c")
  if [ -n "${NOT_SERVED[$c]:-}" ]; then return 0; fi
  if [ -n "${NOT_SERVED[$g]:-}" ] && [ "$g" != "$c" ]; then not_served "$r" "$c" "${NOT_SERVED[$g]}"; return 0; fi
  start_sluice "$g" || { not_served "$r" "$c" "Sluice did not start (see bench/.out/sluice-$g/sluice.log)"; return 0; }
  if [ -z "${S_SETUP[$g]:-}" ]; then
    if setup_routes "$g"; then
      S_SETUP[$g]=1
    else
      not_served "$r" "$c" "the Admin API rejected the setup: $SETUP_ERR"
      stop_sluice; return 0
    fi
  fi
  local port=${S_PROXY[$g]}
  [ "$c" = f ] && port=${S_SSL[$g]}
  SERVE_ERR=
  if ! check_served "$c" "$port"; then
    not_served "$r" "$c" "$SERVE_ERR"
    stop_sluice; return 0
  fi
  measure "$r" "$c" "$v" "$port" "$SLUICE_PID" || log "round $r case $c $v: the run failed"
  stop_sluice
}

log "cases ${CASES}, $ROUNDS rounds, wrk -t1 -d$DURATION (warm-up $WARMUP), proxy on core $PROXY_CORE, load and origin on core $LOAD_CORE"
for ((r = 1; r <= ROUNDS; r++)); do
  for c in "${CASE_LIST[@]}"; do
    ref_port=$REF_PORT
    [ "$c" = f ] && ref_port=$REF_TLS_PORT
    measure "$r" "$c" nginx "$ref_port" "${REF_PIDS[@]}" || log "round $r case $c nginx: the run failed"
    if fh_case "$c"; then
      measure "$r" "$c" fasthttp "$FH_PORT" "$FH_PID" || log "round $r case $c fasthttp: the run failed"
    fi
    order=("${VARIANTS[@]}")
    if [ $((r % 2)) = 0 ] && [ "${#VARIANTS[@]}" -gt 1 ]; then
      order=(); for ((i = ${#VARIANTS[@]} - 1; i >= 0; i--)); do order+=("${VARIANTS[i]}"); done
    fi
    for v in "${order[@]}"; do run_sluice "$r" "$c" "$v"; done
  done
done

# ---------------------------------------------------------------- table of medians

median() { # case proxy column -> median of the ok rows ("" if none)
  awk -F'\t' -v c="$1" -v p="$2" -v col="$3" 'NR > 1 && $2 == c && $3 == p && $4 == "ok" { print $col }' "$TSV" \
    | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "–"; else printf "%.2f×", a / b }'; }
# round_ratio case proxy column [base_case base_proxy] -> median over the rounds of the ratio of
# proxy's value to the base's in the same round (default base: nginx in the same case). Rounds
# interleave the proxies within seconds, so this cancels the VM's slower drifts better than a
# ratio of medians.
round_ratio() {
  awk -F'\t' -v c="$1" -v p="$2" -v col="$3" -v bc="${4:-$1}" -v bp="${5:-nginx}" '
    NR > 1 && $4 == "ok" && $2 == c && $3 == p { v[$1] = $col }
    NR > 1 && $4 == "ok" && $2 == bc && $3 == bp { b[$1] = $col }
    END { for (r in v) if ((r in b) && b[r] + 0 > 0) print v[r] / b[r] }' "$TSV" \
    | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "–"; exit }
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f×", m }'
}
fmt() { awk -v v="$1" -v f="$2" -v s="${3:-1}" 'BEGIN { if (v == "") print "–"; else printf f, v / s }'; }

TABLE="$OUT/table.md"
{
  echo "| case | proxy | req/s | ×nginx | p50 ms | p99 ms | p99 ×nginx | CPU µs/req | ×nginx | RSS MiB | runs |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for c in "${CASE_LIST[@]}"; do
    nr=$(median "$c" nginx 8); n99=$(median "$c" nginx 10); nc=$(median "$c" nginx 12)
    rows=(nginx)
    if fh_case "$c"; then rows+=(fasthttp); fi
    for p in "${rows[@]}" "${VARIANTS[@]}"; do
      runs=$(awk -F'\t' -v c="$c" -v p="$p" 'NR > 1 && $2 == c && $3 == p && $4 == "ok"' "$TSV" | wc -l)
      if [ "$runs" -eq 0 ]; then
        if [ "$p" != nginx ] && [ -n "${NOT_SERVED[$c]:-}" ]; then
          echo "| $c | $p | not served yet | | | | | | | | 0 |"
        else
          echo "| $c | $p | no successful run | | | | | | | | 0 |"
        fi
        continue
      fi
      rq=$(median "$c" "$p" 8); p50=$(median "$c" "$p" 9); p99=$(median "$c" "$p" 10)
      cpu=$(median "$c" "$p" 12); rss=$(median "$c" "$p" 13)
      echo "| $c | $p | $(fmt "$rq" %.0f) | $(ratio "$rq" "$nr") | $(fmt "$p50" %.3f 1000) | $(fmt "$p99" %.3f 1000) | $(ratio "$p99" "$n99") | $(fmt "$cpu" %.1f) | $(ratio "$cpu" "$nc") | $(fmt "$rss" %.1f 1024) | $runs |"
    done
  done
} >"$TABLE"

echo
echo "Medians of $ROUNDS interleaved rounds, wrk -t1 -d$DURATION keep-alive, 100-byte responses;"
echo "proxy on core $PROXY_CORE (nginx: 1 worker; Sluice: GOMAXPROCS=1), wrk and the nginx origin on core $LOAD_CORE."
[ -n "$FH_PID" ] && echo "Row fasthttp (cases a, e): bench/fasthttpref, fasthttp.Server + HostClient with no routing or header work: the engine alone."
for v in "${VARIANTS[@]}"; do
  echo "Row ${v}: $("${VARIANT_BIN[$v]}" version 2>/dev/null | sed 's/.*; //; s/)$//')."
done
[ -n "$FH_PID" ] && echo "Row fasthttp built with NETPOLL=${NETPOLL:-fifo} (docs/netpoll-order.md)."
echo "Cases: a one route · b limit-count+prometheus · c key-auth+proxy-rewrite+cors+request-id · d $D_ROUTES routes, $D_PATHS requested · e as a with $CONNS_E connections · f as a over HTTPS (TLS 1.3, ECDSA P-256, keep-alive)."
echo
cat "$TABLE"
echo
echo "Per-round medians of the ratio to nginx (the ratio in each round, then the median over the rounds):"
echo
echo "| case | proxy | req/s ×nginx | p99 ×nginx | CPU µs/req ×nginx |"
echo "| --- | --- | ---: | ---: | ---: |"
for c in "${CASE_LIST[@]}"; do
  rows=()
  if fh_case "$c"; then rows+=(fasthttp); fi
  for p in "${rows[@]}" "${VARIANTS[@]}"; do
    echo "| $c | $p | $(round_ratio "$c" "$p" 8) | $(round_ratio "$c" "$p" 10) | $(round_ratio "$c" "$p" 12) |"
  done
done
for c in "${CASE_LIST[@]}"; do
  [ -n "${NOT_SERVED[$c]:-}" ] && echo "case $c: not served yet — ${NOT_SERVED[$c]}"
done
if [[ ",$CASES," == *,a,* && ",$CASES," == *,d,* ]]; then
  # Case d's target is CPU per request within 5 % of case a's. nginx's own d/a ratio shows
  # what the load shape alone costs (wrk's Lua request() spreading paths runs slower).
  da=
  for p in nginx "${VARIANTS[@]}"; do
    da+="${da:+, }$p $(ratio "$(median d "$p" 12)" "$(median a "$p" 12)")"
  done
  echo "CPU µs/req case d ÷ case a (target for Sluice ≤ 1.05×): $da"
  da=
  for p in nginx "${VARIANTS[@]}"; do
    da+="${da:+, }$p $(round_ratio d "$p" 12 a "$p")"
  done
  echo "The same, per-round median: $da"
fi
echo "load average before: $LOADAVG_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
echo "raw results: $TSV"
