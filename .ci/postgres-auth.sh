#!/usr/bin/env bash
# Makes the local PostgreSQL server ask one role for a password, so the postgres store's
# wrong-password test can run (everything else on 127.0.0.1 keeps trust auth).
#
# Idempotent: adds, if absent, a scram-sha-256 rule for the role `lifeboat_pw_test` at the TOP
# of pg_hba.conf (rules are matched first to last), creates or updates that role with a
# password and CREATEDB (restores and drills create databases), and reloads the configuration.
#
# Env: PGHOST (default 127.0.0.1), PGPORT (5432), PGUSER (root), LIFEBOAT_PW_TEST_PASSWORD
# (default `lifeboat-pw-test-secret`; the tests use the default).
set -euo pipefail

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-root}"
role=lifeboat_pw_test
password="${LIFEBOAT_PW_TEST_PASSWORD:-lifeboat-pw-test-secret}"
rule="host all ${role} 127.0.0.1/32 scram-sha-256"

hba="$(psql -d postgres -tAc 'show hba_file')"
if [ -z "$hba" ] || [ ! -f "$hba" ]; then
    echo "postgres-auth: cannot find pg_hba.conf (show hba_file said '${hba}')" >&2
    exit 1
fi

if grep -Eq "^[[:space:]]*host[[:space:]]+all[[:space:]]+${role}[[:space:]]" "$hba"; then
    echo "postgres-auth: rule for ${role} already in ${hba}"
else
    tmp="$(mktemp "${hba}.XXXXXX")"
    { echo "# added by lifeboat .ci/postgres-auth.sh: the wrong-password test"; echo "$rule"; cat "$hba"; } >"$tmp"
    chown --reference="$hba" "$tmp" 2>/dev/null || true
    chmod --reference="$hba" "$tmp"
    mv "$tmp" "$hba"
    echo "postgres-auth: added '${rule}' at the top of ${hba}"
fi

# The password goes through the environment (\getenv), never through argv (`-v pw=...` would
# show it in the process list).
LIFEBOAT_PW_TEST_PASSWORD="$password" psql -d postgres -v ON_ERROR_STOP=1 -q -v role="$role" <<'SQL'
\getenv pw LIFEBOAT_PW_TEST_PASSWORD
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'pw') \gexec
SELECT pg_reload_conf() \gset
SQL
echo "postgres-auth: role ${role} ready, configuration reloaded"
