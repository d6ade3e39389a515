#!/usr/bin/env bash
# benches/faults.sh: the fault suite (crates/cli/tests/faults) in its long mode.
#
#   FAULT_RUNS=200 bash benches/faults.sh [TEST FILTER]
#
# The same tests CI runs through `cargo test --workspace` (FAULT_RUNS unset: 3 kill points per
# group, about a minute and a half on two cores), with FAULT_RUNS kill points per group of
# `kill -9` tests (backup, prune, restore; fs and S3). Every test prints one `faults:` line:
# kill points survived, faults injected, bytes of leftovers after the prune; this script
# gathers them at the end.
#
# Environment:
#   FAULT_RUNS=N                kill points per group (default here: 50)
#   LIFEBOAT_FAULT_SEED=N       replay a run (each test prints its seed, again when it fails)
#   LIFEBOAT_FAULT_BIN=PATH     run another lifeboat binary (e.g. target/release/lifeboat)
#   LIFEBOAT_TEST_S3_ENDPOINT   the S3 server (default http://127.0.0.1:9000, moto in CI)
#   LIFEBOAT_REQUIRE_SERVICES=1 unreachable S3 or no tmpfs (not root) fails instead of skipping
#
# The tmpfs tests (full disk, read-only disk) mount small tmpfs filesystems: run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

export FAULT_RUNS="${FAULT_RUNS:-50}"
log="$(mktemp -t lifeboat-faults.XXXXXX)"
trap 'rm -f "$log"' EXIT

echo "== fault suite, FAULT_RUNS=$FAULT_RUNS"
status=0
cargo test -p lifeboat-cli --test faults -- --test-threads 2 "$@" 2>&1 | tee "$log" || status=$?

echo
echo "== figures"
grep -E '^faults: ' "$log" || echo "(no figures: did the tests run?)"
echo
grep -E '^test result:' "$log" || true
exit "$status"
