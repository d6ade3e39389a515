//! Shared helpers for the redis store tests: test data of every type and a semantic
//! fingerprint of a server's keyspace. The servers come from `lifeboat_testing::redis`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use backup_core::Manifest;
use fred::prelude::*;
use fred::types::CustomCommand;
pub use lifeboat_testing::redis::TestRedis;

/// A connected client.
pub async fn client(url: &str) -> Client {
    let c = Builder::from_config(Config::from_url(url).unwrap())
        .build()
        .unwrap();
    c.init().await.unwrap();
    c
}

/// Runs a command.
pub async fn cmd(c: &Client, name: &str, args: Vec<Value>) -> Value {
    c.custom::<Value, Value>(CustomCommand::new(name.to_string(), None, false), args)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn b(s: &[u8]) -> Value {
    Value::Bytes(bytes::Bytes::copy_from_slice(s))
}

pub fn s(s: &str) -> Value {
    Value::from(s)
}

/// Fills db 0 and db 3 with every type in small and large encodings, binary keys, TTLs,
/// a 10 MB string and a stream with consumer groups. Returns the number of keys.
pub async fn populate(c: &Client) -> u64 {
    let mut n = 0;
    cmd(c, "SELECT", vec![0.into()]).await;
    cmd(c, "SET", vec![s("s:plain"), s("hello")]).await;
    cmd(
        c,
        "SET",
        vec![b(b"bin\x00\xff\r\nkey"), b(b"\x00\x01\x02\xff value")],
    )
    .await;
    cmd(c, "SET", vec![s("s:int"), s("12345")]).await;
    cmd(c, "SET", vec![s("s:big"), b(&vec![b'x'; 10 << 20])]).await;
    // A long compressible key and value (LZF in the RDB).
    let long_key = format!("s:{}", "k".repeat(200));
    cmd(c, "SET", vec![s(&long_key), s(&"abc".repeat(1000))]).await;
    cmd(c, "SET", vec![s("s:ttl"), s("expiring")]).await;
    cmd(c, "PEXPIRE", vec![s("s:ttl"), 500_000.into()]).await;
    n += 6;
    cmd(
        c,
        "HSET",
        vec![s("h:small"), s("a"), s("1"), s("b"), s("2")],
    )
    .await;
    let mut args = vec![s("h:large")];
    for i in 0..2000 {
        args.push(s(&format!("field{i}")));
        args.push(s(&format!("value{i}")));
    }
    cmd(c, "HSET", args).await;
    cmd(c, "RPUSH", vec![s("l:small"), s("a"), s("b"), s("c")]).await;
    let mut args = vec![s("l:large")];
    for i in 0..20000 {
        args.push(s(&format!("item-{i}-{}", "y".repeat(i % 50))));
    }
    cmd(c, "RPUSH", args).await;
    cmd(
        c,
        "SADD",
        vec![s("set:int"), 1.into(), 2.into(), 300.into()],
    )
    .await;
    cmd(c, "SADD", vec![s("set:small"), s("x"), s("y")]).await;
    let mut args = vec![s("set:large")];
    for i in 0..1000 {
        args.push(s(&format!("m{i}")));
    }
    cmd(c, "SADD", args).await;
    cmd(
        c,
        "ZADD",
        vec![s("z:small"), 1.into(), s("a"), s("2.5").clone(), s("b")],
    )
    .await;
    let mut args = vec![s("z:large")];
    for i in 0..500 {
        args.push(s(&format!("{}.25", i)));
        args.push(s(&format!("member{i}")));
    }
    cmd(c, "ZADD", args).await;
    n += 9;
    for i in 0..50 {
        cmd(
            c,
            "XADD",
            vec![s("stream"), s("*"), s("n"), i.into(), s("v"), s("data")],
        )
        .await;
    }
    cmd(c, "XGROUP", vec![s("CREATE"), s("stream"), s("g1"), s("0")]).await;
    cmd(c, "XGROUP", vec![s("CREATE"), s("stream"), s("g2"), s("$")]).await;
    cmd(
        c,
        "XREADGROUP",
        vec![
            s("GROUP"),
            s("g1"),
            s("alice"),
            s("COUNT"),
            10.into(),
            s("STREAMS"),
            s("stream"),
            s(">"),
        ],
    )
    .await;
    // A deleted entry (max-deleted-entry-id) and a consumer without pending entries.
    let ids = cmd(
        c,
        "XRANGE",
        vec![s("stream"), s("-"), s("+"), s("COUNT"), 3.into()],
    )
    .await;
    let third = ids.into_array()[2].clone().into_array()[0].clone();
    cmd(c, "XDEL", vec![s("stream"), third]).await;
    cmd(
        c,
        "XGROUP",
        vec![s("CREATECONSUMER"), s("stream"), s("g2"), s("bob")],
    )
    .await;
    n += 1;
    cmd(c, "SELECT", vec![3.into()]).await;
    for i in 0..100 {
        cmd(c, "SET", vec![s(&format!("db3:{i}")), i.into()]).await;
    }
    cmd(c, "HSET", vec![s("db3:h"), s("f"), s("v")]).await;
    cmd(c, "EXPIRE", vec![s("db3:h"), 100_000.into()]).await;
    n += 101;
    cmd(c, "SELECT", vec![0.into()]).await;
    n
}

/// Everything about every key of every db: type, a canonical rendering of the value, TTL in
/// seconds (-1 none).
pub type Fingerprint = BTreeMap<(u32, Vec<u8>), (String, String, i64)>;

fn render(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(render).collect::<Vec<_>>().join(",")
            )
        }
        Value::Map(m) => {
            let mut parts: Vec<String> = m
                .clone()
                .inner()
                .iter()
                .map(|(k, v)| format!("{}={}", String::from_utf8_lossy(k.as_bytes()), render(v)))
                .collect();
            parts.sort();
            parts.join(",")
        }
        other => other
            .as_bytes()
            .map(|b| format!("{:?}", String::from_utf8_lossy(b)))
            .or_else(|| other.as_i64().map(|i| i.to_string()))
            .unwrap_or_else(|| format!("{other:?}")),
    }
}

/// The value of `name` in a RESP2 field/value array (or a map), rendered; panics if absent.
fn field(v: &Value, name: &str) -> String {
    let items = v.clone().into_array();
    let mut it = items.iter();
    while let (Some(k), Some(val)) = (it.next(), it.next()) {
        if k.as_bytes() == Some(name.as_bytes()) {
            return render(val);
        }
    }
    panic!("no field {name} in {v:?}")
}

fn sorted(v: &Value) -> String {
    let mut items: Vec<String> = v.clone().into_array().iter().map(render).collect();
    items.sort();
    items.join(",")
}

fn pairs_sorted(v: &Value) -> String {
    let items: Vec<String> = v.clone().into_array().iter().map(render).collect();
    let mut pairs: Vec<String> = items.chunks(2).map(|p| p.join("=")).collect();
    pairs.sort();
    pairs.join(",")
}

pub async fn fingerprint(url: &str) -> Fingerprint {
    let c = client(url).await;
    let mut out = Fingerprint::new();
    for db in 0..16u32 {
        cmd(&c, "SELECT", vec![db.into()]).await;
        let keys = cmd(&c, "KEYS", vec![s("*")]).await.into_array();
        for k in keys {
            let key = k.as_bytes().unwrap().to_vec();
            let t = cmd(&c, "TYPE", vec![k.clone()])
                .await
                .as_str()
                .unwrap()
                .into_owned();
            let ttl = cmd(&c, "PTTL", vec![k.clone()]).await.as_i64().unwrap();
            let value = match t.as_str() {
                "string" => render(&cmd(&c, "GET", vec![k.clone()]).await),
                "hash" => pairs_sorted(&cmd(&c, "HGETALL", vec![k.clone()]).await),
                "list" => render(&cmd(&c, "LRANGE", vec![k.clone(), 0.into(), (-1).into()]).await),
                "set" => sorted(&cmd(&c, "SMEMBERS", vec![k.clone()]).await),
                "zset" => render(
                    &cmd(
                        &c,
                        "ZRANGE",
                        vec![k.clone(), 0.into(), (-1).into(), s("WITHSCORES")],
                    )
                    .await,
                ),
                "stream" => {
                    let info = cmd(&c, "XINFO", vec![s("STREAM"), k.clone()]).await;
                    let mut text = format!(
                        "{} groups {}",
                        render(&cmd(&c, "XRANGE", vec![k.clone(), s("-"), s("+")]).await),
                        render(&cmd(&c, "XINFO", vec![s("GROUPS"), k.clone()]).await),
                    );
                    // The stream's own ids and counters (not its memory layout).
                    for f in [
                        "length",
                        "last-generated-id",
                        "max-deleted-entry-id",
                        "entries-added",
                        "recorded-first-entry-id",
                    ] {
                        text.push_str(&format!(" {f}={}", field(&info, f)));
                    }
                    // Per group: the pending summary (count, id range, consumers with
                    // their counts) and the consumers' names.
                    for g in cmd(&c, "XINFO", vec![s("GROUPS"), k.clone()])
                        .await
                        .into_array()
                    {
                        let name = field(&g, "name");
                        let name = name.trim_matches('"');
                        text.push_str(&format!(
                            " {name}: pending {} consumers {}",
                            render(&cmd(&c, "XPENDING", vec![k.clone(), s(name)]).await),
                            sorted(&Value::Array(
                                cmd(&c, "XINFO", vec![s("CONSUMERS"), k.clone(), s(name)])
                                    .await
                                    .into_array()
                                    .iter()
                                    .map(|c| Value::from(field(c, "name")))
                                    .collect()
                            )),
                        ));
                    }
                    text
                }
                other => panic!("unexpected type {other}"),
            };
            let ttl_s = if ttl < 0 { ttl } else { (ttl + 500) / 1000 };
            out.insert((db, key), (t, value, ttl_s));
        }
    }
    let _ = c.quit().await;
    out
}

/// Asserts two fingerprints are equal, TTLs within 2 s.
pub fn assert_same(a: &Fingerprint, b: &Fingerprint) {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "different keys"
    );
    for (k, (ta, va, la)) in a {
        let (tb, vb, lb) = &b[k];
        assert_eq!(ta, tb, "type of {k:?}");
        assert!(va == vb, "value of {k:?} differs");
        assert!(
            (la - lb).abs() <= 2 && (*la < 0) == (*lb < 0),
            "ttl of {k:?}: {la} vs {lb}"
        );
    }
}

/// A manifest around `metadata` for `dump_format`, as the pipeline writes it.
pub fn manifest(dump_format: &str, metadata: serde_json::Value) -> Manifest {
    lifeboat_testing::manifest("redis", dump_format, metadata)
}
