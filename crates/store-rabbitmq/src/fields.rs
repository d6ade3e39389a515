//! AMQP field tables (message headers) and message properties as JSON, without losing a type.
//!
//! Each header value is written as a one-key object naming its AMQP type, so a restore
//! republishes exactly what was read (`{"i32": 5}` stays a 32-bit integer, a byte string stays
//! bytes):
//!
//! | AMQP type | JSON |
//! |---|---|
//! | boolean | `{"bool": true}` |
//! | short-short-int … long-long-int | `{"i8": -1}`, `{"u8": 1}`, `{"i16": ..}`, `{"u16": ..}`, `{"i32": ..}`, `{"u32": ..}`, `{"i64": ..}` |
//! | float, double | `{"f32": "1.5"}`, `{"f64": "1.5"}` (exact decimal text; `NaN`, `inf`, `-inf`) |
//! | decimal | `{"decimal": [scale, value]}` |
//! | short string | `{"short_string": "text"}` |
//! | long string | `{"string": "text"}` when UTF-8, else `{"bytes": "<base64>"}` |
//! | field array | `{"array": [ ... ]}` |
//! | timestamp | `{"timestamp": 1700000000}` |
//! | field table | `{"table": { ... }}` |
//! | byte array | `{"byte_array": "<base64>"}` |
//! | void | `{"void": null}` |

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use lapin::types::{AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable, LongString};
use lapin::BasicProperties;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Why a message's headers cannot be turned back into an AMQP field table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The value of header `key` (or of a header inside it).
    #[error("header `{key}`: {source}")]
    In {
        /// The header.
        key: String,
        /// What is wrong with its value.
        #[source]
        source: Box<HeaderError>,
    },
    /// A value that is not a typed value of the format (see the module documentation).
    #[error("{0}")]
    Invalid(String),
    /// A `bytes` or `byte_array` value that is not base64.
    #[error("bad base64: {0}")]
    Base64(#[source] base64::DecodeError),
}

/// The reasons quote values from the dump: escaped and capped.
fn invalid(reason: impl Into<String>) -> HeaderError {
    HeaderError::Invalid(lifeboat_edge::shown::message(&reason.into()))
}

/// A field table as a JSON object of typed values.
pub(crate) fn table_to_json(table: &FieldTable) -> Value {
    Value::Object(
        table
            .inner()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), value_to_json(v)))
            .collect(),
    )
}

/// Floats as strings (Rust's shortest exact form, `NaN`, `inf`, `-inf`): JSON numbers do not
/// round-trip every double through every parser.
fn float_json(f: impl ToString) -> Value {
    Value::String(f.to_string())
}

fn value_to_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => json!({ "bool": b }),
        AMQPValue::ShortShortInt(n) => json!({ "i8": n }),
        AMQPValue::ShortShortUInt(n) => json!({ "u8": n }),
        AMQPValue::ShortInt(n) => json!({ "i16": n }),
        AMQPValue::ShortUInt(n) => json!({ "u16": n }),
        AMQPValue::LongInt(n) => json!({ "i32": n }),
        AMQPValue::LongUInt(n) => json!({ "u32": n }),
        AMQPValue::LongLongInt(n) => json!({ "i64": n }),
        AMQPValue::Float(f) => json!({ "f32": float_json(f) }),
        AMQPValue::Double(f) => json!({ "f64": float_json(f) }),
        AMQPValue::DecimalValue(d) => json!({ "decimal": [d.scale, d.value] }),
        AMQPValue::ShortString(s) => json!({ "short_string": s.as_str() }),
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(text) => json!({ "string": text }),
            Err(_) => json!({ "bytes": BASE64.encode(s.as_bytes()) }),
        },
        AMQPValue::FieldArray(a) => {
            json!({ "array": a.as_slice().iter().map(value_to_json).collect::<Vec<_>>() })
        }
        AMQPValue::Timestamp(t) => json!({ "timestamp": t }),
        AMQPValue::FieldTable(t) => json!({ "table": table_to_json(t) }),
        AMQPValue::ByteArray(b) => json!({ "byte_array": BASE64.encode(b.as_slice()) }),
        AMQPValue::Void => json!({ "void": null }),
    }
}

/// The JSON object written by [`table_to_json`] back as a field table.
pub(crate) fn json_to_table(value: &Value) -> Result<FieldTable, HeaderError> {
    let Value::Object(map) = value else {
        return Err(invalid("a header table must be a JSON object"));
    };
    let mut table = FieldTable::default();
    for (k, v) in map {
        table.insert(
            k.as_str().into(),
            json_to_value(v).map_err(|e| HeaderError::In {
                key: k.clone(),
                source: Box::new(e),
            })?,
        );
    }
    Ok(table)
}

fn int<T: TryFrom<i64> + TryFrom<u64>>(v: &Value) -> Result<T, HeaderError> {
    if let Some(n) = v.as_i64() {
        return T::try_from(n).map_err(|_| invalid(format!("{n} is out of range")));
    }
    if let Some(n) = v.as_u64() {
        return T::try_from(n).map_err(|_| invalid(format!("{n} is out of range")));
    }
    Err(invalid(format!("{v} is not an integer")))
}

fn float<T: std::str::FromStr>(v: &Value) -> Result<T, HeaderError> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => return Err(invalid(format!("{other} is not a number"))),
    };
    text.parse()
        .map_err(|_| invalid(format!("`{text}` is not a number")))
}

fn text(v: &Value) -> Result<&str, HeaderError> {
    v.as_str()
        .ok_or_else(|| invalid(format!("{v} is not a string")))
}

fn base64(v: &Value) -> Result<Vec<u8>, HeaderError> {
    BASE64.decode(text(v)?).map_err(HeaderError::Base64)
}

fn json_to_value(value: &Value) -> Result<AMQPValue, HeaderError> {
    let Value::Object(map) = value else {
        return Err(invalid(format!(
            "{value} is not a typed value like {{\"i32\": 1}}"
        )));
    };
    let mut entries = map.iter();
    let (Some((tag, v)), None) = (entries.next(), entries.next()) else {
        return Err(invalid("a typed value must have exactly one key"));
    };
    Ok(match tag.as_str() {
        "bool" => AMQPValue::Boolean(
            v.as_bool()
                .ok_or_else(|| invalid(format!("{v} is not a boolean")))?,
        ),
        "i8" => AMQPValue::ShortShortInt(int(v)?),
        "u8" => AMQPValue::ShortShortUInt(int(v)?),
        "i16" => AMQPValue::ShortInt(int(v)?),
        "u16" => AMQPValue::ShortUInt(int(v)?),
        "i32" => AMQPValue::LongInt(int(v)?),
        "u32" => AMQPValue::LongUInt(int(v)?),
        "i64" => AMQPValue::LongLongInt(int(v)?),
        "f32" => AMQPValue::Float(float(v)?),
        "f64" => AMQPValue::Double(float(v)?),
        "decimal" => match v.as_array().map(Vec::as_slice) {
            Some([scale, value]) => AMQPValue::DecimalValue(DecimalValue {
                scale: int(scale)?,
                value: int(value)?,
            }),
            _ => return Err(invalid("a decimal is [scale, value]")),
        },
        "short_string" => AMQPValue::ShortString(text(v)?.into()),
        "string" => AMQPValue::LongString(LongString::from(text(v)?.as_bytes().to_vec())),
        "bytes" => AMQPValue::LongString(LongString::from(base64(v)?)),
        "array" => {
            let items = v
                .as_array()
                .ok_or_else(|| invalid(format!("{v} is not an array")))?;
            AMQPValue::FieldArray(FieldArray::from(
                items
                    .iter()
                    .map(json_to_value)
                    .collect::<Result<Vec<_>, _>>()?,
            ))
        }
        "timestamp" => AMQPValue::Timestamp(
            v.as_u64()
                .ok_or_else(|| invalid(format!("{v} is not a timestamp")))?,
        ),
        "table" => AMQPValue::FieldTable(json_to_table(v)?),
        "byte_array" => AMQPValue::ByteArray(ByteArray::from(base64(v)?)),
        "void" => AMQPValue::Void,
        other => return Err(invalid(format!("unknown AMQP type `{other}`"))),
    })
}

/// A message's properties (headers included) as written in a message line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Properties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// Typed headers (see the module documentation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Value>,
    /// 2 = persistent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_mode: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
}

fn s(v: &Option<lapin::types::ShortString>) -> Option<String> {
    v.as_ref().map(|s| s.as_str().to_string())
}

impl Properties {
    /// The properties of a message read from a queue.
    pub fn from_amqp(p: &BasicProperties) -> Self {
        Self {
            content_type: s(p.content_type()),
            content_encoding: s(p.content_encoding()),
            headers: p.headers().as_ref().map(table_to_json),
            delivery_mode: *p.delivery_mode(),
            priority: *p.priority(),
            correlation_id: s(p.correlation_id()),
            reply_to: s(p.reply_to()),
            expiration: s(p.expiration()),
            message_id: s(p.message_id()),
            timestamp: *p.timestamp(),
            kind: s(p.kind()),
            user_id: s(p.user_id()),
            app_id: s(p.app_id()),
            cluster_id: s(p.cluster_id()),
        }
    }

    /// The properties to republish with.
    pub fn to_amqp(&self) -> Result<BasicProperties, HeaderError> {
        let mut p = BasicProperties::default();
        macro_rules! set {
            ($field:ident, $with:ident) => {
                if let Some(v) = &self.$field {
                    p = p.$with(v.as_str().into());
                }
            };
        }
        set!(content_type, with_content_type);
        set!(content_encoding, with_content_encoding);
        set!(correlation_id, with_correlation_id);
        set!(reply_to, with_reply_to);
        set!(expiration, with_expiration);
        set!(message_id, with_message_id);
        set!(kind, with_type);
        set!(user_id, with_user_id);
        set!(app_id, with_app_id);
        set!(cluster_id, with_cluster_id);
        if let Some(h) = &self.headers {
            p = p.with_headers(json_to_table(h)?);
        }
        if let Some(v) = self.delivery_mode {
            p = p.with_delivery_mode(v);
        }
        if let Some(v) = self.priority {
            p = p.with_priority(v);
        }
        if let Some(v) = self.timestamp {
            p = p.with_timestamp(v);
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn amqp_value() -> impl Strategy<Value = AMQPValue> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(AMQPValue::Boolean),
            any::<i8>().prop_map(AMQPValue::ShortShortInt),
            any::<u8>().prop_map(AMQPValue::ShortShortUInt),
            any::<i16>().prop_map(AMQPValue::ShortInt),
            any::<u16>().prop_map(AMQPValue::ShortUInt),
            any::<i32>().prop_map(AMQPValue::LongInt),
            any::<u32>().prop_map(AMQPValue::LongUInt),
            any::<i64>().prop_map(AMQPValue::LongLongInt),
            prop::num::f32::NORMAL.prop_map(AMQPValue::Float),
            prop::num::f64::NORMAL.prop_map(AMQPValue::Double),
            Just(AMQPValue::Double(f64::INFINITY)),
            (any::<u8>(), any::<u32>())
                .prop_map(|(scale, value)| AMQPValue::DecimalValue(DecimalValue { scale, value })),
            "\\PC{0,10}".prop_map(|s| AMQPValue::ShortString(s.as_str().into())),
            prop::collection::vec(any::<u8>(), 0..16)
                .prop_map(|b| AMQPValue::LongString(LongString::from(b))),
            any::<u64>().prop_map(AMQPValue::Timestamp),
            prop::collection::vec(any::<u8>(), 0..16)
                .prop_map(|b| AMQPValue::ByteArray(ByteArray::from(b))),
            Just(AMQPValue::Void),
        ];
        leaf.prop_recursive(3, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| AMQPValue::FieldArray(FieldArray::from(v))),
                prop::collection::btree_map("[a-z-]{1,8}", inner, 0..4).prop_map(|m| {
                    let mut t = FieldTable::default();
                    for (k, v) in m {
                        t.insert(k.as_str().into(), v);
                    }
                    AMQPValue::FieldTable(t)
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn headers_round_trip_through_json_text(
            entries in prop::collection::btree_map("[a-zA-Z0-9_-]{1,12}", amqp_value(), 0..6)
        ) {
            let mut table = FieldTable::default();
            for (k, v) in entries { table.insert(k.as_str().into(), v); }
            let text = serde_json::to_string(&table_to_json(&table)).unwrap();
            let back = json_to_table(&serde_json::from_str(&text).unwrap()).unwrap();
            prop_assert_eq!(back, table);
        }

        #[test]
        fn properties_round_trip(
            content_type in proptest::option::of("[a-z/+]{1,20}"),
            delivery_mode in proptest::option::of(1u8..=2),
            priority in proptest::option::of(any::<u8>()),
            timestamp in proptest::option::of(any::<u64>()),
            kind in proptest::option::of("\\PC{0,8}"),
        ) {
            let mut p = BasicProperties::default();
            if let Some(v) = &content_type { p = p.with_content_type(v.as_str().into()); }
            if let Some(v) = delivery_mode { p = p.with_delivery_mode(v); }
            if let Some(v) = priority { p = p.with_priority(v); }
            if let Some(v) = timestamp { p = p.with_timestamp(v); }
            if let Some(v) = &kind { p = p.with_type(v.as_str().into()); }
            let json = serde_json::to_string(&Properties::from_amqp(&p)).unwrap();
            let back: Properties = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.to_amqp().unwrap(), p);
        }
    }

    #[test]
    fn nan_and_bad_values() {
        let mut t = FieldTable::default();
        t.insert("x".into(), AMQPValue::Double(f64::NAN));
        let back = json_to_table(&table_to_json(&t)).unwrap();
        assert!(matches!(back.inner().get("x"), Some(AMQPValue::Double(f)) if f.is_nan()));
        assert!(json_to_table(&json!({"a": {"i8": 300}})).is_err());
        assert!(json_to_table(&json!({"a": {"nope": 1}})).is_err());
        assert!(json_to_table(&json!({"a": 5})).is_err());
        assert!(json_to_table(&json!({"a": {"bytes": "!!"}})).is_err());
    }
}
