//! Media Services' enum values as exports write them (numbers, numbers as text,
//! names) read into the model's; the numbers themselves are the model's
//! ([`crate::model::codes`]).

use serde_json::Value;

use crate::model::codes::options_from_code;
use crate::model::AssetOptions;

/// `Options`: 0 None, 1 StorageEncrypted, 2 CommonEncryptionProtected,
/// 4 EnvelopeEncryptionProtected; names are taken too.
pub(super) fn options_from_v2(value: &Value) -> Result<AssetOptions, String> {
    match value {
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(n) => options_from_code(n),
            Err(_) => s.parse().map_err(|e: crate::Error| e.message().to_owned()),
        },
        Value::Number(n) => n.as_i64().map_or_else(|| Err(format!("unknown asset Options {n}")), options_from_code),
        other => Err(format!("Options must be a number, not {other}")),
    }
}

/// v3 `storageEncryptionFormat` (absent is `None`).
pub(super) fn options_from_v3(format: Option<&str>) -> Result<AssetOptions, String> {
    match format {
        None | Some("None") => Ok(AssetOptions::None),
        Some("MediaStorageClientEncryption") => Ok(AssetOptions::StorageEncrypted),
        Some(other) => Err(format!("unknown storageEncryptionFormat '{other}'")),
    }
}

/// A v2 `AssetDeliveryPolicyType` (a name, or its number as a number or text) by its name; an
/// unknown number is kept as `AssetDeliveryPolicyType <n>` (and counts as protected). `None`
/// for a value that is neither.
pub(super) fn delivery_policy_type(value: &Value) -> Option<String> {
    match value {
        Value::String(name) if name.parse::<i64>().is_err() => Some(name.clone()),
        v @ (Value::Number(_) | Value::String(_)) => {
            let n = v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
            Some(match n {
                Some(0) => "None".into(),
                Some(1) => "Blocked".into(),
                Some(2) => "NoDynamicEncryption".into(),
                Some(3) => "DynamicEnvelopeEncryption".into(),
                Some(4) => "DynamicCommonEncryption".into(),
                Some(5) => "DynamicCommonEncryptionCbcs".into(),
                _ => format!("AssetDeliveryPolicyType {v}"),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn export_values_of_options_are_numbers_text_or_names() {
        assert!(options_from_v2(&json!(8)).is_err() && options_from_v2(&json!(-1)).is_err());
        assert_eq!(options_from_v2(&json!("StorageEncrypted")).unwrap(), AssetOptions::StorageEncrypted);
        assert_eq!(options_from_v2(&json!("2")).unwrap(), AssetOptions::CommonEncryptionProtected);
        assert_eq!(delivery_policy_type(&json!(3)).as_deref(), Some("DynamicEnvelopeEncryption"));
        assert_eq!(delivery_policy_type(&json!("9")).as_deref(), Some("AssetDeliveryPolicyType \"9\""));
        assert_eq!(delivery_policy_type(&json!(null)), None);
    }
}
