#!/usr/bin/env bash
# benches/rabbitmq.sh: the rabbitmq store's benchmark, as a report.
#
#   bash benches/rabbitmq.sh [QUEUES] [MESSAGES_PER_QUEUE]     # default 1000 and 20000
#
# On the local broker (management 127.0.0.1:15672, AMQP 5672, guest/guest), in a vhost of its
# own that it deletes afterwards:
#
#   1. QUEUES durable queues (each bound to an exchange): `curl .../api/definitions > /dev/null`
#      vs `lifeboat backup` of the whole broker (definitions, zstd 3, age, fs storage): wall
#      time (median of BENCH_RUNS, alternating), target lifeboat < 2 x curl;
#   2. `lifeboat backup` of the vhost with `messages = true`, 3 queues (classic, quorum, lazy)
#      x MESSAGES_PER_QUEUE
#      persistent messages (512-byte binary payloads, headers): msgs/s, target >= 2000;
#   3. `lifeboat restore` of that backup after deleting the vhost: msgs/s, target >= 2000;
#   4. peak RSS (`/usr/bin/time -v`) of every lifeboat command.
#
# Environment: BENCH_RUNS (default 5), BENCH_KEEP=1 keeps the temp folder, CARGO_TARGET_DIR.
set -euo pipefail

QUEUES=${1:-1000}
PER_QUEUE=${2:-20000}
# lifeboat takes at most 65535 messages per queue (max_messages_per_queue, AMQP prefetch window).
if [ "$PER_QUEUE" -gt 65535 ]; then echo "MESSAGES_PER_QUEUE must be <= 65535" >&2; exit 2; fi
RUNS=${BENCH_RUNS:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
API=http://127.0.0.1:15672
AUTH=guest:guest

for tool in curl python3 /usr/bin/time awk; do
    command -v "$tool" >/dev/null || { echo "benches/rabbitmq.sh needs $tool" >&2; exit 2; }
done
curl -sf -u "$AUTH" "$API/api/overview" >/dev/null || { echo "RabbitMQ management API at $API is unreachable" >&2; exit 2; }

echo "building lifeboat and the message generator (release)..." >&2
(cd "$ROOT" && cargo build --release -q -p lifeboat-cli && cargo build --release -q -p store-rabbitmq --example bench_publish)
BIN=$TARGET/release/lifeboat
GEN=$TARGET/release/examples/bench_publish

VHOST="lbbench_$$_$RANDOM"
WORK=$(mktemp -d)
cleanup() {
    curl -s -u "$AUTH" -X DELETE "$API/api/vhosts/$VHOST" >/dev/null || true
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

api() { # METHOD PATH [BODY]
    curl -sf -u "$AUTH" -X "$1" -H 'content-type: application/json' ${3:+-d "$3"} "$API$2" >/dev/null
}
grant() { api PUT "/api/permissions/$VHOST/guest" '{"configure":".*","write":".*","read":".*"}'; }

echo "creating $QUEUES queues in vhost $VHOST..." >&2
api PUT "/api/vhosts/$VHOST" '{}'
grant
python3 - "$VHOST" "$QUEUES" > "$WORK/defs.json" <<'PY'
import json, sys
v, n = sys.argv[1], int(sys.argv[2])
queues = [{"name": f"q{i:05d}", "vhost": v, "durable": True, "auto_delete": False,
           "arguments": {"x-queue-type": "classic", "x-max-length": 100000 + i}} for i in range(n)]
exchanges = [{"name": "bench.topic", "vhost": v, "type": "topic", "durable": True,
              "auto_delete": False, "internal": False, "arguments": {}}]
bindings = [{"source": "bench.topic", "vhost": v, "destination": q["name"], "destination_type": "queue",
             "routing_key": f"k.{q['name']}", "arguments": {}} for q in queues]
print(json.dumps({"rabbit_version": "3.10.8", "queues": queues, "exchanges": exchanges, "bindings": bindings}))
PY
curl -sf -u "$AUTH" -X POST -H 'content-type: application/json' --data-binary "@$WORK/defs.json" "$API/api/definitions" >/dev/null

cd "$WORK"
RECIPIENT=$("$BIN" keygen --output key.txt 2>/dev/null)
cat > lifeboat.toml <<TOML
[storage.local]
kind = "fs"
root = "./backups"

[compression]
algorithm = "zstd"
level = 3

[encryption]
recipients = ["$RECIPIENT"]
identity_file = "key.txt"

[[sources]]
name = "broker"
kind = "rabbitmq"
url = "http://guest:guest@127.0.0.1:15672"

[[sources]]
name = "msgs"
kind = "rabbitmq"
url = "http://guest:guest@127.0.0.1:15672"
vhosts = ["$VHOST"]
messages = true
max_messages_per_queue = 65535
TOML

# timed LABEL CMD... : appends "wall_s rss_kib" to $WORK/LABEL.times
timed() {
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$WORK/t.out" "$@" >"$WORK/$label.out" 2>"$WORK/$label.err" || {
        echo "$label failed:" >&2; cat "$WORK/$label.err" >&2; exit 1; }
    tail -1 "$WORK/t.out" >> "$WORK/$label.times"
}
median() { awk '{print $1}' "$WORK/$1.times" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
peak() { awk '{print $2}' "$WORK/$1.times" | sort -n | tail -1; }

LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
echo "definitions: $RUNS runs each of curl and lifeboat backup..." >&2
for _ in $(seq "$RUNS"); do
    timed curl curl -sf -u "$AUTH" "$API/api/definitions" -o /dev/null
    timed defs "$BIN" backup broker
done
DEF_BYTES=$(curl -sf -u "$AUTH" "$API/api/definitions" | wc -c)

TOTAL=$((3 * PER_QUEUE))
echo "publishing $TOTAL messages..." >&2
api PUT "/api/queues/$VHOST/m1" '{"durable":true}'
api PUT "/api/queues/$VHOST/m2" '{"durable":true,"arguments":{"x-queue-type":"quorum"}}'
api PUT "/api/queues/$VHOST/m3" '{"durable":true,"arguments":{"x-queue-mode":"lazy"}}'
for q in m1 m2 m3; do "$GEN" "$VHOST" "$q" "$PER_QUEUE" 512; done

echo "messages backup..." >&2
timed msgbackup "$BIN" backup msgs

echo "messages restore into the deleted vhost..." >&2
api DELETE "/api/vhosts/$VHOST"
timed msgrestore "$BIN" restore msgs
grant
# Counted with passive declares (the management API's statistics lag, more so under load);
# requeues and commits are asynchronous, so poll for up to 30 s.
for _ in $(seq 30); do
    RESTORED=$("$GEN" --depth "$VHOST" m1 m2 m3)
    [[ $RESTORED == "$TOTAL" ]] && break
    sleep 1
done
REPORTED=$(grep -o '[0-9]* message(s) republished' "$WORK/msgrestore.out" "$WORK/msgrestore.err" | head -1 || true)
echo "restore reported: ${REPORTED:-nothing}" >&2
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)

C=$(median curl); D=$(median defs); B=$(median msgbackup); R=$(median msgrestore)
awk -v c="$C" -v d="$D" -v b="$B" -v r="$R" -v n="$TOTAL" -v q="$QUEUES" -v bytes="$DEF_BYTES" \
    -v rss1="$(peak defs)" -v rss2="$(peak msgbackup)" -v rss3="$(peak msgrestore)" \
    -v restored="$RESTORED" -v l1="$LOAD_BEFORE" -v l2="$LOAD_AFTER" -v runs="$RUNS" 'BEGIN {
    ratio = d / c; bps = n / b; rps = n / r
    printf "\nrabbitmq bench: %d queues (definitions %.0f KiB), %d messages of 512 B; load %s -> %s; medians of %d runs\n\n", q, bytes / 1024, n, l1, l2, runs
    printf "%-44s %10s %12s %14s %6s\n", "measure", "wall s", "result", "target", "ok"
    printf "%-44s %10.3f %12s %14s %6s\n", "curl /api/definitions > /dev/null", c, "-", "-", "-"
    printf "%-44s %10.3f %11.2fx %14s %6s\n", "lifeboat backup (definitions, zstd+age)", d, ratio, "< 2.00x", ratio < 2 ? "PASS" : "FAIL"
    printf "%-44s %10.3f %10.0f/s %14s %6s\n", "lifeboat backup (messages = true)", b, bps, ">= 2000/s", bps >= 2000 ? "PASS" : "FAIL"
    printf "%-44s %10.3f %10.0f/s %14s %6s\n", "lifeboat restore (republish, tx)", r, rps, ">= 2000/s", rps >= 2000 ? "PASS" : "FAIL"
    printf "%-44s %10s %12d %14d %6s\n", "messages in the queues after restore", "-", restored, n, restored == n ? "PASS" : "FAIL"
    printf "\npeak RSS: backup (definitions) %.1f MiB, backup (messages) %.1f MiB, restore %.1f MiB\n", rss1 / 1024, rss2 / 1024, rss3 / 1024
}'
