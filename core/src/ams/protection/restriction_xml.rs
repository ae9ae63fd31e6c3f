//! v2 token restriction templates: the `Requirements` XML of a content key
//! authorization policy option's restriction (Media Services'
//! `TokenRestrictionTemplate`), read into a token restriction. Bounded, and a
//! reason never quotes a key.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::Value;

use super::{secret_bytes, token_secret, ImportRestriction, ImportTokenKey};
use crate::protection::policy::{RequiredClaim, TokenKey};

/// The largest template read (Media Services' are a few hundred bytes).
const MAX_XML: usize = 64 * 1024;
const MAX_KEYS: usize = 16;
const MAX_CLAIMS: usize = 64;

#[derive(Default)]
struct KeyRead {
    kind: String,
    value: Option<String>,
}

/// The restriction `xml` states; `notes` gets what is kept with a caveat.
pub(super) fn token_restriction(
    xml: &str,
    policy: &str,
    option: &str,
    notes: &mut Vec<String>,
) -> Result<ImportRestriction, String> {
    if xml.len() > MAX_XML {
        return Err(format!("option '{option}': its token restriction is longer than {MAX_XML} bytes"));
    }
    let bad = |why: &str| format!("option '{option}': its token restriction template {why}");
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let (mut issuer, mut audience, mut token_type, mut discovery) = (None, None, None, None);
    let mut keys: Vec<KeyRead> = Vec::new();
    let mut claims: Vec<(Option<String>, Option<String>)> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|_| bad("is not well-formed XML"))?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) if path.len() < 8 => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let is_key = name == "PrimaryVerificationKey"
                    || (name == "TokenVerificationKey"
                        && path.last().is_some_and(|p| p == "AlternateVerificationKeys"));
                if is_key {
                    if keys.len() >= MAX_KEYS {
                        return Err(bad(&format!("holds more than {MAX_KEYS} keys")));
                    }
                    let kind = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == b"type")
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                        .unwrap_or_default();
                    // The primary key first, whatever the order of the elements.
                    let k = KeyRead { kind, value: None };
                    if name == "PrimaryVerificationKey" {
                        keys.insert(0, k)
                    } else {
                        keys.push(k)
                    }
                }
                if name == "TokenClaim" {
                    if claims.len() >= MAX_CLAIMS {
                        return Err(bad(&format!("holds more than {MAX_CLAIMS} claims")));
                    }
                    claims.push((None, None));
                }
                path.push(name);
                if empty {
                    path.pop();
                }
            }
            Event::Start(_) | Event::Empty(_) => return Err(bad("is nested too deep")),
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|_| bad("holds text that is not XML"))?.into_owned();
                let here = path.last().map(String::as_str).unwrap_or("");
                let parent = path.len().checked_sub(2).map(|i| path[i].as_str()).unwrap_or("");
                match (parent, here) {
                    ("TokenRestrictionTemplate", "Issuer") => issuer = Some(text),
                    ("TokenRestrictionTemplate", "Audience") => audience = Some(text),
                    ("TokenRestrictionTemplate", "TokenType") => token_type = Some(text),
                    ("TokenRestrictionTemplate", "OpenIdConnectDiscoveryDocument") => discovery = Some(text),
                    ("PrimaryVerificationKey", "KeyValue" | "RawBody") => {
                        if let Some(k) = keys.first_mut() {
                            k.value = Some(text);
                        }
                    }
                    ("TokenVerificationKey", "KeyValue" | "RawBody") => {
                        if let Some(k) = keys.last_mut() {
                            k.value = Some(text);
                        }
                    }
                    ("TokenClaim", "ClaimType") => {
                        if let Some(c) = claims.last_mut() {
                            c.0 = Some(text);
                        }
                    }
                    ("TokenClaim", "ClaimValue") => {
                        if let Some(c) = claims.last_mut() {
                            c.1 = Some(text);
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let issuer = issuer.ok_or_else(|| bad("has no Issuer"))?;
    let audience = audience.ok_or_else(|| bad("has no Audience"))?;
    let mut token_keys = Vec::new();
    for k in keys {
        let value = Value::String(k.value.unwrap_or_default());
        let kind = k.kind.rsplit(':').next().unwrap_or("").to_owned();
        token_keys.push(match kind.as_str() {
            "SymmetricVerificationKey" => ImportTokenKey::Symmetric(token_secret(
                secret_bytes(&value, &format!("option '{option}': a KeyValue"))?,
                policy,
            )?),
            "X509CertTokenVerificationKey" => {
                use base64::Engine as _;
                let der = secret_bytes(&value, &format!("option '{option}': a RawBody"))?;
                ImportTokenKey::Public(TokenKey::X509 {
                    certificate: base64::engine::general_purpose::STANDARD.encode(&der[..]),
                })
            }
            other => return Err(bad(&format!("has a verification key of type '{other}' (symmetric or X.509 only)"))),
        });
    }
    if token_keys.is_empty() {
        return Err(match discovery {
            Some(doc) => bad(&format!(
                "takes its keys from the OpenID discovery document {doc}, which mirrorcast does not fetch"
            )),
            None => bad("has no verification key"),
        });
    }
    match token_type.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("JWT") => {}
        Some("SWT") => notes.push(format!(
            "option '{option}': Media Services took SWT tokens here; mirrorcast checks JWTs only (same issuer, audience, key and claims): issue JWTs to the apps"
        )),
        Some(other) => return Err(bad(&format!("has token type '{other}' (JWT or SWT)"))),
    }
    let required_claims = claims
        .into_iter()
        .map(|(t, v)| t.map(|claim_type| RequiredClaim { claim_type, claim_value: v.filter(|v| !v.is_empty()) }))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad("has a TokenClaim without ClaimType"))?;
    Ok(ImportRestriction::Token { issuer, audience, keys: token_keys, required_claims })
}
