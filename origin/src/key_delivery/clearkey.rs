//! W3C ClearKey licences (pure): the key ids of an EME licence request
//! (`{"kids":["<base64url>",…],"type":"temporary"}`) and the JWK set that answers
//! it (`{"keys":[{"kty":"oct","k":"<base64url>","kid":"<base64url>"}],"type":"temporary"}`).

use std::sync::Arc;

use base64::Engine as _;
use mirrorcast_media::encryption::ContentKey;
use serde::Deserialize;
use uuid::Uuid;

/// Most key ids one licence request may ask for (a stream has one per track kind at most).
pub(crate) const MAX_KIDS: usize = 16;

/// Longest licence request body read (one with [`MAX_KIDS`] ids is under 1 KiB).
pub(crate) const MAX_REQUEST_BYTES: usize = 8 * 1024;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Deserialize)]
struct LicenceRequest {
    kids: Vec<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// The key ids a licence request asks for, each once, in its order; or why it is refused (400).
pub(crate) fn requested_key_ids(body: &[u8]) -> Result<Vec<Uuid>, &'static str> {
    let request: LicenceRequest =
        serde_json::from_slice(body).map_err(|_| "not a ClearKey licence request (JSON with kids)")?;
    if request.kind.as_deref().is_some_and(|k| k != "temporary") {
        return Err("only temporary ClearKey licences are issued");
    }
    if request.kids.is_empty() || request.kids.len() > MAX_KIDS {
        return Err("a licence request names 1 to 16 key ids");
    }
    let mut ids = Vec::with_capacity(request.kids.len());
    for kid in &request.kids {
        // Padding is not base64url's, but some clients add it.
        let bytes = B64URL.decode(kid.trim_end_matches('=')).map_err(|_| "a key id is not base64url")?;
        let id = Uuid::from_slice(&bytes).map_err(|_| "a key id is not 16 bytes")?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The licence: a JWK set of the keys, as EME's ClearKey CDM reads it.
pub(crate) fn licence(keys: &[(Uuid, Arc<ContentKey>)]) -> String {
    let keys: Vec<serde_json::Value> = keys
        .iter()
        .map(|(id, value)| {
            serde_json::json!({"kty": "oct", "k": B64URL.encode(value.key()), "kid": B64URL.encode(id.as_bytes())})
        })
        .collect();
    serde_json::json!({ "keys": keys, "type": "temporary" }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_licence_request_names_key_ids_in_base64url_and_the_answer_is_a_jwk_set() {
        let id = Uuid::from_u128(0xfbfb_0000_1111_2222_3333_4444_5555_6666);
        let kid = B64URL.encode(id.as_bytes());
        let body = format!(r#"{{"kids":["{kid}","{kid}="],"type":"temporary"}}"#);
        assert_eq!(requested_key_ids(body.as_bytes()), Ok(vec![id]), "padded or not, each once");
        assert_eq!(requested_key_ids(format!(r#"{{"kids":["{kid}"]}}"#).as_bytes()), Ok(vec![id]));
        let value = Arc::new(ContentKey::new(mirrorcast_media::encryption::KeyId(*id.as_bytes()), [0xab; 16]));
        let answer: serde_json::Value = serde_json::from_str(&licence(&[(id, value)])).unwrap();
        assert_eq!(answer["type"], "temporary");
        assert_eq!(answer["keys"][0]["kty"], "oct");
        assert_eq!(answer["keys"][0]["kid"], kid.as_str());
        assert_eq!(B64URL.decode(answer["keys"][0]["k"].as_str().unwrap()).unwrap(), [0xab; 16]);
    }

    #[test]
    fn hostile_licence_requests_are_refused() {
        let kid = B64URL.encode([1u8; 16]);
        let many = format!(r#"{{"kids":[{}]}}"#, vec![format!("\"{kid}\""); MAX_KIDS + 1].join(","));
        for bad in [
            "".to_owned(),
            "[]".into(),
            r#"{"kids":[]}"#.into(),
            r#"{"kids":"abc"}"#.into(),
            r#"{"kids":["%%%"]}"#.into(),
            format!(r#"{{"kids":["{}"]}}"#, B64URL.encode([1u8; 15])),
            format!(r#"{{"kids":["{kid}"],"type":"persistent-license"}}"#),
            many,
        ] {
            assert!(requested_key_ids(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
