#!/usr/bin/env bash
# benches/run.sh: lifeboat's pipeline benchmark, as a report.
#
#   bash benches/run.sh [SIZE_MIB]        # default 512
#
# What it measures, on one input generated for the run (half incompressible bytes, half JSON
# log lines, alternating in 1 MiB blocks: the `bench-input` binary of benches/src):
#
#   1. baseline: `zstd -3 -T0 -c input | age -r RECIPIENT > out.age`: wall time and MiB/s;
#      and, for reference, the same pipeline doing lifeboat's extra work: `tee` into
#      `openssl dgst -sha256` (which, like lifeboat, uses the CPU's SHA instructions)
#      before zstd and after age, then `sync out.age` (an fsync of the output, which
#      lifeboat's fs storage does before it renames an upload into place);
#   2. `lifeboat backup` of the same file (a `kind = "files"` source) through zstd level 3
#      with `workers = 2` and age into a local fs storage: wall time, MiB/s and peak RSS
#      (`/usr/bin/time -v`). Its stream is a tar of the file: 1.5 KiB more, negligible;
#   3. `lifeboat backup` of an input 4x smaller: peak RSS, to show that RSS does not grow
#      with the size of the source;
#   4. `lifeboat verify` of the big backup (re-read, both sha256, decrypt, decompress, parse
#      the tar): wall time and peak RSS.
#
# Targets (from the issue): lifeboat >= 90% of the baseline's throughput; peak RSS of
# `lifeboat backup` < 64 MiB at both sizes. The summary says PASS or FAIL for each.
#
# Each timed command runs BENCH_RUNS times (default 5), after one untimed warm-up, baseline and
# lifeboat alternating; throughputs are medians (the verdict) and best runs (for reference),
# peak RSS the largest of the runs. CPU seconds (user + sys) are
# reported too: they are steadier than wall time on a shared machine, and show what each side
# spends (lifeboat also computes the sha256 of the raw and of the stored stream, which the
# baseline does not). Caches are warm: both sides read the input from the page cache, and
# `sync` runs before every timed command so neither pays for the other's writeback. The report
# also says how much CPU other processes took meanwhile (from /proc/stat): numbers taken while
# something else ran (a build, tests) are not worth much, and it warns about them.
#
# Environment:
#   BENCH_RUNS=N          repetitions of each timed command (default 5)
#   BENCH_WORKERS=N       `[compression] workers` for lifeboat (default 2)
#   BENCH_KEEP=1          keep the temp folder (its path is printed) instead of removing it
#   CARGO_TARGET_DIR      where cargo builds (default: <repo>/target)
#
# Needs: cargo, and the `zstd`, `age`/`age-keygen` and GNU `time` commands, which it installs
# from Debian (`apt-get install -y zstd age time`, with `apt-get update` only if that fails)
# when missing. Exits 0 whatever the numbers (it is a report); non-zero only when something
# crashed (a build, a tool, a backup or verify that failed).

set -euo pipefail

SIZE_MIB="${1:-512}"
RUNS="${BENCH_RUNS:-5}"
WORKERS="${BENCH_WORKERS:-2}"
if ! [[ "$SIZE_MIB" =~ ^[0-9]+$ ]] || ((SIZE_MIB < 4)); then
    echo "usage: bash benches/run.sh [SIZE_MIB]   (a whole number >= 4, default 512)" >&2
    exit 2
fi
if ! [[ "$RUNS" =~ ^[0-9]+$ ]] || ((RUNS < 1)); then
    echo "BENCH_RUNS must be a whole number >= 1" >&2
    exit 2
fi
if ! [[ "$WORKERS" =~ ^[0-9]+$ ]]; then
    echo "BENCH_WORKERS must be a whole number" >&2
    exit 2
fi
SMALL_MIB=$((SIZE_MIB / 4))
RSS_LIMIT_MIB=64
RATIO_TARGET=90

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LIFEBOAT="$TARGET_DIR/release/lifeboat"
BENCH_INPUT="$TARGET_DIR/release/bench-input"

log() { printf '==> %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------

apt_install() {
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || { echo "need root (or sudo) to install: $*" >&2; exit 1; }
        sudo=(sudo)
    fi
    log "installing $* from Debian"
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; then
        "${sudo[@]}" apt-get update -q >/dev/null
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
    fi
}

missing=()
command -v zstd >/dev/null || missing+=(zstd)
{ command -v age >/dev/null && command -v age-keygen >/dev/null; } || missing+=(age)
[[ -x /usr/bin/time ]] || missing+=(time)
((${#missing[@]} == 0)) || apt_install "${missing[@]}"

log "building lifeboat and the input generator (release)"
(cd "$ROOT" && cargo build --release --quiet -p lifeboat-cli -p lifeboat-benches)

# --- scratch space -----------------------------------------------------------------------

WORK="$(mktemp -d "${TMPDIR:-/tmp}/lifeboat-bench.XXXXXX")"
cleanup() {
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

log "generating ${SIZE_MIB} MiB and ${SMALL_MIB} MiB inputs in $WORK"
"$BENCH_INPUT" "$SIZE_MIB" "$WORK/input.bin"
"$BENCH_INPUT" "$SMALL_MIB" "$WORK/small.bin" --seed 7

age-keygen -o "$WORK/key.txt" 2>/dev/null
RECIPIENT="$(age-keygen -y "$WORK/key.txt")"

# Relative paths in a config are relative to its folder.
cat >"$WORK/lifeboat.toml" <<EOF
[storage.local]
kind = "fs"
root = "./backups"

[compression]
algorithm = "zstd"
level = 3
workers = $WORKERS

[encryption]
recipients = ["$RECIPIENT"]
identity_file = "./key.txt"

[[sources]]
name = "big"
kind = "files"
paths = ["./input.bin"]

[[sources]]
name = "small"
kind = "files"
paths = ["./small.bin"]
EOF

cat >"$WORK/baseline.sh" <<EOF
set -euo pipefail
zstd -q -3 -T0 -c "$WORK/input.bin" | age -r "$RECIPIENT" >"$WORK/baseline.age"
EOF
cat >"$WORK/baseline-fsync.sh" <<EOF
set -o pipefail
# The same work lifeboat does: sha256 of the raw and of the stored stream, in-stream, and an
# fsync of the output. wait: bash does not wait for process substitutions by itself.
tee >(openssl dgst -sha256 >/dev/null) <"$WORK/input.bin" | zstd -q -3 -T0 -c | age -r "$RECIPIENT" \
    | tee >(openssl dgst -sha256 >/dev/null) >"$WORK/baseline.age"
sync "$WORK/baseline.age"
wait
EOF

LB=("$LIFEBOAT" --config "$WORK/lifeboat.toml" -q)

# --- measuring ---------------------------------------------------------------------------

now_ns() { date +%s%N; }

# CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq) since boot
machine_busy() {
    awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat
}

# seconds between two `now_ns` readings, 3 decimals
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }

# MiB/s for $1 MiB in $2 seconds
rate() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? m / s : 0) }'; }

# the median of its arguments
median() {
    printf '%s\n' "$@" | sort -g |
        awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# the largest of its arguments
largest() { printf '%s\n' "$@" | sort -g | tail -n 1; }

# runs "$@" under `/usr/bin/time -v`; sets ELAPSED (wall s), CPU (user + sys s), RSS (peak MiB)
timed() {
    sync
    local start end status=0
    start="$(now_ns)"
    /usr/bin/time -v -o "$WORK/time.txt" "$@" || status=$?
    end="$(now_ns)"
    if ((status != 0)); then
        echo "command failed (exit $status): $*" >&2
        cat "$WORK/time.txt" >&2 || true
        exit 1
    fi
    ELAPSED="$(seconds "$start" "$end")"
    # shellcheck disable=SC2034 # read by the caller
    CPU="$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$WORK/time.txt")"
    RSS="$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$WORK/time.txt")"
    ours+=("$CPU")
}

# One untimed run of each first: binaries, libraries and the input in cache.
log "warming up"
bash "$WORK/baseline.sh"
"${LB[@]}" backup big >/dev/null
rm -rf "$WORK/backups/big"

busy_before="$(machine_busy)" start_ns="$(now_ns)" ours=()
base_times=() base_cpu=() base_rss=() lb_times=() lb_cpu=() lb_rss=() fsync_times=()
for ((run = 1; run <= RUNS; run++)); do
    rm -f "$WORK/baseline.age"
    timed bash "$WORK/baseline.sh"
    base_times+=("$ELAPSED") base_cpu+=("$CPU") base_rss+=("$RSS")
    log "run $run/$RUNS baseline:        ${ELAPSED} s  $(rate "$SIZE_MIB" "$ELAPSED") MiB/s  cpu ${CPU} s"

    rm -f "$WORK/baseline.age"
    timed bash "$WORK/baseline-fsync.sh"
    fsync_times+=("$ELAPSED")
    log "run $run/$RUNS baseline+same work: ${ELAPSED} s  $(rate "$SIZE_MIB" "$ELAPSED") MiB/s"

    # Only the newest backup is kept (verify reads it): the others would only fill the disk.
    rm -rf "$WORK/backups/big"
    timed "${LB[@]}" backup big >"$WORK/backup.out"
    lb_times+=("$ELAPSED") lb_cpu+=("$CPU") lb_rss+=("$RSS")
    log "run $run/$RUNS lifeboat:        ${ELAPSED} s  $(rate "$SIZE_MIB" "$ELAPSED") MiB/s  cpu ${CPU} s  peak RSS ${RSS} MiB"
done

small_rss=()
for ((run = 1; run <= RUNS; run++)); do
    rm -rf "$WORK/backups/small"
    timed "${LB[@]}" backup small >/dev/null
    small_rss+=("$RSS")
    log "run $run/$RUNS lifeboat ${SMALL_MIB} MiB:  ${ELAPSED} s  peak RSS ${RSS} MiB"
done

verify_times=() verify_rss=()
for ((run = 1; run <= RUNS; run++)); do
    timed "${LB[@]}" verify big >"$WORK/verify.out"
    verify_times+=("$ELAPSED") verify_rss+=("$RSS")
    log "run $run/$RUNS verify:          ${ELAPSED} s  peak RSS ${RSS} MiB"
done
busy_after="$(machine_busy)" end_ns="$(now_ns)"
# CPU seconds taken by other processes while we measured, and their share of the machine
others="$(printf '%s\n' "${ours[@]}" |
    awk -v a="$busy_before" -v b="$busy_after" '{ s += $1 } END { o = b - a - s; printf "%.1f", (o > 0 ? o : 0) }')"
others_pct="$(awk -v o="$others" -v w="$(seconds "$start_ns" "$end_ns")" -v n="$(nproc)" \
    'BEGIN { printf "%.0f", (w > 0 ? 100 * o / (w * n) : 0) }')"

# --- report ------------------------------------------------------------------------------

base_s="$(median "${base_times[@]}")"
lb_s="$(median "${lb_times[@]}")"
verify_s="$(median "${verify_times[@]}")"
base_rate="$(rate "$SIZE_MIB" "$base_s")"
lb_rate="$(rate "$SIZE_MIB" "$lb_s")"
verify_rate="$(rate "$SIZE_MIB" "$verify_s")"
ratio="$(awk -v l="$lb_rate" -v b="$base_rate" 'BEGIN { printf "%.1f", (b > 0 ? 100 * l / b : 0) }')"
fsync_s="$(median "${fsync_times[@]}")"
fsync_rate="$(rate "$SIZE_MIB" "$fsync_s")"
fsync_ratio="$(awk -v l="$lb_rate" -v b="$fsync_rate" 'BEGIN { printf "%.1f", (b > 0 ? 100 * l / b : 0) }')"
# Best of the runs: noise only ever adds time, so this is the least disturbed comparison.
base_best_rate="$(rate "$SIZE_MIB" "$(printf '%s\n' "${base_times[@]}" | sort -g | head -n 1)")"
lb_best_rate="$(rate "$SIZE_MIB" "$(printf '%s\n' "${lb_times[@]}" | sort -g | head -n 1)")"
best_ratio="$(awk -v l="$lb_best_rate" -v b="$base_best_rate" 'BEGIN { printf "%.1f", (b > 0 ? 100 * l / b : 0) }')"
big_rss="$(largest "${lb_rss[@]}")"
small_peak="$(largest "${small_rss[@]}")"
verify_peak="$(largest "${verify_rss[@]}")"
base_peak="$(largest "${base_rss[@]}")"
stored_bytes="$("${LB[@]}" list big --json | grep -o '"stored_bytes": *[0-9]*' | head -n 1 | grep -o '[0-9]*$')"
baseline_bytes="$(stat -c %s "$WORK/baseline.age")"

verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
row() { printf '| %-40s | %15s | %-9s | %-7s |\n' "$1" "$2" "$3" "$4"; }

echo
echo "lifeboat pipeline benchmark: ${SIZE_MIB} MiB, half random / half JSON lines, zstd -3 + age -> local fs"
echo "machine: $(nproc) CPUs, $(uname -sr); zstd $(zstd -V | grep -o 'v[0-9.]*' | head -n 1), age $(age --version)"
echo "lifeboat: zstd level 3, workers = $WORKERS; medians of $RUNS runs"
echo "other processes used ${others} CPU s while this ran (${others_pct}% of the machine)"
if ((others_pct > 10)) && awk -v o="$others" 'BEGIN { exit !(o > 1) }'; then
    echo "WARNING: the machine was busy with something else: rerun when it is idle"
fi
echo
row "measure" "value" "target" "verdict"
row "----------------------------------------" "---------------" "---------" "-------"
row "baseline: zstd -3 -T0 | age" "$base_rate MiB/s" "" ""
row "lifeboat backup" "$lb_rate MiB/s" "" ""
row "lifeboat / baseline" "$ratio %" ">= ${RATIO_TARGET} %" "$(verdict "$ratio >= $RATIO_TARGET")"
row "  best runs: ${lb_best_rate} / ${base_best_rate} MiB/s" "$best_ratio %" "" ""
row "baseline + 2x sha256 + fsync" "$fsync_rate MiB/s" "" ""
row "lifeboat / (baseline + same work)" "$fsync_ratio %" "" ""
row "peak RSS, lifeboat backup of ${SIZE_MIB} MiB" "$big_rss MiB" "< ${RSS_LIMIT_MIB} MiB" "$(verdict "$big_rss < $RSS_LIMIT_MIB")"
row "peak RSS, lifeboat backup of ${SMALL_MIB} MiB" "$small_peak MiB" "< ${RSS_LIMIT_MIB} MiB" "$(verdict "$small_peak < $RSS_LIMIT_MIB")"
row "lifeboat verify of ${SIZE_MIB} MiB" "$verify_s s" "" ""
echo
echo "details:"
echo "  baseline wall s:         ${base_times[*]} (median ${base_s}); cpu s ${base_cpu[*]} (median $(median "${base_cpu[@]}")); peak RSS ${base_peak} MiB"
echo "  baseline + same work s: ${fsync_times[*]} (median ${fsync_s})"
echo "  lifeboat backup wall s:  ${lb_times[*]} (median ${lb_s}); cpu s ${lb_cpu[*]} (median $(median "${lb_cpu[@]}"))"
echo "  lifeboat backup RSS MiB: ${lb_rss[*]} (${SIZE_MIB} MiB source); ${small_rss[*]} (${SMALL_MIB} MiB source)"
echo "  lifeboat verify wall s:  ${verify_times[*]} (median ${verify_s} = ${verify_rate} MiB/s); peak RSS ${verify_peak} MiB"
echo "  stored size:             baseline $(mib "$baseline_bytes"), lifeboat $(mib "${stored_bytes:-0}")"
