#!/usr/bin/env bash
# benches/redis.sh: the redis store's benchmark, as a report.
#
#   bash benches/redis.sh [KEYS]          # default 1000000
#
# In private redis-servers on free loopback ports (`--save '' --appendonly no
# --repl-diskless-sync-delay 0`), with KEYS keys of mixed types (60% strings of 20-100 bytes,
# 10% each hashes of 3 fields, lists of 4, sets of 3, sorted sets of 3), one run measures:
#
#   1. baseline `redis-cli -p P --rdb /dev/null` vs `lifeboat backup` of a `mode = "rdb"`
#      source through zstd level 3 and age into a local fs storage: wall time (median of
#      BENCH_RUNS, alternating), target lifeboat <= 1.15 x baseline;
#   2. `lifeboat backup` of a `mode = "logical"` source: keys/s, target >= 200k keys/s;
#   3. `lifeboat restore --to redis://...` of the logical and of the rdb backup into an
#      empty server: keys/s, target >= 150k keys/s;
#   4. peak RSS (`/usr/bin/time -v`) of every lifeboat command, target <= 64 MiB.
#
# Environment: BENCH_RUNS (default 3), BENCH_KEEP=1 keeps the temp folder, CARGO_TARGET_DIR.
#
#   bash benches/redis.sh --memory [KEYS...]   # default 1000000 3000000
#
# The short mode: the peak RSS of a `mode = "logical"` backup (no compression, no encryption,
# so the store's own memory shows) of KEYS keys made by `DEBUG POPULATE`, for each KEYS, in
# one private redis-server. LIFEBOAT_BIN="old/lifeboat new/lifeboat" measures those binaries
# (each in turn, on the same keys) instead of building the release one; target: flat in KEYS.
set -euo pipefail

MEMORY_MODE=0
if [[ ${1:-} == --memory ]]; then
    MEMORY_MODE=1
    shift
    COUNTS=("${@:-1000000 3000000}")
    read -r -a COUNTS <<< "${COUNTS[*]}"
fi
KEYS=${1:-1000000}
RUNS=${BENCH_RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

for tool in redis-server redis-cli /usr/bin/time awk; do
    command -v "$tool" >/dev/null || { echo "benches/redis.sh needs $tool" >&2; exit 2; }
done

if [[ $MEMORY_MODE == 1 && -n ${LIFEBOAT_BIN:-} ]]; then
    read -r -a BINS <<< "$LIFEBOAT_BIN"
    BIN=${BINS[0]}
else
    echo "building lifeboat (release)..." >&2
    (cd "$ROOT" && cargo build --release -q -p lifeboat-cli)
    BIN=$TARGET/release/lifeboat
    BINS=("$BIN")
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
}

start_server() { # port dir [redis-server args...]
    mkdir -p "$2"
    redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
        --repl-diskless-sync-delay 0 --loglevel warning --dir "$2" "${@:3}" >/dev/null 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do
        redis-cli -p "$1" ping >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "redis-server on $1 did not start" >&2
    exit 1
}

SRC=$(free_port)
if [[ $MEMORY_MODE == 1 ]]; then
    start_server "$SRC" "$WORK/src" --enable-debug-command yes
    cd "$WORK"
    cat > lifeboat.toml <<TOML
[storage.local]
kind = "fs"
root = "./backups"

[[sources]]
name = "keys"
kind = "redis"
url = "redis://127.0.0.1:$SRC"
mode = "logical"
TOML
    printf "%-12s %-40s %10s %12s %10s\n" keys binary "wall s" "peak RSS" "keys/s"
    for n in "${COUNTS[@]}"; do
        redis-cli -p "$SRC" flushall >/dev/null
        redis-cli -p "$SRC" debug populate "$n" key 8 >/dev/null
        test "$(redis-cli -p "$SRC" dbsize)" = "$n"
        for bin in "${BINS[@]}"; do
            /usr/bin/time -f "%e %M" -o t.out "$bin" backup keys >/dev/null 2>err.out || {
                echo "backup with $bin failed:" >&2; cat err.out >&2; exit 1; }
            read -r wall rss < <(tail -1 t.out)
            awk -v n="$n" -v b="$bin" -v w="$wall" -v r="$rss" 'BEGIN {
                printf "%-12d %-40s %10.2f %8.1f MiB %10.0f\n", n, substr(b, length(b) - 39), w, r / 1024, n / w }'
            rm -rf backups
        done
    done
    exit 0
fi
start_server "$SRC" "$WORK/src"
DST1=$(free_port); start_server "$DST1" "$WORK/dst1"
DST2=$(free_port); start_server "$DST2" "$WORK/dst2"

echo "generating $KEYS keys..." >&2
awk -v n="$KEYS" 'BEGIN {
    srand(42);
    for (i = 0; i < n; i++) {
        t = i % 10;
        if (t < 6) { v = sprintf("%0" (20 + int(rand() * 80)) "d", i); print "SET str:" i " " v }
        else if (t == 6) print "HSET h:" i " f1 v" i " f2 " rand() " f3 x"
        else if (t == 7) print "RPUSH l:" i " a b c " i
        else if (t == 8) print "SADD s:" i " m1 m2 " i
        else print "ZADD z:" i " 1 a 2 b " i " c"
    }
}' | redis-cli -p "$SRC" --pipe >/dev/null
test "$(redis-cli -p "$SRC" dbsize)" = "$KEYS"

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
name = "snap"
kind = "redis"
url = "redis://127.0.0.1:$SRC"

[[sources]]
name = "keys"
kind = "redis"
url = "redis://127.0.0.1:$SRC"
mode = "logical"
TOML

# timed LABEL CMD... : appends "wall_s rss_kib" to $WORK/LABEL.times
timed() {
    local label=$1; shift
    sync
    /usr/bin/time -f "%e %M" -o "$WORK/t.out" "$@" >/dev/null 2>"$WORK/$label.err" || {
        echo "$label failed:" >&2; cat "$WORK/$label.err" >&2; exit 1; }
    tail -1 "$WORK/t.out" >> "$WORK/$label.times"
}
median() { awk '{print $1}' "$WORK/$1.times" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
peak() { awk '{print $2}' "$WORK/$1.times" | sort -n | tail -1; }

# redis-cli 7.0 exits 1 after a successful transfer to /dev/null (its fsync fails): the
# baseline counts as done when it says so.
baseline() {
    redis-cli -p "$SRC" --rdb /dev/null 2>&1 | grep -q "Transfer finished with success"
}

LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
echo "measuring ($RUNS runs each)..." >&2
timed cli bash -c "$(declare -f baseline); SRC=$SRC baseline" # warm-up (discarded)
rm -f "$WORK/cli.times"
for _ in $(seq "$RUNS"); do
    timed cli bash -c "$(declare -f baseline); SRC=$SRC baseline"
    timed rdb "$BIN" backup snap
done
for _ in $(seq "$RUNS"); do timed logical "$BIN" backup keys; done
timed restore_logical "$BIN" restore keys --to "redis://127.0.0.1:$DST1"
test "$(redis-cli -p "$DST1" dbsize)" = "$KEYS"
timed restore_rdb "$BIN" restore snap --to "redis://127.0.0.1:$DST2"
test "$(redis-cli -p "$DST2" dbsize)" = "$KEYS"
timed verify_deep "$BIN" verify snap --deep
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)

CLI=$(median cli); RDB=$(median rdb); LOG=$(median logical)
RL=$(median restore_logical); RR=$(median restore_rdb); VD=$(median verify_deep)
RSS=0
# verify --deep is left out: its process tree includes the scratch redis-server holding every
# key (getrusage of children reports the largest descendant).
for l in rdb logical restore_logical restore_rdb; do
    r=$(peak "$l"); (( r > RSS )) && RSS=$r
done
for l in rdb logical restore_logical restore_rdb verify_deep; do
    echo "peak RSS $l: $(( $(peak "$l") / 1024 )) MiB"
done
SIZE=$(du -sh "$WORK/backups/snap" | cut -f1)

awk -v keys="$KEYS" -v cli="$CLI" -v rdb="$RDB" -v lg="$LOG" -v rl="$RL" -v rr="$RR" \
    -v vd="$VD" -v rss="$RSS" -v runs="$RUNS" -v l1="$LOAD_BEFORE" -v l2="$LOAD_AFTER" -v size="$SIZE" '
function verdict(ok) { return ok ? "PASS" : "FAIL" }
BEGIN {
    ratio = rdb / cli; lk = keys / lg; rlk = keys / rl; rrk = keys / rr; mib = rss / 1024;
    printf "redis store benchmark: %d keys of mixed types, medians of %d runs (load %s -> %s)\n\n", keys, runs, l1, l2;
    printf "%-48s %10s %14s %8s\n", "measure", "wall s", "value", "verdict";
    printf "%-48s %10.2f %14s %8s\n", "redis-cli --rdb /dev/null (baseline)", cli, "", "";
    printf "%-48s %10.2f %13.2fx %8s\n", "lifeboat backup, rdb, zstd-3 + age (<= 1.15x)", rdb, ratio, verdict(ratio <= 1.15);
    printf "%-48s %10.2f %9.0f k/s %8s\n", "lifeboat backup, logical (>= 200k keys/s)", lg, lk / 1000, verdict(lk >= 200000);
    printf "%-48s %10.2f %9.0f k/s %8s\n", "lifeboat restore, logical (>= 150k keys/s)", rl, rlk / 1000, verdict(rlk >= 150000);
    printf "%-48s %10.2f %9.0f k/s %8s\n", "lifeboat restore, rdb (>= 150k keys/s)", rr, rrk / 1000, verdict(rrk >= 150000);
    printf "%-48s %10.2f %14s %8s\n", "lifeboat verify --deep (rdb, scratch server)", vd, "", "";
    printf "%-48s %10s %10.1f MiB %8s\n", "peak RSS of backup/restore commands (<= 64 MiB)", "", mib, verdict(mib <= 64);
    printf "\nrdb artifact folder: %s\n", size;
}'
