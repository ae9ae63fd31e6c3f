//! The fields of an export's entities, as v2 REST (OData) and `az ams` JSON write
//! them: text, whole numbers (also as text), times (ISO 8601, OData's `/Date(ms)/`),
//! lists of names; each read or refused with a reason that names the field.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// The value of `key`, taken out of an object.
pub(super) fn take_key(e: &mut Value, key: &str) -> Option<Value> {
    e.as_object_mut().and_then(|o| o.remove(key))
}

/// A field of an entity, or of its ARM `properties`.
pub(super) fn field<'v>(e: &'v Value, key: &str) -> Option<&'v Value> {
    e.get(key).or_else(|| e.get("properties").and_then(|p| p.get(key))).filter(|v| !v.is_null())
}

pub(super) fn text_id(e: &Value, key: &str) -> Option<String> {
    field(e, key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
}

/// A list of names (`filters`): absent or null is empty.
pub(super) fn strings(e: &Value, key: &str) -> Result<Vec<String>, String> {
    match field(e, key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("{key} must hold names, not {v}")))
            .collect(),
        Some(other) => Err(format!("{key} must be a list, not {other}")),
    }
}

/// The ids of a v3 locator's `contentKeys` (`[{"id": …, "type": …, "policyName": …}]`), never their values.
pub(super) fn content_key_ids(e: &Value) -> Result<Vec<String>, String> {
    match field(e, "contentKeys") {
        None => Ok(Vec::new()),
        Some(Value::Array(keys)) => keys
            .iter()
            .map(|k| match k.get("id").or_else(|| k.get("Id")) {
                Some(Value::String(id)) => Ok(id.clone()),
                _ => Err("each of contentKeys needs an id".to_owned()),
            })
            .collect(),
        Some(other) => Err(format!("contentKeys must be a list, not {other}")),
    }
}

pub(super) fn string(e: &Value, key: &str) -> Result<Option<String>, String> {
    match field(e, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{key} must be text, not {other}")),
    }
}

/// An integer, as a JSON number or as text (OData writes Int64 as text).
pub(super) fn integer(e: &Value, key: &str) -> Result<Option<i64>, String> {
    let bad = |v: &Value| format!("{key} must be a whole number, not {v}");
    match field(e, key) {
        None => Ok(None),
        Some(v @ Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
            _ => Err(bad(v)),
        },
        Some(v @ Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad(v)),
        Some(v) => Err(bad(v)),
    }
}

/// A time: RFC 3339, an ISO time without zone (UTC), or OData's `/Date(ms)/`.
pub(super) fn time(e: &Value, key: &str) -> Result<Option<DateTime<Utc>>, String> {
    let Some(text) = string(e, key)? else { return Ok(None) };
    let t = text.trim();
    let bad = || format!("{key} '{t}' is not a time (expected ISO 8601 or /Date(ms)/)");
    if let Some(inner) = t.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        let digits = inner.find(['+', '-']).filter(|&i| i > 0).map_or(inner, |i| &inner[..i]);
        let ms: i64 = digits.parse().map_err(|_| bad())?;
        return Utc.timestamp_millis_opt(ms).single().map(Some).ok_or_else(bad);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(Some(dt.with_timezone(&Utc)));
    }
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").map(|n| Some(n.and_utc())).map_err(|_| bad())
}
