//! Helpers for the postgres store's tests: a real server on 127.0.0.1:5432, one database per
//! test (`lifeboat_testing::postgres::TestDb`, dropped again), async clients, fingerprints
//! of a database's content, and the pipeline runs the tests repeat.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub use lifeboat_testing::postgres::{database_exists, drop_database, TestDb, SERVER};
use tokio_postgres::{Client, NoTls};

/// Connects to `database`, or `None` (skip) when the server is unreachable — a failure under
/// `LIFEBOAT_REQUIRE_SERVICES=1`.
pub async fn connect(database: &str) -> Option<Client> {
    match tokio_postgres::connect(&format!("{SERVER}/{database}"), NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            Some(client)
        }
        Err(e) => {
            lifeboat_testing::service_unavailable(format_args!(
                "PostgreSQL at {SERVER} unreachable ({e})"
            ));
            None
        }
    }
}

/// What the async tests do with a [`TestDb`]: a client of it, and SQL run through one.
#[allow(async_fn_in_trait)]
pub trait TestDbExt {
    /// A client connected to the database.
    async fn client(&self) -> Client;
    /// Runs `sql` (several statements in one string, like psql -c).
    async fn execute(&self, sql: &str);
}

impl TestDbExt for TestDb {
    async fn client(&self) -> Client {
        connect(&self.name).await.unwrap()
    }

    async fn execute(&self, sql: &str) {
        self.client().await.batch_execute(sql).await.unwrap();
    }
}

/// A schema with many object kinds and a 100k-row table.
pub const RICH_SCHEMA: &str = r#"
CREATE SCHEMA sales;
CREATE SCHEMA audit;
CREATE TYPE sales.status AS ENUM ('new', 'paid', 'shipped');
CREATE DOMAIN sales.positive_money AS numeric(12,2) CHECK (VALUE >= 0);
CREATE SEQUENCE sales.invoice_no START 1000 INCREMENT 7 MINVALUE 1000 MAXVALUE 99999999 CACHE 1 CYCLE;
SELECT setval('sales.invoice_no', 5000);
CREATE SEQUENCE public.descending INCREMENT -3 MINVALUE -1000000 MAXVALUE -1 START -1;
SELECT nextval('public.descending'), nextval('public.descending');
CREATE TABLE sales.customers (
    id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, tags text[], profile jsonb,
    avatar bytea, created timestamptz NOT NULL DEFAULT '2026-01-01 00:00:00+00');
CREATE TABLE sales.orders (
    id bigserial PRIMARY KEY, customer_id bigint REFERENCES sales.customers(id),
    status sales.status NOT NULL DEFAULT 'new', total sales.positive_money,
    invoice bigint DEFAULT nextval('sales.invoice_no'), lines int[][], note text);
COMMENT ON TABLE sales.orders IS 'customer orders';
COMMENT ON COLUMN sales.orders.total IS 'in EUR';
CREATE TABLE audit.log (id bigserial PRIMARY KEY, entry jsonb NOT NULL);
CREATE FUNCTION audit.log_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit.log(entry) VALUES (jsonb_build_object('order', NEW.id)); RETURN NEW; END $$;
CREATE TRIGGER orders_audit AFTER INSERT ON sales.orders FOR EACH ROW EXECUTE FUNCTION audit.log_order();
CREATE FUNCTION sales.order_total(bigint) RETURNS numeric LANGUAGE sql STABLE AS
  'SELECT total FROM sales.orders WHERE id = $1';
CREATE VIEW sales.paid_orders AS SELECT * FROM sales.orders WHERE status = 'paid';
CREATE TABLE public.measurements (id bigint, at date NOT NULL, value numeric) PARTITION BY RANGE (at);
CREATE TABLE public.measurements_2025 PARTITION OF public.measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE public.measurements_2026 PARTITION OF public.measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE public.big (id int PRIMARY KEY, payload text, n numeric(20,6));
CREATE TABLE public."Mixed Case" ("Weird ""col""" text);
INSERT INTO public."Mixed Case" VALUES ('a'), ('b'), (NULL);
INSERT INTO sales.customers(name, tags, profile, avatar)
  SELECT 'customer ' || g, ARRAY['t' || (g % 5), 'x'],
         jsonb_build_object('g', g, 'nested', jsonb_build_object('a', g * 2, 'arr', jsonb_build_array(1, 'two', null))),
         decode(md5(g::text), 'hex') || '\x00ff'::bytea
  FROM generate_series(1, 500) g;
INSERT INTO sales.orders(customer_id, status, total, lines, note)
  SELECT 1 + g % 500, (ARRAY['new','paid','shipped'])[1 + g % 3]::sales.status, (g * 1.25)::numeric(12,2),
         ARRAY[[g, g + 1], [g + 2, g + 3]], CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || g || E'\ttab\nline' END
  FROM generate_series(1, 2000) g;
CREATE MATERIALIZED VIEW sales.customer_totals AS
  SELECT customer_id, sum(total) AS total, count(*) AS orders FROM sales.orders GROUP BY customer_id;
CREATE INDEX orders_open_idx ON sales.orders(status) WHERE status <> 'shipped';
INSERT INTO public.measurements SELECT g, date '2025-01-01' + (g % 700), g / 3.0 FROM generate_series(1, 5000) g;
INSERT INTO public.big SELECT g, repeat(md5(g::text), 2), g * 3.14159 FROM generate_series(1, 100000) g;
SELECT lo_from_bytea(0, decode(repeat('ab', 5000), 'hex'));
SELECT lo_from_bytea(0, convert_to('hello large object', 'UTF8'));
"#;

/// Per table (and materialized view): row count and md5 of all rows; per sequence: its state;
/// the large objects' digests. Equal fingerprints = equal content.
pub async fn fingerprint(client: &Client) -> Vec<String> {
    let relations = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    for row in relations {
        let name: String = row.get(0);
        let kind: String = row.get(1);
        let sql = if kind == "S" {
            format!("SELECT last_value::text || ' ' || is_called::text FROM {name}")
        } else {
            format!(
                "SELECT count(*)::text || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') FROM {name} t"
            )
        };
        let value: String = client.query_one(&sql, &[]).await.unwrap().get(0);
        out.push(format!("{kind} {name} {value}"));
    }
    let lo: Option<String> = client
        .query_one(
            "SELECT string_agg(oid::text || ':' || md5(lo_get(oid)), ',' ORDER BY oid) FROM pg_largeobject_metadata",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    out.push(format!("large objects {}", lo.unwrap_or_default()));
    let comments: Option<String> = client
        .query_one(
            "SELECT string_agg(description, ',' ORDER BY description) FROM pg_description d \
             JOIN pg_class c ON c.oid = d.objoid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'sales'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    out.push(format!("comments {}", comments.unwrap_or_default()));
    // The schema beyond the rows: columns with types and defaults, constraints, indexes,
    // views, functions, triggers, enums, domains, partition bounds.
    let user =
        "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'";
    let schema_sql = format!(
        "SELECT 'col ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)            || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END            || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid            JOIN pg_namespace n ON n.oid = c.relnamespace            LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum            WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm') AND {user}          UNION ALL SELECT 'con ' || con.conname || ' ' || pg_get_constraintdef(con.oid)            FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace WHERE {user}          UNION ALL SELECT 'idx ' || pg_get_indexdef(i.indexrelid) FROM pg_index i            JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {user}          UNION ALL SELECT 'view ' || c.relname || ' ' || pg_get_viewdef(c.oid) FROM pg_class c            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm') AND {user}          UNION ALL SELECT 'fn ' || pg_get_functiondef(p.oid) FROM pg_proc p            JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.prokind = 'f' AND {user}          UNION ALL SELECT 'trg ' || pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE NOT t.tgisinternal          UNION ALL SELECT 'enum ' || t.typname || ' ' || string_agg(e.enumlabel::text, ',' ORDER BY e.enumsortorder)            FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid GROUP BY t.typname          UNION ALL SELECT 'domain ' || t.typname || ' ' || format_type(t.typbasetype, t.typtypmod) FROM pg_type t            JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype = 'd' AND {user}          UNION ALL SELECT 'part ' || c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid) FROM pg_class c            WHERE c.relispartition          ORDER BY 1"
    );
    for row in client.query(&schema_sql, &[]).await.unwrap() {
        out.push(row.get(0));
    }
    out
}

use std::sync::Arc;

use backup_core::pipeline::{self, BackupRequest, RestoreRequest};
use backup_core::transform::{Compression, Keyring, Transform};
use backup_core::{FormatCheck, Manifest, Report, RestoreOptions, Sink, Source, Target};
use lifeboat_testing::MemorySink;

/// Backs `source` up through zstd into a memory storage.
pub async fn backup(source: &dyn Source) -> Result<(MemorySink, Manifest), backup_core::Error> {
    let sink = MemorySink::new("memory");
    let transforms: Vec<Box<dyn Transform>> =
        vec![Compression::default().transform().unwrap().unwrap()];
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(sink.clone())];
    let outcome = pipeline::run_backup(BackupRequest {
        source_name: "pg",
        source,
        transforms: &transforms,
        sinks: &sinks,
        size_hint: None,
        progress: None,
    })
    .await?;
    Ok((sink, outcome.manifest))
}

/// Restores `manifest` from `sink` into `target`.
pub async fn restore(
    sink: &MemorySink,
    manifest: &Manifest,
    target: &dyn Target,
    options: RestoreOptions,
) -> Result<Report, backup_core::Error> {
    let keyring = Keyring::new();
    let request = RestoreRequest {
        sink,
        manifest,
        keyring: &keyring,
        progress: None,
    };
    pipeline::run_restore(&request, target, &options).await
}

/// Runs `check` over the stored backup.
pub async fn check(
    sink: &MemorySink,
    manifest: &Manifest,
    check: &dyn FormatCheck,
) -> Result<Report, backup_core::Error> {
    let keyring = Keyring::new();
    let request = RestoreRequest {
        sink,
        manifest,
        keyring: &keyring,
        progress: None,
    };
    pipeline::run_check(&request, check).await
}
