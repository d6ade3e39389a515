#!/usr/bin/env bash
# Runs every cargo-fuzz target for a set time and prints, per target: executions, exec/s,
# coverage at the end (libFuzzer's `cov:` edges and `ft:` features), corpus size and crashes.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]      (default 60; TARGETS="a b" picks targets)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). cargo-fuzz passes nightly-only flags
# to rustc (`-Zsanitizer=address`, sanitizer coverage); on a stable toolchain RUSTC_BOOTSTRAP=1
# makes rustc accept them, which is what this script does. The first build (every dependency
# with AddressSanitizer, optimized) takes several minutes; later ones are incremental.
#
# Inputs: the committed seeds (`seeds/<target>/`, real dumps, manifests, a tar, encrypted
# objects) and regression inputs (`crates/*/tests/fuzz-regressions/<target>/`) are copied into
# the working corpus (`corpus/<target>/`, not committed), which grows from run to run. A
# crash, a leak, a hang (over 10 s for one input) or an allocation over 512 MiB stops that
# target and leaves the input in `artifacts/<target>/`: minimize it
# (`cargo fuzz tmin <target> <file>`), fix the bug and add the input as a regression test in
# the crate whose code was wrong. Exits 1 if any target crashed.
set -euo pipefail

seconds=${1:-60}
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

targets=${TARGETS:-$(cargo fuzz list)}
# -O with debug assertions: fast enough to explore, and overflow checks still panic.
cargo fuzz build -O --debug-assertions >/dev/null 2>&1 || {
    # Show the build's errors only when it failed.
    cargo fuzz build -O --debug-assertions
    exit 2
}

mkdir -p logs
printf '%-22s %8s %12s %9s %7s %7s %7s %8s\n' \
    target seconds executions exec/s cov ft corpus crashes
failed=0
for target in $targets; do
    mkdir -p "corpus/$target" "artifacts/$target"
    # The seeds and every input a fuzzer found a bug with (`tests/fuzz-regressions/<target>/`
    # in the crate whose code was wrong), so a fixed bug is re-checked first.
    cp -n "seeds/$target"/* ../crates/*/tests/fuzz-regressions/"$target"/* "corpus/$target/" \
        2>/dev/null || true
    log="logs/$target.log"
    status=0
    cargo fuzz run -O --debug-assertions "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=512 -close_fd_mask=3 >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corpus=$(find "corpus/$target" -type f | wc -l)
    crashes=$(find "artifacts/$target" -type f | wc -l)
    printf '%-22s %8s %12s %9s %7s %7s %7s %8s\n' \
        "$target" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$crashes"
    if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        failed=1
        grep -E '^(==[0-9]+==ERROR|thread .* panicked|SUMMARY|artifact_prefix|Test unit written)' "$log" \
            | head -5 | sed 's/^/    /'
    fi
done
exit "$failed"
