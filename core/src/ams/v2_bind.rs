//! v2 locators of assets streamed with dynamic encryption, bound to what v3 would have
//! named: the streaming policy made of the asset's delivery policies (one, or one made
//! of several that share no protocol), the asset's content keys and their key policy.
//! The origin then serves them encrypted once it holds the keys, and refuses them
//! until then. A locator whose policies are refused or contradict each other is
//! refused with them (never written half bound); a delivery policy attached to no asset
//! is refused. Pure: runs on the export as read.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::protection::{ImportStreaming, V2Links};
use super::{Export, ExportLocator, RecordKind, Rejected};
use crate::protection::keys::parse_key_id;
use crate::protection::streaming_policy::{Scheme, StreamingPolicy};
use crate::protection::ContentKeyType;

/// Binds the export's v2 locators; `asset_policies`: each v2 asset's delivery policy ids.
pub(super) fn bind(export: &mut Export, asset_policies: &BTreeMap<crate::id::AssetId, Vec<Uuid>>, links: &V2Links) {
    name_key_policies(export, links);
    if !asset_policies.is_empty() {
        refuse_unattached(export, asset_policies, links);
    }
    let mut made: Vec<ImportStreaming> = Vec::new();
    for l in std::mem::take(&mut export.locators) {
        let Some(ids) = asset_policies.get(&l.asset_id).filter(|_| needs_binding(&l)) else {
            export.locators.push(l);
            continue;
        };
        // Policies the export does not hold (only their type, `$expand`ed): left refused, as read.
        if ids.iter().any(|id| !links.delivery_policies.contains_key(id)) {
            export.locators.push(l);
            continue;
        }
        match bound(&l, ids, export, links) {
            Ok((mut delivery, combined)) => {
                if let Some(c) = combined {
                    delivery.streaming_policy_name = Some(c.policy.name.clone());
                    if !made.iter().any(|m| m.policy.name == c.policy.name) {
                        made.push(c);
                    }
                }
                export.locators.push(ExportLocator { delivery, ..l });
            }
            Err(reason) => export.rejected.push(Rejected {
                source: l.source,
                kind: RecordKind::Locator,
                id: Some(l.id.to_string()),
                reason,
            }),
        }
    }
    export.protection.streaming.extend(made);
}

/// Whether the locator streams through a v2 dynamic encryption policy and names no streaming policy yet.
fn needs_binding(l: &ExportLocator) -> bool {
    l.delivery.streaming_policy_name.is_none()
        && l.delivery
            .delivery_policy_types
            .iter()
            .any(|t| !t.eq_ignore_ascii_case("NoDynamicEncryption") && !t.eq_ignore_ascii_case("None"))
}

/// Each v2 key takes the content key policy its `AuthorizationPolicyId` names, when that one is imported.
fn name_key_policies(export: &mut Export, links: &V2Links) {
    let imported: BTreeSet<&str> = export.protection.policies.iter().map(|p| p.name.as_str()).collect();
    let mut named = Vec::new();
    for (i, k) in export.protection.keys.iter().enumerate() {
        let name = links.key_policies.get(&k.id).and_then(|p| links.policies.get(p));
        if let Some(name) = name.filter(|n| k.policy_name.is_none() && imported.contains(n.as_str())) {
            named.push((i, name.clone()));
        }
    }
    for (i, name) in named {
        export.protection.keys[i].policy_name = Some(name);
    }
}

/// A delivery policy no asset of the export names is not imported: nothing would stream through it.
fn refuse_unattached(export: &mut Export, asset_policies: &BTreeMap<crate::id::AssetId, Vec<Uuid>>, links: &V2Links) {
    let attached: BTreeSet<&Uuid> = asset_policies.values().flatten().collect();
    let unattached: BTreeSet<&str> = links
        .delivery_policies
        .iter()
        .filter(|(id, _)| !attached.contains(id))
        .filter_map(|(_, name)| name.as_deref().ok())
        .collect();
    let (kept, refused): (Vec<_>, Vec<_>) = std::mem::take(&mut export.protection.streaming)
        .into_iter()
        .partition(|s| !unattached.contains(s.policy.name.as_str()));
    export.protection.streaming = kept;
    for s in refused {
        export.rejected.push(Rejected {
            source: s.source,
            kind: RecordKind::StreamingPolicy,
            id: Some(s.policy.name.clone()),
            reason: format!(
                "asset delivery policy '{}' is attached to no asset of this export: not imported (export the assets with $expand=DeliveryPolicies)",
                s.policy.name
            ),
        });
    }
}

/// The locator's delivery terms bound to its asset's policies and keys, and the streaming
/// policy made for it when there are several; or why it cannot be.
fn bound(
    l: &ExportLocator,
    ids: &[Uuid],
    export: &Export,
    links: &V2Links,
) -> Result<(crate::delivery::Delivery, Option<ImportStreaming>), String> {
    let mut policies: Vec<&ImportStreaming> = Vec::new();
    for id in ids {
        let name = match &links.delivery_policies[id] {
            Ok(name) => name,
            Err(label) => {
                return Err(format!(
                    "its asset's delivery policy '{label}' is refused in this export: the locator is not imported"
                ))
            }
        };
        match export.protection.streaming.iter().find(|s| &s.policy.name == name) {
            Some(s) if !policies.iter().any(|p| p.policy.name == s.policy.name) => policies.push(s),
            Some(_) => {}
            None => {
                return Err(format!(
                    "its asset's delivery policy '{name}' is refused in this export: the locator is not imported"
                ))
            }
        }
    }
    let mut delivery = l.delivery.clone();
    let combined = match policies.as_slice() {
        [] => return Err("its asset names no delivery policy this export holds".into()),
        [one] => {
            delivery.streaming_policy_name = Some(one.policy.name.clone());
            None
        }
        several => Some(combine(several)?),
    };
    let schemes: BTreeSet<Scheme> = policies
        .iter()
        .flat_map(|p| p.policy.protocols.iter().map(|p| p.scheme))
        .filter(|s| *s != Scheme::Clear)
        .collect();
    if delivery.content_key_ids.is_empty() {
        return Err(format!(
            "its asset is streamed with {} but lists no content key (export the assets with $expand=ContentKeys)",
            delivery.delivery_policy_types.join(", ")
        ));
    }
    let mut key_policy = None;
    for text in &delivery.content_key_ids {
        let id = parse_key_id(text).map_err(|e| format!("its asset's content key '{text}': {}", e.message()))?;
        let Some(key) = export.protection.keys.iter().find(|k| k.id == id) else { continue };
        let serves = schemes.iter().any(|s| {
            matches!(
                (s, key.key_type),
                (Scheme::Envelope, ContentKeyType::Envelope)
                    | (Scheme::Cenc, ContentKeyType::Cenc)
                    | (Scheme::Cbcs, ContentKeyType::Cbcs)
            )
        });
        if !serves {
            return Err(format!(
                "its asset's content key {} is a {} key, which none of its delivery policies ({}) encrypts with",
                key.id_text,
                key.key_type.name(),
                policies.iter().map(|p| p.policy.name.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        key_policy = key_policy.or(key.policy_name.clone());
    }
    delivery.default_content_key_policy_name = key_policy;
    delivery.validate().map_err(|e| e.message().to_owned())?;
    Ok((delivery, combined))
}

/// One streaming policy of several delivery policies that share no protocol, named after their ids.
fn combine(policies: &[&ImportStreaming]) -> Result<ImportStreaming, String> {
    let mut names: Vec<&str> = policies.iter().map(|p| p.policy.name.as_str()).collect();
    names.sort_unstable();
    let mut policy = StreamingPolicy {
        name: String::new(),
        default_content_key_policy_name: None,
        protocols: Vec::new(),
        drm: Vec::new(),
        envelope_key_url_template: None,
    };
    let mut by_protocol = BTreeMap::new();
    for p in policies {
        for ps in &p.policy.protocols {
            if let Some(other) = by_protocol.insert(ps.protocol, p.policy.name.as_str()) {
                return Err(format!(
                    "its asset's delivery policies '{other}' and '{}' both deliver {:?}: which one applies would be a guess",
                    p.policy.name, ps.protocol
                ));
            }
            policy.protocols.push(*ps);
        }
        for d in &p.policy.drm {
            if !policy.drm.contains(d) {
                policy.drm.push(d.clone());
            }
        }
        match (&policy.envelope_key_url_template, &p.policy.envelope_key_url_template) {
            (Some(a), Some(b)) if a != b => {
                return Err("its asset's delivery policies give two envelope key URLs".into());
            }
            (None, Some(b)) => policy.envelope_key_url_template = Some(b.clone()),
            _ => {}
        }
    }
    policy.protocols.sort_by_key(|p| p.protocol);
    policy.name = combined_name(&names);
    policy.validate().map_err(|e| format!("the streaming policy of its delivery policies: {}", e.message()))?;
    let notes = policies.iter().flat_map(|p| p.notes.iter().cloned()).collect();
    Ok(ImportStreaming { source: policies[0].source.clone(), policy, notes })
}

/// A stable name for the policy of several: the same delivery policies give the same name.
fn combined_name(sorted_names: &[&str]) -> String {
    let joined = sorted_names.join("+");
    let name = format!("v2-{}", sorted_names.join("_"));
    if name.len() <= crate::protection::names::NAME_CHARS {
        return name;
    }
    // Long names: a digest of them, which stays one name per set.
    let digest = Uuid::new_v5(&Uuid::NAMESPACE_OID, joined.as_bytes());
    format!("v2-combined-{}", digest.simple())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::protection::KeyHeld;
    use super::super::read_export;
    use super::*;
    use crate::delivery::Servable;
    use crate::model::AssetOptions;
    use crate::protection::streaming_policy::{DrmSystem, Protocol};

    const LOCATOR: &str = "8c9d0e1f-2a3b-4c4d-8e5f-6a7b8c9d0e1f";
    const KEY: &str = "e4f5a6b7-c8d9-4e0f-9a1b-2c3d4e5f6a7b";
    const ENVELOPE: &str = "nb:adpid:UUID:6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d";
    const CENC: &str = "nb:adpid:UUID:0b1c2d3e-4f5a-4b6c-8d7e-8f9a0b1c2d3e";

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../tests/data/ams/v2-envelope/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// The v2-envelope export, its delivery policies and the asset's list of them replaced when given.
    fn export_with(delivery_policies: Option<Vec<Value>>, attached: Option<Vec<Value>>) -> Export {
        let mut assets = fixture("Assets.json");
        if let Some(attached) = attached {
            assets["value"][0]["DeliveryPolicies"] = json!({ "results": attached });
        }
        let mut policies = fixture("AssetDeliveryPolicies.json");
        if let Some(p) = delivery_policies {
            policies["value"] = Value::Array(p);
        }
        let docs: Vec<(String, Value)> = [
            ("Assets.json", assets),
            ("AccessPolicies.json", fixture("AccessPolicies.json")),
            ("Locators.json", fixture("Locators.json")),
            ("ContentKeys.json", fixture("ContentKeys.json")),
            ("ContentKeyAuthorizationPolicies.json", fixture("ContentKeyAuthorizationPolicies.json")),
            ("AssetDeliveryPolicies.json", policies),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect();
        read_export(&docs).unwrap()
    }

    fn policy(id: &str, name: &str, kind: i64, protocols: i64, config: &str) -> Value {
        json!({"Id": id, "Name": name, "AssetDeliveryPolicyType": kind, "AssetDeliveryProtocol": protocols,
               "AssetDeliveryConfiguration": config})
    }

    fn attached(id: &str, kind: i64, protocols: i64) -> Value {
        json!({"Id": id, "AssetDeliveryPolicyType": kind, "AssetDeliveryProtocol": protocols})
    }

    fn rejected_locator(export: &Export) -> String {
        assert!(export.locators.is_empty(), "the locator is not imported: {:?}", export.locators);
        let r = export.rejected.iter().find(|r| r.kind == RecordKind::Locator).expect("a locator line");
        assert_eq!(r.id.as_deref(), Some(format!("nb:lid:UUID:{LOCATOR}").as_str()));
        r.reason.clone()
    }

    #[test]
    fn an_envelope_asset_s_locator_keeps_its_id_and_is_bound_to_its_policy_key_and_key_policy() {
        let export = export_with(None, None);
        assert!(export.rejected.is_empty(), "{:?}", export.rejected);
        let [l] = export.locators.as_slice() else { panic!("{:?}", export.locators) };
        assert_eq!(l.id.guid(), LOCATOR);
        assert_eq!(l.delivery.streaming_policy_name.as_deref(), Some("envelope-hls"));
        assert_eq!(l.delivery.content_key_ids, [format!("nb:kid:UUID:{KEY}")]);
        assert_eq!(l.delivery.default_content_key_policy_name.as_deref(), Some("open-envelope"));
        assert_eq!(l.delivery.servable(AssetOptions::None), Servable::Protected("envelope-hls".into()));
        let [s] = export.protection.streaming.as_slice() else { panic!() };
        assert_eq!(s.policy.protocols.len(), 1);
        assert_eq!((s.policy.protocols[0].protocol, s.policy.protocols[0].scheme), (Protocol::Hls, Scheme::Envelope));
        assert_eq!(s.policy.envelope_key_url_template, None, "Media Services' key delivery is not kept");
        assert!(s.notes.iter().any(|n| n.contains("key delivery")), "{:?}", s.notes);
        let [k] = export.protection.keys.as_slice() else { panic!() };
        assert!(matches!(k.held, KeyHeld::Encrypted { .. }), "v2 holds no key: reported missing at import");
        assert_eq!(k.policy_name.as_deref(), Some("open-envelope"), "its AuthorizationPolicyId, by name");
    }

    #[test]
    fn envelope_for_hls_and_cenc_for_dash_and_smooth_make_one_policy_with_the_licence_urls() {
        let cenc_config =
            r#"[{"Key":4,"Value":"https://drm.example/PlayReady/"},{"Key":8,"Value":"https://drm.example/Widevine/"}]"#;
        let policies =
            vec![policy(ENVELOPE, "envelope-hls", 3, 4, "[]"), policy(CENC, "cenc-dash-smooth", 4, 3, cenc_config)];
        let export = export_with(Some(policies), Some(vec![attached(ENVELOPE, 3, 4), attached(CENC, 4, 3)]));
        // The asset's one key is an envelope key: it serves the HLS; cenc needs its own.
        assert!(export.rejected.is_empty(), "{:?}", export.rejected);
        let name = export.locators[0].delivery.streaming_policy_name.clone().unwrap();
        assert_eq!(name, "v2-cenc-dash-smooth_envelope-hls");
        let made = export.protection.streaming.iter().find(|s| s.policy.name == name).unwrap();
        let protocols: Vec<(Protocol, Scheme)> = made.policy.protocols.iter().map(|p| (p.protocol, p.scheme)).collect();
        assert_eq!(
            protocols,
            [
                (Protocol::Hls, Scheme::Envelope),
                (Protocol::Dash, Scheme::Cenc),
                (Protocol::SmoothStreaming, Scheme::Cenc)
            ]
        );
        let wv = made.policy.drm.iter().find(|d| d.system == DrmSystem::Widevine).unwrap();
        assert_eq!(wv.license_url_template.as_deref(), Some("https://drm.example/Widevine/?kid={ContentKeyId}"));
        assert!(made.policy.drm.iter().any(|d| d.system == DrmSystem::PlayReady));
        assert_eq!(
            export_with(
                Some(vec![
                    policy(ENVELOPE, "envelope-hls", 3, 4, "[]"),
                    policy(CENC, "cenc-dash-smooth", 4, 3, cenc_config)
                ]),
                Some(vec![attached(CENC, 4, 3), attached(ENVELOPE, 3, 4)])
            )
            .locators[0]
                .delivery
                .streaming_policy_name,
            Some(name),
            "the name does not depend on the order"
        );
    }

    #[test]
    fn two_policies_for_one_protocol_refuse_the_locator_naming_both() {
        let policies = vec![policy(ENVELOPE, "envelope-hls", 3, 4, "[]"), policy(CENC, "cenc-hls", 4, 4 | 2, "[]")];
        let export = export_with(Some(policies), Some(vec![attached(ENVELOPE, 3, 4), attached(CENC, 4, 6)]));
        let reason = rejected_locator(&export);
        assert!(
            reason.contains("'envelope-hls'") && reason.contains("'cenc-hls'") && reason.contains("Hls"),
            "{reason}"
        );
    }

    #[test]
    fn a_refused_delivery_policy_refuses_its_asset_s_locators_and_nothing_is_half_bound() {
        let hostile = [
            (policy(ENVELOPE, "envelope-hls", 9, 4, "[]"), "AssetDeliveryPolicyType"),
            (policy(ENVELOPE, "envelope-hls", 3, 0, "[]"), "no protocol"),
            (policy(ENVELOPE, "envelope-hls", 3, 4, r#"[{"Key":2,"Value":"javascript:alert(1)"}]"#), ""),
            (policy(ENVELOPE, "envelope-hls", 3, 4, "not json"), "Key/Value"),
        ];
        for (p, why) in hostile {
            let export = export_with(Some(vec![p.clone()]), None);
            let policy_line = export.rejected.iter().find(|r| r.kind == RecordKind::StreamingPolicy);
            let policy_line = policy_line.unwrap_or_else(|| panic!("{p}: {:?}", export.rejected));
            assert!(policy_line.reason.contains(why), "{p}: {}", policy_line.reason);
            let reason = rejected_locator(&export);
            assert!(reason.contains("refused in this export"), "{p}: {reason}");
            assert!(export.protection.streaming.is_empty(), "{p}");
        }
    }

    #[test]
    fn a_key_of_another_scheme_or_no_key_refuses_the_locator() {
        let cenc_only = vec![policy(CENC, "cenc-dash", 4, 2, "[]")];
        let export = export_with(Some(cenc_only), Some(vec![attached(CENC, 4, 2)]));
        let reason = rejected_locator(&export);
        assert!(reason.contains("EnvelopeEncryption") || reason.contains("key"), "{reason}");
        assert!(reason.contains("cenc-dash"), "{reason}");

        let mut assets = fixture("Assets.json");
        assets["value"][0]["ContentKeys"] = json!({"results": []});
        let docs: Vec<(String, Value)> = [
            ("Assets.json", assets),
            ("AccessPolicies.json", fixture("AccessPolicies.json")),
            ("Locators.json", fixture("Locators.json")),
            ("AssetDeliveryPolicies.json", fixture("AssetDeliveryPolicies.json")),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect();
        let export = read_export(&docs).unwrap();
        assert!(rejected_locator(&export).contains("no content key"));
    }

    #[test]
    fn a_delivery_policy_attached_to_no_asset_is_refused() {
        let policies = vec![policy(ENVELOPE, "envelope-hls", 3, 4, "[]"), policy(CENC, "orphan", 4, 2, "[]")];
        let export = export_with(Some(policies), None);
        let line = export.rejected.iter().find(|r| r.kind == RecordKind::StreamingPolicy).unwrap();
        assert_eq!(line.id.as_deref(), Some("orphan"));
        assert!(line.reason.contains("attached to no asset"), "{}", line.reason);
        let names: Vec<&str> = export.protection.streaming.iter().map(|s| s.policy.name.as_str()).collect();
        assert_eq!(names, ["envelope-hls"]);
        assert_eq!(export.locators.len(), 1, "the asset's own policy still binds");
    }
}
