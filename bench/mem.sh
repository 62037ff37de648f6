#!/usr/bin/env bash
# Sluice's memory: RSS of the empty gateway, under case (a) load, and with 10k routes loaded,
# once with the embedded etcd and once with an external one. See bench/README.md ("Memory").
#
#   bench/mem.sh                         # both modes, routes written by bench/etcdload
#   MODES=external ROUTES=10000 bench/mem.sh
#   LOADER=admin bench/mem.sh            # routes PUT through the Admin API (minutes)
#
# Per mode it starts a fresh Sluice (GOMAXPROCS=1, as in bench/run.sh) and records VmRSS of
# the Sluice process (and, in external mode, of the etcd process separately):
#   empty    idle, no objects, after SETTLE seconds
#   load-a   one route, right after LOAD_DURATION of `wrk -c50` on it (case a of run.sh)
#   +ROUTES  after ROUTES more routes were written (LOADER) and are served, + SETTLE
#   restarted a fresh process on the same data, once all ROUTES are served, + SETTLE
# and prints a table; the target (issue 7) is "+10000 routes" - "empty" < 100 MiB. VmHWM (the
# process's peak RSS) is printed too: the Admin API burst costs more than the steady state.
# Everything listens on 127.0.0.1 on free ports; every process started here is stopped on exit.
set -euo pipefail

if [ $# -gt 0 ]; then   # settings are environment variables only
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  case "$1" in -h|--help) exit 0 ;; *) echo "bench/mem.sh: takes no arguments (got '$1'); settings are environment variables" >&2; exit 2 ;; esac
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/bench/.mem.out"   # *.out: ignored by git

MODES=${MODES:-embedded,external}
ROUTES=${ROUTES:-10000}
SETTLE=${SETTLE:-10}             # seconds of idle before each idle sample
LOAD_DURATION=${LOAD_DURATION:-5s}
LOADER=${LOADER:-etcd}           # etcd: bench/etcdload, batched txns | admin: Admin API PUTs
PARALLEL=${PARALLEL:-8}          # LOADER=admin: PUTs in flight
SERVE_WAIT=${SERVE_WAIT:-180}    # seconds to wait for the last route to answer 200
ETCD=${ETCD:-/usr/bin/etcd}
SLUICE_BIN=${SLUICE_BIN:-}
MEM_GOMAXPROCS=${MEM_GOMAXPROCS:-1}

log() { printf '[mem %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "needs nginx (apt-get install nginx) for the origin"
command -v wrk >/dev/null || die "needs wrk (apt-get install wrk)"
command -v curl >/dev/null || die "needs curl"
case ",$MODES," in *,external,*) [ -x "$ETCD" ] || die "external mode needs $ETCD (apt-get install etcd-server)";; esac

PIDS=()
stop_pid() {
  local pid=$1 t=${2:-20} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < t * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() { local pid; for pid in "${PIDS[@]}"; do stop_pid "$pid" 10; done; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

USED_PORTS=" "
free_port() {
  local p i
  for ((i = 0; i < 500; i++)); do
    p=$((20000 + RANDOM % 12000))
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then USED_PORTS+="$p "; PORT=$p; return 0; fi
  done
  die "no free port found"
}
wait_port() { # port seconds pid
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; } # pid VmRSS|VmHWM
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

case "$LOADER" in etcd|admin) ;; *) die "LOADER must be etcd or admin" ;; esac
rm -rf "$OUT"; mkdir -p "$OUT"
if [ -z "$SLUICE_BIN" ]; then
  log "building Sluice (work tree)"
  (cd "$ROOT" && go build -o "$OUT/sluice" ./cmd/sluice)
  SLUICE_BIN="$OUT/sluice"
fi
if [ "$LOADER" = etcd ]; then
  (cd "$ROOT" && go build -o "$OUT/etcdload" ./bench/etcdload) || die "building bench/etcdload failed"
fi

# The origin: nginx answering 200 with 100 bytes, as in bench/run.sh.
free_port; ORIGIN_PORT=$PORT
mkdir -p "$OUT/origin/logs" "$OUT/origin/temp"
cat >"$OUT/origin/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $OUT/origin/nginx.pid;
error_log $OUT/origin/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $OUT/origin/temp/body;
    proxy_temp_path $OUT/origin/temp/proxy;
    fastcgi_temp_path $OUT/origin/temp/fastcgi;
    uwsgi_temp_path $OUT/origin/temp/uwsgi;
    scgi_temp_path $OUT/origin/temp/scgi;
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        location / { default_type text/plain; return 200 "$(printf 'x%.0s' $(seq 1 100))"; }
    }
}
EOF
"$NGINX" -p "$OUT/origin" -c "$OUT/origin/nginx.conf" -e "$OUT/origin/logs/error.log" &
PIDS+=("$!")
wait_port "$ORIGIN_PORT" 10 "$!" || die "the nginx origin did not start"

ADMIN_KEY="mem-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
ROWS=()

run_mode() { # embedded|external
  local mode=$1 dir proxy admin control ec ep etcd_pid= etcd_yaml pid
  dir="$OUT/$mode"
  mkdir -p "$dir/data"
  free_port; proxy=$PORT; free_port; admin=$PORT; free_port; control=$PORT
  free_port; ec=$PORT; free_port; ep=$PORT
  if [ "$mode" = external ]; then
    "$ETCD" --name mem --data-dir "$dir/etcd" \
      --listen-client-urls "http://127.0.0.1:$ec" --advertise-client-urls "http://127.0.0.1:$ec" \
      --listen-peer-urls "http://127.0.0.1:$ep" --initial-advertise-peer-urls "http://127.0.0.1:$ep" \
      --initial-cluster "mem=http://127.0.0.1:$ep" --log-level error >"$dir/etcd.log" 2>&1 &
    etcd_pid=$!; PIDS+=("$etcd_pid")
    wait_port "$ec" 30 "$etcd_pid" || die "etcd did not start (see $dir/etcd.log)"
    etcd_yaml="    host:
      - http://127.0.0.1:$ec"
  else
    etcd_yaml="    embedded:
      listen_client: http://127.0.0.1:$ec
      listen_peer: http://127.0.0.1:$ep"
  fi
  cat >"$dir/config.yaml" <<EOF
apisix:
  node_listen:
    - ip: 127.0.0.1
      port: $proxy
  enable_control: true
  control:
    ip: 127.0.0.1
    port: $control
  ssl:
    enable: false
nginx_config:
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
$etcd_yaml
EOF
  start() {
    GOMAXPROCS=$MEM_GOMAXPROCS "$SLUICE_BIN" start -c "$dir/config.yaml" --data-dir "$dir/data" \
      --log-level warn >>"$dir/sluice.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    wait_port "$admin" 60 "$pid" && wait_port "$proxy" 30 "$pid" || die "Sluice ($mode) did not start (see $dir/sluice.log)"
  }
  sample() { # label
    local r h e=""
    r=$(status_kib "$pid" VmRSS); h=$(status_kib "$pid" VmHWM)
    [ -n "$etcd_pid" ] && e=$(mib "$(status_kib "$etcd_pid" VmRSS)")
    ROWS+=("$mode	$1	$r	$h	$e")
    log "$mode $1: Sluice RSS $(mib "$r") MiB (peak $(mib "$h")), etcd ${e:-in process} MiB"
  }
  put() { # path json
    local code
    code=$(curl -sS -o "$dir/put.resp" -w '%{http_code}' --max-time 30 -X PUT -H "X-API-KEY: $ADMIN_KEY" \
      --data-binary "$2" "http://127.0.0.1:$admin/apisix/admin$1") || code=000
    case "$code" in 2??) ;; *) die "PUT $1 -> $code $(cat "$dir/put.resp")" ;; esac
  }
  served() { # path seconds
    local i
    for ((i = 0; i < $2 * 4; i++)); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$proxy$1")" = 200 ] && return 0
      sleep 0.25
    done
    die "$1 did not answer 200 within $2 s"
  }

  start
  sleep "$SETTLE"; sample empty

  put /upstreams/origin "{\"type\":\"roundrobin\",\"nodes\":{\"127.0.0.1:$ORIGIN_PORT\":1}}"
  put /routes/mem-a '{"uri":"/bench/a","upstream_id":"origin"}'
  served /bench/a 30
  wrk -t1 -c50 -d"$LOAD_DURATION" "http://127.0.0.1:$proxy/bench/a" >"$dir/wrk.out" 2>&1 || die "wrk failed: $(cat "$dir/wrk.out")"
  sample load-a

  local cfg="$dir/routes.curl" t0=$SECONDS codes ok
  if [ "$LOADER" = etcd ]; then
    "$OUT/etcdload" -endpoints "http://127.0.0.1:$ec" -n "$ROUTES" -id-prefix mem- -upstream origin >>"$dir/sluice.log" 2>&1 \
      || die "bench/etcdload failed (see $dir/sluice.log)"
  else
    awk -v n="$ROUTES" -v port="$admin" -v key="$ADMIN_KEY" 'BEGIN {
      for (i = 1; i <= n; i++) {
        printf "url = \"http://127.0.0.1:%s/apisix/admin/routes/mem-%d\"\n", port, i
        printf "request = \"PUT\"\nheader = \"X-API-KEY: %s\"\n", key
        printf "data = \"{\\\"uri\\\":\\\"/bench/d/%d\\\",\\\"upstream_id\\\":\\\"origin\\\"}\"\n", i
        printf "output = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\nmax-time = 30\n"
        if (i < n) print "next"
      }
    }' >"$cfg"
    codes=$(timeout 1200 curl -sS --parallel --parallel-max "$PARALLEL" -K "$cfg" 2>>"$dir/sluice.log" || true)
    ok=$(grep -c '^2' <<<"$codes" || true)
    [ "$ok" -eq "$ROUTES" ] || die "$((ROUTES - ok)) of $ROUTES route PUTs failed"
  fi
  served "/bench/d/$ROUTES" "$SERVE_WAIT"
  log "$mode: $ROUTES routes loaded and served in $((SECONDS - t0)) s"
  sleep "$SETTLE"; sample "+$ROUTES routes"

  stop_pid "$pid" 20
  start
  served "/bench/d/$ROUTES" "$SERVE_WAIT"
  sleep "$SETTLE"; sample "restarted with $ROUTES"
  stop_pid "$pid" 20
  [ -z "$etcd_pid" ] || stop_pid "$etcd_pid" 20
}

IFS=, read -r -a MODE_LIST <<<"$MODES"
for m in "${MODE_LIST[@]}"; do
  case "$m" in embedded|external) run_mode "$m" ;; *) die "unknown mode '$m' (embedded, external)" ;; esac
done

echo
echo "Sluice RSS (VmRSS of the sluice process; the embedded etcd is inside it), GOMAXPROCS=$MEM_GOMAXPROCS, $ROUTES routes written by $([ "$LOADER" = etcd ] && echo bench/etcdload || echo "Admin API PUTs"):"
echo
echo "| etcd | state | Sluice RSS MiB | Sluice peak (VmHWM) MiB | etcd RSS MiB | Sluice growth over empty MiB |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
declare -A EMPTY
for row in "${ROWS[@]}"; do
  IFS=$'\t' read -r m s r h e <<<"$row"
  [ "$s" = empty ] && EMPTY[$m]=$r
  echo "| $m | $s | $(mib "$r") | $(mib "$h") | ${e:-(in process)} | $(mib $((r - ${EMPTY[$m]:-$r}))) |"
done
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores); target: growth with 10000 routes < 100 MiB"
