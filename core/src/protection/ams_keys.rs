//! Content keys as Media Services v3 exports print them: `az ams
//! streaming-locator list-content-keys` (an array of keys, or the REST
//! response's `contentKeys`), or `streaming-locator list` with each locator's
//! `contentKeys` carrying `value`. Pure: JSON in, keys out, every key checked;
//! a key whose value the export does not hold is named, never guessed.

use serde_json::Value;
use uuid::Uuid;

use super::keys::{parse_key_id, ContentKeyType, ContentKeyValue};
use super::names::check_name;
use crate::error::Result;

/// A key read from an export.
#[derive(Debug)]
pub struct ExportedKey {
    /// Its id (KID).
    pub id: Uuid,
    /// Its type.
    pub key_type: ContentKeyType,
    /// Its content key policy, if the export names one.
    pub policy_name: Option<String>,
    /// The key, when the export holds it (`value`).
    pub value: Option<ContentKeyValue>,
}

/// Most keys one export may hold (a library's locators name a few each).
pub const MAX_KEYS: usize = 100_000;

/// Every content key object of `document`, and a problem for each one that cannot be read.
pub fn keys_from_export(document: &Value) -> (Vec<ExportedKey>, Vec<String>) {
    let mut objects = Vec::new();
    collect(document, &mut objects, 0);
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    for (i, o) in objects.into_iter().enumerate() {
        if keys.len() + problems.len() >= MAX_KEYS {
            problems.push(format!("more than {MAX_KEYS} content keys: the rest were not read"));
            break;
        }
        match read_key(o) {
            Ok(k) => keys.push(k),
            Err(e) => problems.push(format!("content key #{}: {}", i + 1, e.message())),
        }
    }
    (keys, problems)
}

/// Content key objects: those in a `contentKeys` array (of a locator, its `properties`,
/// or the REST response), or the items of a top-level array of keys.
fn collect<'a>(v: &'a Value, out: &mut Vec<&'a Value>, depth: usize) {
    if depth > 4 {
        return;
    }
    match v {
        Value::Array(items) if depth == 0 && items.iter().all(is_key) => out.extend(items),
        Value::Array(items) => items.iter().for_each(|i| collect(i, out, depth + 1)),
        Value::Object(map) => {
            for (k, child) in map {
                match (k.eq_ignore_ascii_case("contentKeys"), child) {
                    (true, Value::Array(keys)) => out.extend(keys),
                    _ => collect(child, out, depth + 1),
                }
            }
        }
        _ => {}
    }
}

fn is_key(v: &Value) -> bool {
    v.get("id").is_some() && v.get("type").is_some()
}

/// One key object of an export (`id`, `type`, optional `policyName` and `value`), checked.
pub(crate) fn read_key(o: &Value) -> Result<ExportedKey> {
    let text = |name: &str| o.get(name).and_then(Value::as_str);
    let id = parse_key_id(text("id").unwrap_or(""))?;
    let key_type: ContentKeyType = text("type").unwrap_or("").parse()?;
    let policy_name = text("policyName").filter(|p| !p.is_empty()).map(str::to_owned);
    if let Some(p) = &policy_name {
        check_name(p, "content key policy")?;
    }
    let value = text("value").filter(|v| !v.is_empty()).map(ContentKeyValue::from_base64).transpose()?;
    Ok(ExportedKey { id, key_type, policy_name, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_from_the_shapes_az_ams_prints() {
        let value = "AAECAwQFBgcICQoLDA0ODw==";
        let listed = serde_json::json!([
            {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "type": "CommonEncryptionCenc", "value": value,
             "policyName": "Tokened", "labelReferenceInStreamingPolicy": "cencDefaultKey", "tracks": []},
            {"id": "4fa85f64-5717-4562-b3fc-2c963f66afa6", "type": "EnvelopeEncryption"}
        ]);
        let (keys, problems) = keys_from_export(&listed);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].key_type, ContentKeyType::Cenc);
        assert_eq!(keys[0].value.as_ref().unwrap().expose()[15], 15);
        assert!(keys[1].value.is_none(), "an export without the value says so");
        let locators = serde_json::json!([{"name": "loc", "properties": {"contentKeys": [
            {"id": "5fa85f64-5717-4562-b3fc-2c963f66afa6", "type": "CommonEncryptionCbcs", "value": value}]}}]);
        assert_eq!(keys_from_export(&locators).0[0].key_type, ContentKeyType::Cbcs);
        let response = serde_json::json!({"contentKeys": [{"id": "x", "type": "CommonEncryptionCenc"},
            {"id": "6fa85f64-5717-4562-b3fc-2c963f66afa6", "type": "Storage"}]});
        let (keys, problems) = keys_from_export(&response);
        assert!(keys.is_empty() && problems.len() == 2, "{problems:?}");
        assert!(!problems.join(" ").contains(value));
        let short = serde_json::json!([{"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "type": "CommonEncryptionCenc", "value": "AAAA"}]);
        assert_eq!(keys_from_export(&short).1.len(), 1);
    }
}
