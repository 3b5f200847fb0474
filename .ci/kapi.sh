#!/usr/bin/env bash
# A real kube-apiserver + etcd for logspool's Kubernetes metadata tests, built
# from the Go module proxy only (the tests in parser/kubemeta and
# cmd/logspool run it; .ci/run builds it; without it they skip, except under
# LOGSPOOL_CI=1, where they fail).
#
#   kapi.sh build                  build (once) and cache bin/kube-apiserver and bin/etcd
#                                  (cold: about 6-9 min on 2 cores, ~2.9 GB at link)
#   kapi.sh start NAME             start etcd + kube-apiserver on 127.0.0.1 (free ports),
#                                  wait for /readyz, print KUBE_* env lines; never builds
#   kapi.sh stop NAME              stop both processes (by saved PID) and delete the run dir
#   kapi.sh stop-apiserver NAME    stop kube-apiserver only (etcd keeps the data)
#   kapi.sh start-apiserver NAME   start it again on the same port with the same data
#
# Output of "start" (eval-able):
#   KUBE_URL=https://127.0.0.1:PORT  KUBE_TOKEN=...  KUBECONFIG=.../kubeconfig
#   KUBE_CA_FILE=.../apiserver.crt (self-signed serving cert, valid for 127.0.0.1)
#
# Env knobs: KAPI_HOME (default ${XDG_CACHE_HOME:-$HOME/.cache}/kapi), K8S_VERSION (v1.37.2),
#   ETCD_VERSION (v3.7.3), GO (default: go on the PATH, else /usr/local/go/bin/go),
#   KAPI_ETCD=/path/to/etcd to use an existing etcd binary (e.g. Debian 3.4.23),
#   KAPI_EXTRA_ARGS extra kube-apiserver flags.
set -euo pipefail

KAPI_HOME=${KAPI_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/kapi}
K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
BIN=$KAPI_HOME/bin
SRC=$KAPI_HOME/src
NAME=${2:-default}
RUN=$KAPI_HOME/run/$NAME

log() { echo "kapi.sh: $*" >&2; }

build_apiserver() {
  [ -x "$BIN/kube-apiserver" ] && return 0
  local d=$SRC/apiserver-$K8S_VERSION staging=v0${K8S_VERSION#v1}
  mkdir -p "$d" "$BIN"
  ( cd "$d"
    # go.mod of k8s.io/kubernetes (the zip has no staging/ dir) -> copy its
    # replace block, pointing every staging module at the published v0.X.Y tag.
    modfile=$("$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    { echo 'module kapi/apiserver'; echo; echo 'go 1.26.0'; echo; echo 'godebug default=go1.26'; echo
      echo "require k8s.io/kubernetes $K8S_VERSION"; echo; echo 'replace ('
      sed -n '/^replace (/,/^)/p' "$modfile" | awk '/=>/ {print "\t"$1" => "$1" '"$staging"'"}'
      echo ')'; } > go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' > tools.go
    "$GO" mod tidy
    log "building kube-apiserver $K8S_VERSION (cold: about 6-9 min on 2 cores; warm cache: seconds)"
    # without -X the binary reports v0.0.0-master+$Format:%H$ on /version
    v=k8s.io/component-base/version; mm=${K8S_VERSION#v}
    "$GO" build -ldflags "-X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=${mm%%.*} -X $v.gitMinor=$(echo "$mm" | cut -d. -f2) -X $v.gitTreeState=clean" \
      -o "$BIN/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver )
  mv "$BIN/kube-apiserver.tmp" "$BIN/kube-apiserver"
}

build_etcd() {
  [ -n "${KAPI_ETCD:-}" ] && return 0
  [ -x "$BIN/etcd" ] && return 0
  local d=$SRC/etcd-$ETCD_VERSION
  mkdir -p "$d" "$BIN"
  ( cd "$d"
    printf 'module kapi/etcd\n\ngo 1.26.0\n' > go.mod
    # server/v3 has package main at its root = the real etcd binary.
    # (go install ...@version is refused: its go.mod has replace directives.)
    "$GO" get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    log "building etcd $ETCD_VERSION"
    "$GO" build -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3 )
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'
  else
    local p; while :; do p=$((20000 + RANDOM % 30000))
      (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done
  fi
}

wait_for() { # url timeout_s [curl args...]
  local url=$1 t=$2; shift 2
  local end=$(( $(date +%s) + t ))
  until curl -sfk -o /dev/null "$@" "$url"; do
    [ "$(date +%s)" -ge "$end" ] && return 1
    sleep 0.2
  done
}

do_start() {
  local etcd=${KAPI_ETCD:-$BIN/etcd}
  [ -x "$etcd" ] && [ -x "$BIN/kube-apiserver" ] || { log "not built: run $0 build"; exit 3; }
  [ -e "$RUN/apiserver.pid" ] && { log "$RUN already running; stop it first"; exit 1; }
  rm -rf "$RUN"; mkdir -p "$RUN/certs"
  openssl genrsa -out "$RUN/sa.key" 2048 2>/dev/null
  openssl rsa -in "$RUN/sa.key" -pubout -out "$RUN/sa.pub" 2>/dev/null
  local token; token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$token,admin,admin-uid,\"system:masters\"" > "$RUN/tokens.csv"

  local ec ep ap
  ec=$(free_port); ep=$(free_port); ap=$(free_port)
  "$etcd" --name kapi --data-dir "$RUN/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ec" --advertise-client-urls "http://127.0.0.1:$ec" \
    --listen-peer-urls "http://127.0.0.1:$ep" --initial-advertise-peer-urls "http://127.0.0.1:$ep" \
    --initial-cluster "kapi=http://127.0.0.1:$ep" \
    --unsafe-no-fsync --log-level warn >"$RUN/etcd.log" 2>&1 &
  echo $! > "$RUN/etcd.pid"
  wait_for "http://127.0.0.1:$ec/health" 30 || { log "etcd did not come up"; tail -20 "$RUN/etcd.log" >&2; do_stop; exit 1; }

  # --endpoint-reconciler-type=none: a loopback advertise address is otherwise fatal
  #   ("cannot use public IP 127.0.0.1 with endpoint reconciler").
  # --cert-dir: kube-apiserver self-signs apiserver.crt/key for 127.0.0.1/localhost.
  # ServiceAccount admission is disabled: without kube-controller-manager no
  # "default" ServiceAccount exists and every Pod create would be Forbidden.
  # shellcheck disable=SC2086
  printf '%s\n' \
    --etcd-servers="http://127.0.0.1:$ec" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$ap" \
    --endpoint-reconciler-type=none \
    --cert-dir="$RUN/certs" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$RUN/sa.pub" \
    --service-account-signing-key-file="$RUN/sa.key" \
    --token-auth-file="$RUN/tokens.csv" \
    --authorization-mode=RBAC \
    --service-cluster-ip-range=10.0.0.0/24 \
    --disable-admission-plugins=ServiceAccount \
    ${KAPI_EXTRA_ARGS:-} > "$RUN/apiserver.args"
  echo "$ap" > "$RUN/apiserver.port"; echo "$token" > "$RUN/token"
  launch_apiserver || { do_stop; exit 1; }

  cat > "$RUN/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: kapi, cluster: {server: "https://127.0.0.1:$ap", certificate-authority: "$RUN/certs/apiserver.crt"}}]
users: [{name: admin, user: {token: "$token"}}]
contexts: [{name: kapi, context: {cluster: kapi, user: admin}}]
current-context: kapi
EOF
  echo "KUBE_URL=https://127.0.0.1:$ap"
  echo "KUBE_TOKEN=$token"
  echo "KUBE_CA_FILE=$RUN/certs/apiserver.crt"
  echo "KUBECONFIG=$RUN/kubeconfig"
  echo "ETCD_URL=http://127.0.0.1:$ec"
}

launch_apiserver() {
  local ap token args=()
  ap=$(cat "$RUN/apiserver.port"); token=$(cat "$RUN/token")
  mapfile -t args < "$RUN/apiserver.args"
  "$BIN/kube-apiserver" "${args[@]}" >>"$RUN/apiserver.log" 2>&1 &
  echo $! > "$RUN/apiserver.pid"
  wait_for "https://127.0.0.1:$ap/readyz" 90 -H "Authorization: Bearer $token" \
    || { log "kube-apiserver not ready"; tail -30 "$RUN/apiserver.log" >&2; return 1; }
}

stop_pid() { # pidfile
  [ -f "$1" ] || return 0
  local pid; pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

do_stop() {
  stop_pid "$RUN/apiserver.pid"
  stop_pid "$RUN/etcd.pid"
  rm -rf "$RUN"
}

case "${1:-}" in
  build) build_etcd; build_apiserver; ls -la "$BIN" >&2 ;;
  start) do_start ;;
  stop)  do_stop ;;
  stop-apiserver)  stop_pid "$RUN/apiserver.pid" ;;
  start-apiserver) launch_apiserver ;;
  *) echo "usage: $0 build | start NAME | stop NAME | stop-apiserver NAME | start-apiserver NAME" >&2; exit 2 ;;
esac
