#!/usr/bin/env bash
# load.sh measures the webhook server as docs/performance.md reports it:
# `portcullis serve --policies` with the example (seed) policies, driven by
# the load generator of ../shared/tools/loadgen over loopback TLS.
#
#   hack/load.sh [DURATION]        (default 15s per run)
#
# Environment: LOADGEN_DIR (default ../shared/tools/loadgen), PODS (default
# ../shared/bench/pods-1000.yaml), PORT (default 9443; the next two ports
# serve loadgen's no-op webhook and hack/floor).
#
# Resident memory is printed as the kernel counts it (VmHWM, the peak) and
# split into anonymous memory (heap, stacks) and file pages of the program
# (RssFile). A binary the linker has just written sits whole in the page
# cache, and the kernel then maps cached neighbours of every page the
# program touches ("fault-around"): RssFile is 25-30 MiB higher than for
# the same binary read from disk. Run as root, the script drops the page
# cache before it starts the server, so that the figures are those of an
# installed binary; otherwise it says that it could not.
set -euo pipefail

cd "$(dirname "$0")/.."
D=${1:-15s}
LOADGEN_DIR=${LOADGEN_DIR:-../shared/tools/loadgen}
PODS=${PODS:-../shared/bench/pods-1000.yaml}
PORT=${PORT:-9443}
NOOP_PORT=$((PORT + 1))
FLOOR_PORT=$((PORT + 2))
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

go build -o "$WORK/portcullis" ./cmd/portcullis
go build -o "$WORK/floor" ./hack/floor
(cd "$LOADGEN_DIR" && go build -o "$WORK/loadgen" .)
mkdir -p "$WORK/policies"
cp examples/kyverno/policies/*.yaml examples/gatekeeper/*.yaml "$WORK/policies/"

if [ "$(id -u)" = 0 ] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
	echo "page cache dropped: RSS is that of an installed binary"
else
	echo "page cache not dropped (needs root): RssFile includes fault-around of a freshly built binary"
fi

"$WORK/portcullis" serve --policies "$WORK/policies" --addr "127.0.0.1:$PORT" >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER=$!
for _ in $(seq 100); do
	grep -q "^webhook:" "$WORK/serve.out" 2>/dev/null && break
	sleep 0.1
done
"$WORK/loadgen" -serve-noop "127.0.0.1:$NOOP_PORT" >/dev/null 2>&1 &
"$WORK/floor" "127.0.0.1:$FLOOR_PORT" >/dev/null 2>&1 &
sleep 0.5

memory() {
	awk '/^(VmHWM|VmRSS|RssAnon|RssFile):/ {printf "%s %d MiB  ", $1, $2/1024} END {print ""}' "/proc/$SERVER/status"
}
run() {
	echo "== $*"
	"$WORK/loadgen" -pods "$PODS" -d "$D" "$@" | grep -E "throughput|latency_us|sched_latency_us|errors"
}

echo "idle: $(memory)"
for path in validate/fail mutate/fail v1/admit; do
	run -url "https://127.0.0.1:$PORT/$path" -c 8
	echo "   $(memory)"
done
echo "(loadgen's no-op webhook, the floor of the peers' table)"
run -url "https://127.0.0.1:$NOOP_PORT/" -c 8
echo "(hack/floor: no evaluation, 1,000-byte denials: the cost floor of any webhook that answers as the peers do)"
run -url "https://127.0.0.1:$FLOOR_PORT/" -c 8
for path in validate/fail mutate/fail v1/admit; do
	run -url "https://127.0.0.1:$PORT/$path" -rate 1000
done
echo "end: $(memory)"
echo "server CPU: $(awk '{printf "%.1f s", ($14+$15)/100}' "/proc/$SERVER/stat"), log: $(wc -c <"$WORK/serve.err") bytes"
for path in validate/fail v1/admit; do
	echo "== -check $path"
	"$WORK/loadgen" -check -pods "$PODS" -url "https://127.0.0.1:$PORT/$path" | grep "^requests"
done
