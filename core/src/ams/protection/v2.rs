//! v2 REST shapes (PascalCase, numeric enums): `ContentKeys`,
//! `ContentKeyAuthorizationPolicies` with their `$expand`ed `Options`, and
//! `AssetDeliveryPolicies`.

use serde_json::Value;

use super::super::fields::{integer, string};
use super::restriction_xml::token_restriction;
use super::{ImportKey, ImportOption, ImportPolicy, ImportRestriction, ImportStreaming, KeyHeld};
use crate::protection::keys::parse_key_id;
use crate::protection::names::check_name;
use crate::protection::policy::KeyDelivery;
use crate::protection::streaming_policy::{check_template, DrmSignal, DrmSystem, Protocol, ProtocolScheme, Scheme};
use crate::protection::{ContentKeyType, StreamingPolicy};

const MAX_OPTIONS: usize = 64;

/// v2 `ContentKeyType`: 0 CommonEncryption, 1 StorageEncryption, 2 ConfigurationEncryption,
/// 3 UrlEncryption, 4 EnvelopeEncryption, 6 CommonEncryptionCbcs, 7 FairPlayASk, 8 FairPlayPfxPassword.
fn v2_key_type(n: i64) -> Result<ContentKeyType, String> {
    match n {
        0 => Ok(ContentKeyType::Cenc),
        4 => Ok(ContentKeyType::Envelope),
        6 => Ok(ContentKeyType::Cbcs),
        1 => Err("a storage encryption key (ContentKeyType 1) encrypts files at rest, not streams: it is not a content key here".into()),
        2 | 3 | 7 | 8 => Err(format!("ContentKeyType {n} is not a key streams are encrypted with: not imported")),
        _ => Err(format!("unknown ContentKeyType {n}")),
    }
}

/// A v2 content key: its id and type; the key itself is encrypted with Media
/// Services' protection key, which no export holds.
pub(super) fn key(e: &Value) -> Result<ImportKey, String> {
    let id = parse_key_id(&string(e, "Id")?.ok_or("a content key needs an Id")?).map_err(|e| e.message().to_owned())?;
    let key_type = v2_key_type(integer(e, "ContentKeyType")?.ok_or("a content key needs a ContentKeyType")?)?;
    let protection_key_id = match e.get("ProtectionKeyId") {
        Some(Value::String(s)) => s.chars().take(128).collect(),
        _ => String::new(),
    };
    Ok(ImportKey {
        source: String::new(),
        id_text: id.hyphenated().to_string(),
        id,
        key_type,
        policy_name: None,
        held: KeyHeld::Encrypted { protection_key_id },
    })
}

/// The UUID of an entity's v2 `Id` (`<prefix><uuid>`).
pub(super) fn entity_guid(e: &Value, prefix: &str) -> Option<uuid::Uuid> {
    let id = e.get("Id")?.as_str()?;
    let rest =
        id.get(prefix.len()..).filter(|_| id.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix)))?;
    uuid::Uuid::parse_str(rest).ok()
}

/// A v2 content key's `AuthorizationPolicyId`, when it names one.
pub(super) fn authorization_policy_id(e: &Value) -> Option<uuid::Uuid> {
    let id = e.get("AuthorizationPolicyId")?.as_str()?;
    entity_guid(&serde_json::json!({ "Id": id }), "nb:ckpid:uuid:")
}

/// A policy name from a v2 `Name` when it is one, else from its id (v2 names were free text).
fn policy_name(e: &Value, id_prefix: &str, what: &str) -> Result<(String, Option<String>), String> {
    let id = string(e, "Id")?.ok_or_else(|| format!("a {what} needs an Id"))?;
    let guid = id.get(id_prefix.len()..).filter(|_| id.to_ascii_lowercase().starts_with(id_prefix)).unwrap_or("");
    let guid = uuid::Uuid::parse_str(guid).map_err(|_| format!("'{id}' is not a {what} id ({id_prefix}UUID)"))?;
    let given = string(e, "Name")?.unwrap_or_default();
    if check_name(&given, what).is_ok() {
        return Ok((given, None));
    }
    let made = format!("v2-{}", guid.hyphenated());
    let note = format!("'{given}' is no {what} name (letters, digits, '-', '_'): imported as '{made}'");
    Ok((made, Some(note)))
}

/// A content key authorization policy, with its options nested (`$expand=Options`).
pub(super) fn policy(source: &str, e: &Value) -> Result<ImportPolicy, String> {
    let (name, renamed) = policy_name(e, "nb:ckpid:uuid:", "content key policy")?;
    let mut notes: Vec<String> = renamed.into_iter().collect();
    let options = match e.get("Options") {
        Some(Value::Array(o)) => o.clone(),
        Some(Value::Object(o)) => match o.get("results") {
            Some(Value::Array(o)) => o.clone(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    if options.is_empty() {
        return Err(format!(
            "content key authorization policy '{name}' has no Options: export it with $expand=Options so its restrictions come with it"
        ));
    }
    if options.len() > MAX_OPTIONS {
        return Err(format!("content key authorization policy '{name}' has more than {MAX_OPTIONS} options"));
    }
    let mut out = Vec::new();
    for (i, o) in options.iter().enumerate() {
        let option = string(o, "Name")?.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("option-{}", i + 1));
        let delivery = match integer(o, "KeyDeliveryType")? {
            Some(1) => KeyDelivery::PlayReady,
            Some(2) => KeyDelivery::ClearKey,
            Some(3) => KeyDelivery::Widevine,
            Some(4) => KeyDelivery::FairPlay,
            other => return Err(format!("option '{option}': KeyDeliveryType {other:?} is not 1 PlayReady, 2 BaselineHttp, 3 Widevine or 4 FairPlay")),
        };
        if delivery != KeyDelivery::ClearKey && string(o, "KeyDeliveryConfiguration")?.is_some_and(|c| !c.is_empty()) {
            notes.push(format!("option '{option}': its licence configuration (KeyDeliveryConfiguration) is not kept: mirrorcast issues no {delivery:?} licences"));
        }
        let restrictions = o.get("Restrictions").and_then(Value::as_array).cloned().unwrap_or_default();
        let [r] = restrictions.as_slice() else {
            return Err(format!(
                "option '{option}' has {} restrictions; mirrorcast takes one per option",
                restrictions.len()
            ));
        };
        let restriction = match integer(r, "KeyRestrictionType")? {
            Some(0) => ImportRestriction::Open,
            Some(1) => {
                let xml = string(r, "Requirements")?
                    .ok_or_else(|| format!("option '{option}': a token restriction without Requirements"))?;
                token_restriction(&xml, &name, &option, &mut notes)?
            }
            Some(2) => {
                return Err(format!(
                    "option '{option}': an IP restriction, which mirrorcast does not have: not imported"
                ))
            }
            other => return Err(format!("option '{option}': KeyRestrictionType {other:?} is not 0 open or 1 token")),
        };
        out.push(ImportOption { name: option, delivery, restriction });
    }
    Ok(ImportPolicy { source: source.to_owned(), name, description: None, options: out, notes })
}

/// Whether `url` is Media Services' own key delivery (`<account>.keydelivery.<region>.media.azure.net`,
/// `…keydelivery.mediaservices.windows.net`): it goes with the old account, so it is not kept.
fn is_media_services_key_delivery(url: &str) -> bool {
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', '?', ':']).next().unwrap_or("").to_ascii_lowercase();
    host.contains(".keydelivery.")
        && (host.ends_with(".media.azure.net") || host.ends_with(".mediaservices.windows.net"))
}

/// An asset delivery policy as a streaming policy: its protocols and scheme, its licence URLs.
pub(super) fn delivery(source: &str, e: &Value) -> Result<ImportStreaming, String> {
    let (name, renamed) = policy_name(e, "nb:adpid:uuid:", "streaming policy")?;
    let mut notes: Vec<String> = renamed.into_iter().collect();
    let flags = integer(e, "AssetDeliveryProtocol")?.ok_or("an asset delivery policy needs AssetDeliveryProtocol")?;
    let scheme = match integer(e, "AssetDeliveryPolicyType")? {
        Some(2) => Scheme::Clear,
        Some(3) => Scheme::Envelope,
        Some(4) => Scheme::Cenc,
        Some(5) => Scheme::Cbcs,
        Some(1) => return Err(format!("asset delivery policy '{name}' blocks delivery (Blocked): nothing to import")),
        other => {
            return Err(format!("asset delivery policy '{name}': AssetDeliveryPolicyType {other:?} is not 2 to 5"))
        }
    };
    let mut protocols = Vec::new();
    for (bit, protocol) in
        [(0x1, Protocol::SmoothStreaming), (0x2, Protocol::Dash), (0x4, Protocol::Hls), (0x10, Protocol::Download)]
    {
        if flags & bit != 0 && !(protocol == Protocol::Download && scheme != Scheme::Clear) {
            protocols.push(ProtocolScheme { protocol, scheme });
        }
    }
    if flags & 0x8 != 0 {
        notes.push("HDS is not served by mirrorcast".into());
    }
    // AssetDeliveryConfiguration: a JSON text of [{"Key": n, "Value": "…"}].
    let config: Vec<(i64, String)> = match string(e, "AssetDeliveryConfiguration")? {
        None => Vec::new(),
        Some(text) if text.trim().is_empty() => Vec::new(),
        Some(text) => serde_json::from_str::<Vec<Value>>(&text)
            .map_err(|_| {
                format!("asset delivery policy '{name}': AssetDeliveryConfiguration is not a list of Key/Value pairs")
            })?
            .iter()
            .take(32)
            .filter_map(|kv| Some((kv.get("Key")?.as_i64()?, kv.get("Value")?.as_str()?.to_owned())))
            .collect(),
    };
    let mut policy = StreamingPolicy {
        name: name.clone(),
        default_content_key_policy_name: None,
        protocols,
        drm: Vec::new(),
        envelope_key_url_template: None,
    };
    let url = |base: bool, u: &str| {
        if base {
            format!("{}{}kid={{ContentKeyId}}", u, if u.contains('?') { "&" } else { "?" })
        } else {
            u.to_owned()
        }
    };
    for (k, v) in &config {
        let (system, base) = match k {
            1 | 2 if is_media_services_key_delivery(v) => {
                notes.push(
                    "Media Services' key delivery URL (envelope keys are served by mirrorcast's key delivery instead)"
                        .into(),
                );
                continue;
            }
            1 | 2 => {
                let t = url(*k == 2, v);
                check_template(&t).map_err(|e| e.message().to_owned())?;
                policy.envelope_key_url_template = Some(t);
                continue;
            }
            4 => (DrmSystem::PlayReady, false),
            7 | 8 => (DrmSystem::Widevine, *k == 8),
            9 | 10 => (DrmSystem::FairPlay, *k == 10),
            3 | 6 | 11 => {
                notes.push(format!(
                    "configuration key {k} (an IV of Media Services' choosing) is not kept: mirrorcast derives its IVs"
                ));
                continue;
            }
            5 => {
                notes.push("PlayReady custom attributes are not kept".into());
                continue;
            }
            _ => continue,
        };
        let t = url(base, v);
        check_template(&t).map_err(|e| e.message().to_owned())?;
        if scheme == Scheme::Cenc || scheme == Scheme::Cbcs {
            policy.drm.push(DrmSignal { scheme, system, license_url_template: Some(t) });
        }
    }
    if scheme == Scheme::Cenc && policy.drm.is_empty() {
        for system in [DrmSystem::PlayReady, DrmSystem::Widevine] {
            policy.drm.push(DrmSignal { scheme, system, license_url_template: None });
        }
        notes.push("no licence URL: PlayReady and Widevine signalled with Media Services' own licence service, which mirrorcast does not replace".into());
    }
    if scheme == Scheme::Cbcs && policy.drm.is_empty() {
        policy.drm.push(DrmSignal { scheme, system: DrmSystem::FairPlay, license_url_template: None });
        notes.push("no licence URL: FairPlay signalled with Media Services' own key service, which mirrorcast does not replace".into());
    }
    if policy.protocols.is_empty() {
        return Err(format!("asset delivery policy '{name}' names no protocol mirrorcast serves"));
    }
    policy.validate().map_err(|e| e.message().to_owned())?;
    Ok(ImportStreaming { source: source.to_owned(), policy, notes })
}
