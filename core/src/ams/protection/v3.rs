//! v3 shapes as `az ams` prints them (flattened, or ARM resources with
//! `properties`): content keys, `content-key-policy show --with-secrets`,
//! `streaming-policy list`.

use serde_json::Value;
use zeroize::Zeroizing;

use super::super::fields::field;
use super::{
    secret_bytes, token_secret, ImportKey, ImportOption, ImportPolicy, ImportRestriction, ImportStreaming,
    ImportTokenKey, KeyHeld,
};
use crate::protection::ams_keys::read_key;
use crate::protection::names::check_name;
use crate::protection::policy::{KeyDelivery, RequiredClaim, TokenKey};
use crate::protection::streaming_policy::{check_template, DrmSignal, DrmSystem, Protocol, ProtocolScheme, Scheme};
use crate::protection::StreamingPolicy;

/// Most options, keys and claims read from one policy (the record's own bounds are checked after).
const MAX_ITEMS: usize = 64;

pub(super) fn key(e: &Value) -> Result<ImportKey, String> {
    let k = read_key(e).map_err(|e| e.message().to_owned())?;
    Ok(ImportKey {
        source: String::new(),
        id_text: k.id.hyphenated().to_string(),
        id: k.id,
        key_type: k.key_type,
        policy_name: k.policy_name,
        held: k.value.map_or(KeyHeld::Absent, KeyHeld::Clear),
    })
}

/// `@odata.type` (REST) or `odataType` (az's printing of the SDK models), without `#Microsoft.Media.`.
fn odata_type(v: &Value) -> Option<String> {
    let t = v.get("@odata.type").or_else(|| v.get("odataType")).and_then(Value::as_str)?;
    let t = t.trim_start_matches('#');
    Some(t.strip_prefix("Microsoft.Media.").unwrap_or(t).to_owned())
}

/// Whether `v` is az's printing of an SDK model (`odataType`), not the REST body (`@odata.type`):
/// az prints byte fields as the bytes decoded as UTF-8, dropping what is not UTF-8, never base64.
fn printed_by_az(v: &Value) -> bool {
    v.get("@odata.type").is_none() && v.get("odataType").is_some()
}

fn text(v: &Value, key: &str) -> Result<Option<String>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{key} must be text")),
    }
}

fn list<'v>(v: Option<&'v Value>, what: &str) -> Result<&'v [Value], String> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) if items.len() <= MAX_ITEMS => Ok(items),
        Some(Value::Array(_)) => Err(format!("{what} holds more than {MAX_ITEMS} items")),
        Some(_) => Err(format!("{what} must be a list")),
    }
}

fn name_of(e: &Value, what: &str) -> Result<String, String> {
    let name = match field(e, "name") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(format!("a {what} needs a name")),
    };
    check_name(&name, what).map_err(|e| e.message().to_owned())?;
    Ok(name)
}

/// A policy's name, from `content-key-policy list` / `show` (`show --with-secrets` prints none).
pub(super) fn policy_name(e: &Value) -> Option<Result<String, String>> {
    field(e, "name")?;
    Some(name_of(e, "content key policy"))
}

/// A policy's id (`policyId`), which pairs `show --with-secrets` output with its name.
pub(super) fn policy_id(e: &Value) -> Option<String> {
    field(e, "policyId").and_then(Value::as_str).map(str::to_ascii_lowercase)
}

/// A content key policy named `name`, its options from `e` (`show --with-secrets`
/// output, or `list`, which prints no HS256 key).
pub(super) fn policy(source: &str, name: String, e: &Value) -> Result<ImportPolicy, String> {
    let description =
        field(e, "description").and_then(Value::as_str).filter(|d| !d.trim().is_empty()).map(str::to_owned);
    let options_json = list(field(e, "options"), "options")?;
    if options_json.is_empty() {
        return Err(format!("content key policy '{name}' has no options"));
    }
    let mut notes = Vec::new();
    let mut options = Vec::new();
    for (i, o) in options_json.iter().enumerate() {
        let option_name =
            text(o, "name")?.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("option-{}", i + 1));
        let config = o.get("configuration").ok_or_else(|| format!("option '{option_name}' has no configuration"))?;
        let delivery = configuration(config, &option_name, &mut notes)?;
        let restriction = o.get("restriction").ok_or_else(|| format!("option '{option_name}' has no restriction"))?;
        let restriction = restriction_of(restriction, &name, &option_name, &mut notes)?;
        options.push(ImportOption { name: option_name, delivery, restriction });
    }
    Ok(ImportPolicy { source: source.to_owned(), name, description, options, notes })
}

/// What an option delivers; the licence terms mirrorcast does not keep are noted (never their secrets).
fn configuration(c: &Value, option: &str, notes: &mut Vec<String>) -> Result<KeyDelivery, String> {
    let kind = odata_type(c).ok_or_else(|| format!("option '{option}': its configuration has no @odata.type"))?;
    let delivery = match kind.to_ascii_lowercase().as_str() {
        "contentkeypolicyclearkeyconfiguration" => KeyDelivery::ClearKey,
        "contentkeypolicyplayreadyconfiguration" => {
            let licences = c.get("licenses").and_then(Value::as_array).map_or(0, Vec::len);
            notes.push(format!(
                "option '{option}': PlayReady licence terms ({licences} licence template(s){}) are not kept: mirrorcast issues no PlayReady licences; name a PlayReady licence service in the streaming policy (`content-key export --cpix` hands it the keys)",
                if c.get("responseCustomData").is_some_and(|v| !v.is_null()) { ", response custom data" } else { "" }
            ));
            KeyDelivery::PlayReady
        }
        "contentkeypolicywidevineconfiguration" => {
            notes.push(format!(
                "option '{option}': the Widevine template is not kept: mirrorcast issues no Widevine licences; name a Widevine licence service in the streaming policy (`content-key export --cpix` hands it the keys)"
            ));
            KeyDelivery::Widevine
        }
        "contentkeypolicyfairplayconfiguration" => {
            // The ASK, the certificate and its password are secrets: named, never shown.
            let held: Vec<&str> = ["ask", "fairPlayPfx", "fairPlayPfxPassword"]
                .into_iter()
                .filter(|k| c.get(*k).is_some_and(|v| !v.is_null()))
                .collect();
            notes.push(format!(
                "option '{option}': FairPlay's {} not kept: mirrorcast serves no FairPlay keys; the FairPlay key service keeps them",
                if held.is_empty() { "rental terms are".to_owned() } else { format!("{} are", held.join(", ")) }
            ));
            KeyDelivery::FairPlay
        }
        _ => {
            return Err(format!(
                "option '{option}': configuration {kind} is not one mirrorcast knows (ClearKey, PlayReady, Widevine, FairPlay)"
            ))
        }
    };
    Ok(delivery)
}

fn restriction_of(r: &Value, policy: &str, option: &str, notes: &mut Vec<String>) -> Result<ImportRestriction, String> {
    let kind = odata_type(r).ok_or_else(|| format!("option '{option}': its restriction has no @odata.type"))?;
    match kind.to_ascii_lowercase().as_str() {
        "contentkeypolicyopenrestriction" => Ok(ImportRestriction::Open),
        "contentkeypolicytokenrestriction" => {
            let issuer =
                text(r, "issuer")?.ok_or_else(|| format!("option '{option}': a token restriction needs an issuer"))?;
            let audience = text(r, "audience")?
                .ok_or_else(|| format!("option '{option}': a token restriction needs an audience"))?;
            let mut keys = Vec::new();
            if let Some(primary) = r.get("primaryVerificationKey").filter(|v| !v.is_null()) {
                keys.push(token_key(primary, policy, option, notes)?);
            }
            for k in list(r.get("alternateVerificationKeys"), "alternateVerificationKeys")? {
                keys.push(token_key(k, policy, option, notes)?);
            }
            if let Some(doc) = text(r, "openIdConnectDiscoveryDocument")?.filter(|d| !d.is_empty()) {
                if keys.is_empty() {
                    return Err(format!(
                        "option '{option}': its token keys come from the OpenID discovery document {doc}, which mirrorcast does not fetch: give the keys (`content-key-policy create --rs256-key` / --x509)"
                    ));
                }
                notes.push(format!(
                    "option '{option}': keys published later at {doc} are not fetched: only the keys given are kept"
                ));
            }
            if keys.is_empty() {
                return Err(format!(
                    "option '{option}': a token restriction without a verification key (`content-key-policy list` prints none: export with `content-key-policy show --with-secrets`)"
                ));
            }
            let mut required_claims = Vec::new();
            for c in list(r.get("requiredClaims"), "requiredClaims")? {
                let claim_type = text(c, "claimType")?
                    .ok_or_else(|| format!("option '{option}': a required claim without claimType"))?;
                required_claims.push(RequiredClaim { claim_type, claim_value: text(c, "claimValue")? });
            }
            match text(r, "restrictionTokenType")?.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("jwt") => {}
                Some("swt") => notes.push(format!(
                    "option '{option}': Media Services took SWT tokens here; mirrorcast checks JWTs only (same issuer, audience, key and claims): issue JWTs to the apps"
                )),
                Some(other) => return Err(format!("option '{option}': token type '{other}' is neither Jwt nor Swt")),
            }
            Ok(ImportRestriction::Token { issuer, audience, keys, required_claims })
        }
        _ => Err(format!("option '{option}': restriction {kind} is not one mirrorcast knows (open or token)")),
    }
}

fn token_key(k: &Value, policy: &str, option: &str, notes: &mut Vec<String>) -> Result<ImportTokenKey, String> {
    let kind = odata_type(k).ok_or_else(|| format!("option '{option}': a verification key has no @odata.type"))?;
    let absent = |f: &str| !matches!(k.get(f), Some(v) if !v.is_null());
    if ["keyValue", "modulus", "rawBody"].iter().all(|f| absent(f)) {
        return Err(format!(
            "option '{option}': this export holds no {kind} value (`content-key-policy list` and `show` print none): add `az ams content-key-policy show --with-secrets` output for '{policy}'"
        ));
    }
    if printed_by_az(k) {
        return az_token_key(k, &kind, policy, option, notes);
    }
    let b64 = |key: &str| -> Result<String, String> {
        use base64::Engine as _;
        let bytes = secret_bytes(k.get(key).unwrap_or(&Value::Null), &format!("option '{option}': {key}"))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(&bytes[..]))
    };
    match kind.to_ascii_lowercase().as_str() {
        "contentkeypolicysymmetrictokenkey" => {
            let bytes = secret_bytes(
                k.get("keyValue").unwrap_or(&Value::Null),
                &format!("option '{option}': an HS256 keyValue"),
            )?;
            Ok(ImportTokenKey::Symmetric(token_secret(bytes, policy)?))
        }
        "contentkeypolicyrsatokenkey" => {
            Ok(ImportTokenKey::Public(TokenKey::Rsa { modulus: b64("modulus")?, exponent: b64("exponent")? }))
        }
        "contentkeypolicyx509certificatetokenkey" => {
            Ok(ImportTokenKey::Public(TokenKey::X509 { certificate: b64("rawBody")? }))
        }
        _ => Err(format!("option '{option}': verification key {kind} is not symmetric, RSA or X.509")),
    }
}

/// A streaming policy (`streaming-policy list` / `show`).
pub(super) fn streaming(source: &str, e: &Value) -> Result<ImportStreaming, String> {
    let name = name_of(e, "streaming policy")?;
    let mut notes = Vec::new();
    let mut policy = StreamingPolicy {
        name: name.clone(),
        default_content_key_policy_name: field(e, "defaultContentKeyPolicyName")
            .and_then(Value::as_str)
            .map(str::to_owned),
        protocols: Vec::new(),
        drm: Vec::new(),
        envelope_key_url_template: None,
    };
    let blocks = [
        ("noEncryption", Scheme::Clear),
        ("envelopeEncryption", Scheme::Envelope),
        ("commonEncryptionCenc", Scheme::Cenc),
        ("commonEncryptionCbcs", Scheme::Cbcs),
    ];
    for (key, scheme) in blocks {
        let Some(block) = field(e, key) else { continue };
        let enabled = block.get("enabledProtocols").cloned().unwrap_or(Value::Null);
        for (flag, protocol) in [
            ("hls", Protocol::Hls),
            ("dash", Protocol::Dash),
            ("smoothStreaming", Protocol::SmoothStreaming),
            ("download", Protocol::Download),
        ] {
            if enabled.get(flag).and_then(Value::as_bool) != Some(true) {
                continue;
            }
            if let Some(other) = policy.protocols.iter().find(|p| p.protocol == protocol) {
                return Err(format!(
                    "streaming policy '{name}' serves {flag} both with {:?} and {scheme:?} (Media Services chose by the URL's encryption=); mirrorcast serves one scheme per protocol: import it as two policies made with `streaming-policy create`",
                    other.scheme
                ));
            }
            policy.protocols.push(ProtocolScheme { protocol, scheme });
        }
        if !list(block.get("clearTracks"), "clearTracks")?.is_empty() {
            notes.push(format!("{key}: clear tracks are not kept: mirrorcast encrypts every track"));
        }
        if let Some(keys) = block.get("contentKeys") {
            if !list(keys.get("keyToTrackMappings"), "keyToTrackMappings")?.is_empty() {
                notes.push(format!("{key}: per-track keys are not kept: one key per scheme"));
            }
            if let Some(p) = keys
                .get("defaultKey")
                .and_then(|d| d.get("policyName"))
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
            {
                match &policy.default_content_key_policy_name {
                    None => policy.default_content_key_policy_name = Some(p.to_owned()),
                    Some(d) if d.eq_ignore_ascii_case(p) => {}
                    Some(d) => notes.push(format!(
                        "{key}: its keys' policy '{p}' is not kept: one content key policy per streaming policy ('{d}'); the imported keys keep their own"
                    )),
                }
            }
        }
        if let Some(t) = block.get("customKeyAcquisitionUrlTemplate").and_then(Value::as_str).filter(|t| !t.is_empty())
        {
            check_template(t).map_err(|e| e.message().to_owned())?;
            policy.envelope_key_url_template = Some(t.to_owned());
        }
        let drm = block.get("drm").cloned().unwrap_or(Value::Null);
        // W3C ClearKey (API 2022-08-01): the block's clearKeyEncryptionConfiguration; no URL: the origin's own.
        if let Some(c) = block.get("clearKeyEncryptionConfiguration").filter(|c| !c.is_null()) {
            let template = c.get("customKeysAcquisitionUrlTemplate").and_then(Value::as_str).filter(|t| !t.is_empty());
            if let Some(t) = template {
                check_template(t).map_err(|e| e.message().to_owned())?;
            }
            policy.drm.push(DrmSignal {
                scheme,
                system: DrmSystem::ClearKey,
                license_url_template: template.map(str::to_owned),
            });
        }
        for (k, system) in
            [("playReady", DrmSystem::PlayReady), ("widevine", DrmSystem::Widevine), ("fairPlay", DrmSystem::FairPlay)]
        {
            let Some(d) = drm.get(k).filter(|d| !d.is_null()) else { continue };
            let template =
                d.get("customLicenseAcquisitionUrlTemplate").and_then(Value::as_str).filter(|t| !t.is_empty());
            if let Some(t) = template {
                check_template(t).map_err(|e| e.message().to_owned())?;
            } else {
                notes.push(format!(
                    "{key}: {k} licences came from Media Services' own licence service, which mirrorcast does not replace: give the policy a licence URL of a {k} service"
                ));
            }
            if d.get("playReadyCustomAttributes").and_then(Value::as_str).is_some_and(|a| !a.is_empty()) {
                notes.push(format!("{key}: PlayReady custom attributes are not kept"));
            }
            if d.get("allowPersistentLicense").and_then(Value::as_bool) == Some(true) {
                notes.push(format!("{key}: FairPlay's allowPersistentLicense is the licence service's to keep"));
            }
            policy.drm.push(DrmSignal { scheme, system, license_url_template: template.map(str::to_owned) });
        }
        // Media Services signalled PlayReady and Widevine for cenc when a policy named no DRM.
        if scheme == Scheme::Cenc
            && policy.drm.iter().all(|d| d.scheme != Scheme::Cenc)
            && policy.protocols.iter().any(|p| p.scheme == Scheme::Cenc)
        {
            for system in [DrmSystem::PlayReady, DrmSystem::Widevine] {
                policy.drm.push(DrmSignal { scheme, system, license_url_template: None });
            }
            notes.push(format!("{key}: no DRM named: PlayReady and Widevine signalled, as Media Services did"));
        }
        if scheme == Scheme::Cbcs
            && policy.drm.iter().all(|d| d.scheme != Scheme::Cbcs)
            && policy.protocols.iter().any(|p| p.scheme == Scheme::Cbcs)
        {
            policy.drm.push(DrmSignal { scheme, system: DrmSystem::FairPlay, license_url_template: None });
            notes.push(format!("{key}: no DRM named: FairPlay signalled, as Media Services did"));
        }
    }
    if policy.protocols.is_empty() {
        return Err(format!("streaming policy '{name}' enables no protocol"));
    }
    policy.validate().map_err(|e| e.message().to_owned())?;
    Ok(ImportStreaming { source: source.to_owned(), policy, notes })
}

/// A token key as `az ams content-key-policy show --with-secrets` prints it: the
/// key's bytes as UTF-8 text, bytes that are not UTF-8 dropped. An HS256 key made
/// from text (`az ams content-key-policy create --token-key`) survives that; public
/// keys (random bytes) do not, so they are refused with the way to give them.
fn az_token_key(
    k: &Value,
    kind: &str,
    policy: &str,
    option: &str,
    notes: &mut Vec<String>,
) -> Result<ImportTokenKey, String> {
    let rest = "export the policy with the REST API instead (`az rest --method post --url <policy id>/getPolicyPropertiesWithSecrets?api-version=2022-08-01`, which writes keys in base64)";
    match kind.to_ascii_lowercase().as_str() {
        "contentkeypolicysymmetrictokenkey" => {
            let text = match k.get("keyValue") {
                Some(Value::String(s)) => Zeroizing::new(s.as_bytes().to_vec()),
                _ => return Err(format!("option '{option}': an HS256 keyValue is not text")),
            };
            notes.push(format!(
                "option '{option}': az prints HS256 keys as text and drops bytes that are not UTF-8: if the key was not made from text, tokens signed with it will be refused; {rest}"
            ));
            Ok(ImportTokenKey::Symmetric(token_secret(text, policy)?))
        }
        _ => Err(format!("option '{option}': az prints {kind} as lossy text, so the public key cannot be read back; {rest}, or give it with `content-key-policy create --rs256-key` / `--x509`")),
    }
}
