#!/usr/bin/env bash
# benches/postgres.sh: the postgres store's benchmark, as a report.
#
#   bash benches/postgres.sh [SIZE_MB]        # default 1024
#
# Generates a database of about SIZE_MB (pg_database_size) of realistic rows (text, jsonb,
# numeric, timestamps, some random bytea) server-side with generate_series, then in one run:
#
#   1. `pg_dump -Fc -Z0 > /dev/null`           the source's own speed (the limit)
#   2. `pg_dump -Fc > file`                    pg_dump's default (zlib) compression
#   3. `lifeboat backup` (custom format, zstd level 3, age, local fs storage)
#        targets: wall <= 1.25 x (1), wall <= 0.3 x (2), stored size <= (2)'s file
#   4. `CREATE DATABASE NEW` + `pg_restore -d NEW` of an uncompressed custom dump (-Fc -Z0 file)
#   5. `lifeboat restore --to postgres://.../NEW2`     target: wall <= 1.2 x (4)
#   peak RSS of every lifeboat command from /usr/bin/time: target <= 64 MiB.
#
# Environment: BENCH_RUNS (default 1: median of N alternating runs), PGHOST/PGPORT/PGUSER (default 127.0.0.1, 5432, root; trust or PGPASSWORD),
# BENCH_KEEP=1 keeps the temp folder, CARGO_TARGET_DIR. Drops its databases at the end.
set -euo pipefail

SIZE_MB=${1:-1024}
RUNS=${BENCH_RUNS:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-root}

for tool in psql pg_dump pg_restore /usr/bin/time awk; do
    command -v "$tool" >/dev/null || { echo "benches/postgres.sh needs $tool" >&2; exit 2; }
done
psql -X -q -d postgres -c 'select 1' >/dev/null || { echo "PostgreSQL at $PGHOST:$PGPORT unreachable" >&2; exit 2; }

echo "building lifeboat (release)..." >&2
(cd "$ROOT" && cargo build --release -q -p lifeboat-cli)
BIN=$TARGET/release/lifeboat

SUFFIX=$$
DB=lifeboat_bench_$SUFFIX
BASE_RESTORE=lifeboat_bench_pgrestore_$SUFFIX
LB_RESTORE=lifeboat_bench_restore_$SUFFIX
WORK=$(mktemp -d)
cleanup() {
    for d in "$DB" "$BASE_RESTORE" "$LB_RESTORE"; do
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
    done
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

echo "generating ~${SIZE_MB} MB in database $DB..." >&2
GEN_START=$(date +%s)
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
CREATE TABLE customers (
    id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL, country text,
    created timestamptz NOT NULL, profile jsonb);
CREATE TABLE orders (
    id bigint PRIMARY KEY, customer_id bigint NOT NULL, status text NOT NULL,
    amount numeric(12,2) NOT NULL, created timestamptz NOT NULL, items jsonb NOT NULL,
    note text, receipt bytea);
INSERT INTO customers
SELECT g, 'Customer ' || g, 'user' || g || '@example.com',
       (ARRAY['DE','FR','US','GB','JP','BR','IN'])[1 + g % 7],
       timestamptz '2020-01-01' + g * interval '37 seconds',
       jsonb_build_object('tier', (ARRAY['free','pro','enterprise'])[1 + g % 3],
                          'newsletter', g % 2 = 0, 'score', round((random() * 100)::numeric, 1))
FROM generate_series(1, 200000) g;
SQL
BATCH=250000
NEXT=1
while :; do
    SIZE=$(psql -X -tA -d "$DB" -c "SELECT pg_database_size(current_database()) / 1048576")
    (( SIZE >= SIZE_MB )) && break
    psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "
INSERT INTO orders
SELECT g, 1 + (g * 7919) % 200000, (ARRAY['new','paid','shipped','returned'])[1 + g % 4],
       round((random() * 2000)::numeric, 2), timestamptz '2024-01-01' + g * interval '11 seconds',
       jsonb_build_object('sku', 'SKU-' || (g % 5000), 'qty', 1 + g % 9,
                          'price', round((random() * 100)::numeric, 2),
                          'tags', jsonb_build_array('t' || (g % 13), 'gift', g % 3 = 0),
                          'ref', substr(md5(random()::text), 1, 12)),
       CASE WHEN g % 4 = 0 THEN NULL
            ELSE (ARRAY['leave at the back door', 'call before delivery', 'gift wrap please',
                        'fragile: handle with care', 'deliver after 5pm', 'no invoice in the box'])
                 [1 + (random() * 5)::int] || ', ticket ' || md5(random()::text)
                 || ' ' || (random() * 1e9)::bigint END,
       CASE WHEN g % 5 = 0 THEN decode(md5(random()::text) || md5(random()::text) || md5(g::text), 'hex') END
FROM generate_series($NEXT::bigint, $((NEXT + BATCH - 1))) g"
    NEXT=$((NEXT + BATCH))
done
psql -X -q -d "$DB" -c "CREATE INDEX ON orders(customer_id)" -c "VACUUM ANALYZE"
SIZE=$(psql -X -tA -d "$DB" -c "SELECT pg_database_size(current_database()) / 1048576")
ROWS=$(psql -X -tA -d "$DB" -c "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM customers)")
echo "generated $SIZE MB, $ROWS rows in $(( $(date +%s) - GEN_START )) s" >&2

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
name = "bench"
kind = "postgres"
url = "postgres://$PGUSER@$PGHOST:$PGPORT/$DB"
TOML

# timed LABEL CMD... (stdout to LABEL.out): appends "wall_s rss_kib user_s sys_s" to
# LABEL.times (CPU includes the children lifeboat waits for: pg_dump, pg_restore; not the
# server's backends)
timed() {
    local label=$1; shift
    sync
    /usr/bin/time -f "%e %M %U %S" -o "$WORK/t.out" "$@" >"$WORK/$label.out" 2>"$WORK/$label.err" || {
        echo "$label failed:" >&2; cat "$WORK/$label.err" >&2; exit 1; }
    tail -1 "$WORK/t.out" >> "$WORK/$label.times"
}
# the run with the median wall time: its wall, RSS and CPU
median_line() { sort -n "$WORK/$1.times" | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
wall() { median_line "$1" | awk '{print $1}'; }
cpu() { median_line "$1" | awk '{print $3 + $4}'; }
rss() { awk '{print $2}' "$WORK/$1.times" | sort -n | tail -1; }
drop_db() { psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" 2>/dev/null; }

LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
echo "measuring ($RUNS runs each, alternating)..." >&2
pg_dump -Fc -Z0 -d "$DB" > /dev/null      # warm-up: the table files in the page cache
pg_dump -Fc -Z0 -d "$DB" -f "$WORK/raw.dump"
for run in $(seq "$RUNS"); do
    timed dump_z0 pg_dump -Fc -Z0 -d "$DB"
    rm -f "$WORK/dump_z0.out"
    timed dump_fc pg_dump -Fc -d "$DB"
    FC_BYTES=$(stat -c %s "$WORK/dump_fc.out"); rm -f "$WORK/dump_fc.out"
    timed lb_backup "$BIN" backup bench
    # the same work as lifeboat's restore into a new database: create it, restore, count
    drop_db "$BASE_RESTORE"
    timed pg_restore sh -c "psql -X -q -d postgres -c 'CREATE DATABASE $BASE_RESTORE' && pg_restore -d $BASE_RESTORE '$WORK/raw.dump'"
    drop_db "$LB_RESTORE"
    timed lb_restore "$BIN" restore bench --to "postgres://$PGUSER@$PGHOST:$PGPORT/$LB_RESTORE"
done
rm -f "$WORK/raw.dump"
LB_BYTES=$(find "$WORK/backups/bench" -name 'data.*' -printf '%s\n' | head -1)
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
test "$(psql -X -tA -d "$LB_RESTORE" -c 'SELECT count(*) FROM orders')" = \
     "$(psql -X -tA -d "$DB" -c 'SELECT count(*) FROM orders')"

awk -v size="$SIZE" -v rows="$ROWS" -v z0="$(wall dump_z0)" -v fc="$(wall dump_fc)" \
    -v lb="$(wall lb_backup)" -v pr="$(wall pg_restore)" -v lr="$(wall lb_restore)" \
    -v c_z0="$(cpu dump_z0)" -v c_fc="$(cpu dump_fc)" -v c_lb="$(cpu lb_backup)" -v c_pr="$(cpu pg_restore)" -v c_lr="$(cpu lb_restore)" \
    -v rss_b="$(rss lb_backup)" -v rss_r="$(rss lb_restore)" -v fcb="$FC_BYTES" -v lbb="$LB_BYTES" \
    -v runs="$RUNS" -v l1="$LOAD_BEFORE" -v l2="$LOAD_AFTER" -v cores="$(nproc)" '
function verdict(ok) { return ok ? "PASS" : "FAIL" }
BEGIN {
    printf "postgres store benchmark: %d MB database, %d rows, %d cores, median of %d runs (load %s -> %s)\n\n", size, rows, cores, runs, l1, l2;
    printf "%-44s %9s %9s %10s\n", "command", "wall s", "CPU s", "peak RSS";
    printf "%-44s %9.2f %9.2f %10s\n", "pg_dump -Fc -Z0 > /dev/null", z0, c_z0, "-";
    printf "%-44s %9.2f %9.2f %10s\n", "pg_dump -Fc > file (zlib)", fc, c_fc, "-";
    printf "%-44s %9.2f %9.2f %6.1f MiB\n", "lifeboat backup (custom, zstd 3, age, fs)", lb, c_lb, rss_b / 1024;
    printf "%-44s %9.2f %9.2f %10s\n", "createdb + pg_restore (uncompressed custom)", pr, c_pr, "-";
    printf "%-44s %9.2f %9.2f %6.1f MiB\n\n", "lifeboat restore --to NEW2", lr, c_lr, rss_r / 1024;
    printf "%-52s %10s %8s %8s\n", "target", "measured", "limit", "verdict";
    printf "%-52s %10.2f %8s %8s\n", "backup wall / pg_dump -Z0 wall", lb / z0, "1.25", verdict(lb <= 1.25 * z0);
    printf "%-52s %10.2f %8s %8s\n", "backup wall / pg_dump -Fc wall", lb / fc, "0.30", verdict(lb <= 0.3 * fc);
    printf "%-52s %10.2f %8s %8s\n", "stored bytes / pg_dump -Fc bytes", lbb / fcb, "1.00", verdict(lbb <= fcb);
    printf "%-52s %10.1f %8s %8s\n", "backup peak RSS (MiB)", rss_b / 1024, "64", verdict(rss_b <= 65536);
    printf "%-52s %10.1f %8s %8s\n", "restore peak RSS (MiB)", rss_r / 1024, "64", verdict(rss_r <= 65536);
    printf "%-52s %10.2f %8s %8s\n", "restore wall / pg_restore wall", lr / pr, "1.20", verdict(lr <= 1.2 * pr);
    printf "\nsizes: pg_dump -Fc %.1f MiB, lifeboat (zstd 3 + age) %.1f MiB\n", fcb / 1048576, lbb / 1048576;
}'
