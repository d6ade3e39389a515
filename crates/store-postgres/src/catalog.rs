//! The SQL lifeboat runs against a database: server version, database facts, the tables a dump
//! holds and their exact row counts, a schema hash, and whether a database is empty.
//!
//! Run inside the backup's REPEATABLE READ transaction, every query here sees the exported
//! snapshot, the same one `pg_dump --snapshot` dumps.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use crate::conn::ConnInfo;
use crate::error::{PostgresError, Step};
use crate::sql::quote_ident;

/// Schemas that belong to the system (never dumped, never make a database "non-empty").
const USER_NAMESPACE: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// Objects that belong to an extension (dumped as `CREATE EXTENSION`).
fn not_extension_member(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = '{catalog}'::regclass \
         AND d.objid = {oid} AND d.deptype = 'e')"
    )
}

/// The TLS version of this connection (`pg_stat_ssl`, as the server sees it), `None` when it
/// is not encrypted.
pub(crate) async fn tls_version(
    client: &Client,
    conn: &ConnInfo,
    step: Step,
) -> Result<Option<String>, PostgresError> {
    let row = client
        .query_opt(
            "SELECT version FROM pg_catalog.pg_stat_ssl WHERE pid = pg_catalog.pg_backend_pid() AND ssl",
            &[],
        )
        .await
        .map_err(|e| PostgresError::query(step, conn, e))?;
    Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
}

/// The server's `server_version` and `server_version_num`.
pub(crate) async fn server_version(
    client: &Client,
    conn: &ConnInfo,
    step: Step,
) -> Result<(String, u32), PostgresError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int4",
            &[],
        )
        .await
        .map_err(|e| PostgresError::query(step, conn, e))?;
    let num: i32 = row.get(1);
    Ok((row.get(0), u32::try_from(num).unwrap_or_default()))
}

/// Facts about the connected database.
#[derive(Debug, Clone)]
pub(crate) struct DatabaseFacts {
    pub(crate) size_bytes: u64,
    pub(crate) encoding: String,
    pub(crate) lc_collate: String,
    pub(crate) lc_ctype: String,
}

/// Size, encoding and locale of the connected database.
pub(crate) async fn database_facts(
    client: &Client,
    conn: &ConnInfo,
    step: Step,
) -> Result<DatabaseFacts, PostgresError> {
    let row = client
        .query_one(
            "SELECT pg_database_size(d.oid), pg_encoding_to_char(d.encoding), d.datcollate::text, \
             d.datctype::text FROM pg_catalog.pg_database d WHERE d.datname = current_database()",
            &[],
        )
        .await
        .map_err(|e| PostgresError::query(step, conn, e))?;
    let size: i64 = row.get(0);
    Ok(DatabaseFacts {
        size_bytes: u64::try_from(size).unwrap_or_default(),
        encoding: row.get(1),
        lc_collate: row.get(2),
        lc_ctype: row.get(3),
    })
}

/// A relation: schema and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Relation {
    pub(crate) schema: String,
    pub(crate) name: String,
}

impl Relation {
    /// `schema.name` (the key of the manifest's row counts).
    pub(crate) fn key(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The pattern that makes `pg_dump -t` match exactly this relation.
    pub(crate) fn exact_pattern(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    fn quoted(&self) -> String {
        self.exact_pattern()
    }
}

/// The tables whose data a dump holds: ordinary tables (and partitions) in user schemas, not
/// temporary, not belonging to an extension.
pub(crate) async fn data_tables(
    client: &Client,
    conn: &ConnInfo,
) -> Result<Vec<Relation>, PostgresError> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND {USER_NAMESPACE} AND {} \
         ORDER BY 1, 2",
        not_extension_member("pg_class", "c.oid")
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| PostgresError::query(Step::RowCounts, conn, e))?;
    Ok(rows
        .iter()
        .map(|r| Relation {
            schema: r.get(0),
            name: r.get(1),
        })
        .collect())
}

/// A `pg_dump -t`-style pattern as two anchored regular expressions (schema, name), following
/// psql's rules: `*` and `?` are wildcards, `.` separates the schema, text is lower-cased
/// unless inside double quotes (where `""` is a quote).
pub(crate) fn pattern_regexes(pattern: &str) -> (Option<String>, String) {
    let mut parts: Vec<String> = vec![String::new()];
    let mut in_quotes = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    push_literal(parts.last_mut(), '"');
                } else {
                    in_quotes = false;
                }
            } else {
                push_literal(parts.last_mut(), c);
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '.' => parts.push(String::new()),
            '*' => parts.last_mut().into_iter().for_each(|p| p.push_str(".*")),
            '?' => parts.last_mut().into_iter().for_each(|p| p.push('.')),
            c => push_literal(parts.last_mut(), c.to_ascii_lowercase()),
        }
    }
    let anchor = |s: &str| format!("^({s})$");
    let name = parts.pop().unwrap_or_default();
    // `db.schema.table`: the database part is ignored (pg_dump checks it is the current one).
    let schema = parts.pop();
    (schema.as_deref().map(anchor), anchor(&name))
}

fn push_literal(part: Option<&mut String>, c: char) {
    if let Some(part) = part {
        if "\\.^$*+?()[]{}|".contains(c) {
            part.push('\\');
        }
        part.push(c);
    }
}

/// The relations (tables, views, sequences, ...) that `pg_dump -t pattern` would select, for
/// every pattern; patterns without a schema match relations visible on the search path.
pub(crate) async fn resolve_patterns(
    client: &Client,
    conn: &ConnInfo,
    patterns: &[String],
) -> Result<Vec<(Relation, char)>, PostgresError> {
    let mut found = BTreeMap::new();
    for pattern in patterns {
        let (schema, name) = pattern_regexes(pattern);
        let base = format!(
            "SELECT n.nspname::text, c.relname::text, c.relkind::text FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'S', 'v', 'm', 'f', 'p') AND {USER_NAMESPACE} \
             AND c.relname::text ~ $1"
        );
        let rows = match &schema {
            Some(schema) => {
                client
                    .query(
                        &format!("{base} AND n.nspname::text ~ $2"),
                        &[&name, schema],
                    )
                    .await
            }
            None => {
                client
                    .query(
                        &format!("{base} AND pg_catalog.pg_table_is_visible(c.oid)"),
                        &[&name],
                    )
                    .await
            }
        }
        .map_err(|e| PostgresError::query(Step::Tables, conn, e))?;
        for row in rows {
            let kind: String = row.get(2);
            let relation = Relation {
                schema: row.get(0),
                name: row.get(1),
            };
            found.insert(relation, kind.chars().next().unwrap_or('r'));
        }
    }
    Ok(found.into_iter().collect())
}

/// Exact row counts of `tables`, in the current transaction's snapshot.
pub(crate) async fn row_counts(
    client: &Client,
    conn: &ConnInfo,
    tables: &[Relation],
) -> Result<BTreeMap<String, u64>, PostgresError> {
    let mut counts = BTreeMap::new();
    // A few tables per round trip; each count(*) scans its table.
    for batch in tables.chunks(50) {
        let sql = batch
            .iter()
            .enumerate()
            .map(|(i, t)| format!("SELECT {i}::int4, count(*) FROM {}", t.quoted()))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let rows = client
            .query(&sql, &[])
            .await
            .map_err(|e| PostgresError::query(Step::RowCounts, conn, e))?;
        for row in rows {
            let index: i32 = row.get(0);
            let count: i64 = row.get(1);
            if let Some(table) = usize::try_from(index).ok().and_then(|i| batch.get(i)) {
                counts.insert(table.key(), u64::try_from(count).unwrap_or_default());
            }
        }
    }
    Ok(counts)
}

/// The number of large objects.
pub(crate) async fn large_objects(client: &Client, conn: &ConnInfo) -> Result<u64, PostgresError> {
    let count: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_largeobject_metadata",
            &[],
        )
        .await
        .map_err(|e| PostgresError::query(Step::RowCounts, conn, e))?
        .get(0);
    Ok(u64::try_from(count).unwrap_or_default())
}

/// sha256 (hex) over a sorted description of the schema: schemas, relations with their
/// columns, types and defaults, constraints, indexes, functions (with a digest of their body),
/// enums, domains, triggers, view definitions, sequence parameters, extensions. Owners,
/// privileges and OIDs are left out, so a restore as another user (`no_owner`) hashes the same.
/// Runs with `search_path = pg_catalog` so every name in a definition is schema-qualified.
pub(crate) async fn schema_hash(client: &Client, conn: &ConnInfo) -> Result<String, PostgresError> {
    let ext_rel = not_extension_member("pg_class", "c.oid");
    let ext_proc = not_extension_member("pg_proc", "p.oid");
    let ext_type = not_extension_member("pg_type", "t.oid");
    let sql = format!(
        "SELECT 'schema ' || n.nspname FROM pg_catalog.pg_namespace n WHERE {USER_NAMESPACE} \
         UNION ALL \
         SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text \
           || coalesce(' key ' || pg_catalog.pg_get_partkeydef(c.oid), '') \
           || coalesce(' bound ' || pg_catalog.pg_get_expr(c.relpartbound, c.oid), '') \
           || CASE WHEN c.relkind IN ('v', 'm') THEN ' ' || md5(pg_catalog.pg_get_viewdef(c.oid)) ELSE '' END \
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND c.relpersistence <> 't' \
           AND {USER_NAMESPACE} AND {ext_rel} \
         UNION ALL \
         SELECT 'col ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' \
           || pg_catalog.format_type(a.atttypid, a.atttypmod) \
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END \
           || coalesce(' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '') \
           FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
           WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') \
           AND c.relpersistence <> 't' AND {USER_NAMESPACE} AND {ext_rel} \
         UNION ALL \
         SELECT 'con ' || n.nspname || '.' || coalesce(c.relname, t.typname, '') || '.' || con.conname \
           || ' ' || pg_catalog.pg_get_constraintdef(con.oid) \
           FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_namespace n ON n.oid = con.connamespace \
           LEFT JOIN pg_catalog.pg_class c ON c.oid = con.conrelid \
           LEFT JOIN pg_catalog.pg_type t ON t.oid = con.contypid WHERE {USER_NAMESPACE} \
         UNION ALL \
         SELECT 'idx ' || pg_catalog.pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index i \
           JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {USER_NAMESPACE} AND {ext_rel} \
         UNION ALL \
         SELECT 'fn ' || n.nspname || '.' || p.proname || '(' \
           || pg_catalog.pg_get_function_identity_arguments(p.oid) || ') ' || p.prokind::text || ' ' \
           || md5(coalesce(p.prosrc, '')) FROM pg_catalog.pg_proc p \
           JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE {USER_NAMESPACE} AND {ext_proc} \
         UNION ALL \
         SELECT 'enum ' || n.nspname || '.' || t.typname || ' ' \
           || (SELECT string_agg(e.enumlabel::text, ',' ORDER BY e.enumsortorder) \
               FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) \
           FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
           WHERE t.typtype = 'e' AND {USER_NAMESPACE} AND {ext_type} \
         UNION ALL \
         SELECT 'domain ' || n.nspname || '.' || t.typname || ' ' \
           || pg_catalog.format_type(t.typbasetype, t.typtypmod) \
           || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END \
           FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
           WHERE t.typtype = 'd' AND {USER_NAMESPACE} AND {ext_type} \
         UNION ALL \
         SELECT 'trg ' || pg_catalog.pg_get_triggerdef(tg.oid) FROM pg_catalog.pg_trigger tg \
           WHERE NOT tg.tgisinternal \
         UNION ALL \
         SELECT 'seq ' || n.nspname || '.' || c.relname || ' ' || pg_catalog.format_type(s.seqtypid, NULL) \
           || ' ' || s.seqstart || ' ' || s.seqincrement || ' ' || s.seqmax || ' ' || s.seqmin \
           || ' ' || s.seqcache || ' ' || s.seqcycle FROM pg_catalog.pg_sequence s \
           JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {USER_NAMESPACE} AND {ext_rel} \
         UNION ALL \
         SELECT 'ext ' || e.extname FROM pg_catalog.pg_extension e"
    );
    client
        .batch_execute("SET search_path TO pg_catalog")
        .await
        .map_err(|e| PostgresError::query(Step::SchemaHash, conn, e))?;
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| PostgresError::query(Step::SchemaHash, conn, e))?;
    client
        .batch_execute("RESET search_path")
        .await
        .map_err(|e| PostgresError::query(Step::SchemaHash, conn, e))?;
    let mut lines: Vec<String> = rows
        .iter()
        .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
        .collect();
    lines.sort();
    let mut hasher = Sha256::new();
    for line in &lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    Ok(hex::encode(hasher.finalize()))
}

/// What a database holds outside the system schemas: how many objects, and a few of them by
/// name (`table public.orders`, `function public.f()`, `large objects: 3`).
pub(crate) async fn user_objects(
    client: &Client,
    conn: &ConnInfo,
) -> Result<(u64, Vec<String>), PostgresError> {
    // The total and the first few only: a database may hold millions of objects.
    let sql = format!(
        "SELECT d, count(*) OVER () FROM ( \
           SELECT 'schema ' || n.nspname AS d FROM pg_catalog.pg_namespace n \
             WHERE {USER_NAMESPACE} AND n.nspname <> 'public' \
           UNION ALL \
           SELECT CASE c.relkind WHEN 'S' THEN 'sequence ' WHEN 'v' THEN 'view ' \
             WHEN 'm' THEN 'materialized view ' WHEN 'c' THEN 'type ' ELSE 'table ' END \
             || n.nspname || '.' || c.relname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND c.relpersistence <> 't' \
             AND {USER_NAMESPACE} \
           UNION ALL \
           SELECT 'function ' || n.nspname || '.' || p.proname || '()' FROM pg_catalog.pg_proc p \
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE {USER_NAMESPACE} \
           UNION ALL \
           SELECT 'type ' || n.nspname || '.' || t.typname FROM pg_catalog.pg_type t \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             WHERE t.typtype IN ('e', 'd', 'r', 'm') AND {USER_NAMESPACE} \
           UNION ALL \
           SELECT 'extension ' || e.extname FROM pg_catalog.pg_extension e WHERE e.extname <> 'plpgsql' \
           UNION ALL \
           SELECT 'large objects: ' || count(*) FROM pg_catalog.pg_largeobject_metadata HAVING count(*) > 0 \
         ) objects ORDER BY d LIMIT 5"
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| PostgresError::query(Step::TargetState, conn, e))?;
    let total = rows
        .first()
        .map(|r| u64::try_from(r.get::<_, i64>(1)).unwrap_or_default())
        .unwrap_or_default();
    Ok((total, rows.iter().map(|r| r.get(0)).collect()))
}

/// Whether database `name` exists (asked on any database of the server).
pub(crate) async fn database_exists(
    client: &Client,
    conn: &ConnInfo,
    name: &str,
) -> Result<bool, PostgresError> {
    let row = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .map_err(|e| PostgresError::query(Step::TargetState, conn, e))?;
    Ok(row.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_psql_rules() {
        assert_eq!(pattern_regexes("orders"), (None, "^(orders)$".into()));
        assert_eq!(
            pattern_regexes("Public.Orders*"),
            (Some("^(public)$".into()), "^(orders.*)$".into())
        );
        assert_eq!(
            pattern_regexes("\"My.Schema\".\"T\"\"x\""),
            (Some("^(My\\.Schema)$".into()), "^(T\"x)$".into())
        );
        assert_eq!(pattern_regexes("a?c"), (None, "^(a.c)$".into()));
        assert_eq!(pattern_regexes("a$b"), (None, "^(a\\$b)$".into()));
    }
}
