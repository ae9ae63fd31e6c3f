//! Records written back in Media Services' v2 shape, for scripts written against it (pure).

use serde_json::{json, Map, Value};

use crate::model::codes::{locator_type_code, options_code, permissions_bits};
use crate::model::{AccessPolicy, AssetRecord, Locator};

/// An OData feed of `entity_set` (`Assets`, `Locators`, `AccessPolicies`).
pub fn v2_feed(entity_set: &str, values: Vec<Value>) -> Value {
    json!({
        "odata.metadata": format!("https://media.windows.net/api/$metadata#{entity_set}"),
        "value": values,
    })
}

/// An asset in the v2 shape, its files expanded (`$expand=Files`).
pub fn v2_asset_json(record: &AssetRecord) -> Value {
    let a = &record.asset;
    let files: Vec<Value> = record
        .files
        .iter()
        .map(|f| {
            json!({
                "Name": f.name,
                "ContentFileSize": f.size.to_string(),
                "ParentAssetId": a.id.to_string(),
                "IsPrimary": f.is_primary,
                "IsEncrypted": f.is_encrypted,
                "MimeType": f.mime_type,
            })
        })
        .collect();
    let mut o = Map::new();
    o.insert("Id".into(), json!(a.id.to_string()));
    o.insert("State".into(), json!(0));
    o.insert("Created".into(), json!(a.created.to_rfc3339()));
    o.insert("AlternateId".into(), json!(a.alternate_id));
    o.insert("Name".into(), json!(a.name));
    o.insert("Options".into(), json!(options_code(a.options)));
    o.insert("FormatOption".into(), json!(0));
    o.insert("ContainerName".into(), json!(a.container));
    o.insert("Files".into(), Value::Array(files));
    Value::Object(o)
}

/// A locator in the v2 shape with its access policy expanded
/// (`$expand=AccessPolicy`). `path` is the locator's base URL, never a signature.
pub fn v2_locator_json(l: &Locator, policy: Option<&AccessPolicy>) -> Value {
    let mut o = Map::new();
    o.insert("Id".into(), json!(l.id.to_string()));
    o.insert("ExpirationDateTime".into(), json!(l.expiration.to_rfc3339()));
    o.insert("Type".into(), json!(locator_type_code(l.locator_type)));
    o.insert("Path".into(), json!(crate::secret::redact_sas(&l.path)));
    o.insert("AccessPolicyId".into(), json!(l.policy_id.to_string()));
    o.insert("AssetId".into(), json!(l.asset_id.to_string()));
    o.insert("StartTime".into(), json!(l.start_time.map(|t| t.to_rfc3339())));
    if let Some(p) = policy {
        let mut policy = v2_policy_json(p);
        // The policy record is shared by every locator of equal terms; its name is the first's.
        // A locator with a streaming policy of its own keeps that name.
        if let Some(name) = &l.delivery.streaming_policy_name {
            policy["Name"] = json!(name);
        }
        o.insert("AccessPolicy".into(), policy);
    }
    if let Some(name) = &l.delivery.streaming_policy_name {
        o.insert("StreamingPolicyName".into(), json!(name));
    }
    if !l.delivery.content_key_ids.is_empty() {
        o.insert("ContentKeyIds".into(), json!(l.delivery.content_key_ids));
    }
    if !l.delivery.filters.is_empty() {
        o.insert("Filters".into(), json!(l.delivery.filters));
    }
    Value::Object(o)
}

/// An access policy in the v2 shape (permissions as Media Services' bit flags).
pub fn v2_policy_json(p: &AccessPolicy) -> Value {
    json!({
        "Id": p.id.to_string(),
        "Name": p.name,
        "DurationInMinutes": p.duration_minutes as f64,
        "Permissions": permissions_bits(p.permissions),
    })
}
