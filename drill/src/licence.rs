//! A protected DASH stream's W3C ClearKey licence, as a player's EME ClearKey CDM asks for it
//! (pure): the key ids (`cenc:default_KID`) and licence URL (`dashif:laurl` or `clearkey:Laurl`)
//! an MPD signals, the licence request body, and whether the licence answers every key id.
//! The keys themselves are only checked, never kept: the drill saves the encrypted segments.

use base64::Engine as _;

/// The W3C ClearKey system id, as an MPD's `ContentProtection@schemeIdUri` names it.
pub const CLEARKEY_SYSTEM: &str = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e";

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// What an MPD says about its protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// No `cenc:default_KID`: a clear stream.
    Clear,
    /// Encrypted, and ClearKey signalled: the licence URL (as written, maybe relative) and the key ids.
    ClearKey {
        /// The licence URL as written (maybe relative to the MPD).
        licence_url: String,
        /// The key ids, each once.
        key_ids: Vec<[u8; 16]>,
    },
    /// Encrypted with no ClearKey licence URL: no key the drill can get.
    Unsupported(String),
}

/// The values of every `name="…"` attribute in `text`, in order.
fn attributes<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!("{name}=\"");
    text.match_indices(&needle).filter_map(|(at, _)| text[at + needle.len()..].split('"').next()).collect()
}

/// The text of the first `<tag>…</tag>` element in `text`.
fn element<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let from = text.find(&open)? + open.len();
    let to = text[from..].find(&format!("</{tag}>"))? + from;
    Some(text[from..to].trim())
}

/// A key id as MPDs write it (a UUID, dashes optional) → its 16 bytes.
fn key_id(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The protection an MPD signals (XML entities in the licence URL are unescaped).
pub fn protection(mpd: &str) -> Protection {
    let mut key_ids = Vec::new();
    for kid in attributes(mpd, "cenc:default_KID") {
        match key_id(kid) {
            Some(id) if !key_ids.contains(&id) => key_ids.push(id),
            Some(_) => {}
            None => return Protection::Unsupported(format!("cenc:default_KID '{kid}' is not a key id")),
        }
    }
    if key_ids.is_empty() {
        return Protection::Clear;
    }
    let Some(at) = mpd.to_ascii_lowercase().find(CLEARKEY_SYSTEM) else {
        return Protection::Unsupported("encrypted, and ClearKey is not signalled: no key for the drill".into());
    };
    let after = &mpd[at..];
    let scope = &after[..after.find("</ContentProtection>").unwrap_or(after.len())];
    match element(scope, "dashif:laurl").or_else(|| element(scope, "clearkey:Laurl")) {
        Some(url) if !url.is_empty() => Protection::ClearKey {
            licence_url: url.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"),
            key_ids,
        },
        _ => Protection::Unsupported("ClearKey is signalled without a licence URL (dashif:laurl)".into()),
    }
}

/// The licence request EME's ClearKey CDM sends for `key_ids`.
pub fn request(key_ids: &[[u8; 16]]) -> String {
    let kids: Vec<String> = key_ids.iter().map(|k| B64URL.encode(k)).collect();
    serde_json::json!({ "kids": kids, "type": "temporary" }).to_string()
}

/// Ok when the licence (a JWK set) holds a 16-byte key for every one of `key_ids`; else what is wrong.
/// The message never carries key material.
pub fn check(licence: &[u8], key_ids: &[[u8; 16]]) -> Result<(), String> {
    let jwks: serde_json::Value =
        serde_json::from_slice(licence).map_err(|_| "the licence is not JSON (a ClearKey JWK set)".to_owned())?;
    let keys = jwks["keys"].as_array().ok_or("the licence has no keys")?;
    let decode = |v: &serde_json::Value| v.as_str().and_then(|s| B64URL.decode(s.trim_end_matches('=')).ok());
    for (n, wanted) in key_ids.iter().enumerate() {
        let found = keys.iter().any(|k| {
            decode(&k["kid"]).is_some_and(|kid| kid == wanted) && decode(&k["k"]).is_some_and(|key| key.len() == 16)
        });
        if !found {
            return Err(format!("the licence holds no 16-byte key for key id {} of {}", n + 1, key_ids.len()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KID: &str = "0b5b0a64-2d7e-4c1e-9d3a-5f7c8e9a1b2c";

    fn mpd(protection: &str) -> String {
        format!(
            "<MPD><Period><AdaptationSet><ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" \
             value=\"cenc\" cenc:default_KID=\"{KID}\"/>{protection}</AdaptationSet><AdaptationSet>\
             <ContentProtection cenc:default_KID=\"{KID}\"/></AdaptationSet></Period></MPD>"
        )
    }

    #[test]
    fn a_clearkey_mpd_names_its_licence_url_and_each_key_id_once() {
        let text = mpd(&format!(
            "<ContentProtection schemeIdUri=\"{CLEARKEY_SYSTEM}\"><dashif:laurl>/keys/clearkey?a=1&amp;b=2</dashif:laurl></ContentProtection>"
        ));
        let Protection::ClearKey { licence_url, key_ids } = protection(&text) else { panic!("{text}") };
        assert_eq!(licence_url, "/keys/clearkey?a=1&b=2");
        assert_eq!(key_ids, [key_id(KID).unwrap()]);
        assert_eq!(key_ids[0][0], 0x0b);
        let body: serde_json::Value = serde_json::from_str(&request(&key_ids)).unwrap();
        assert_eq!(body["kids"][0], B64URL.encode(key_ids[0]));
        assert_eq!(body["type"], "temporary");
    }

    #[test]
    fn clear_unsupported_and_broken_protection_are_told_apart() {
        assert_eq!(protection("<MPD><Period/></MPD>"), Protection::Clear);
        assert!(matches!(protection(&mpd("")), Protection::Unsupported(m) if m.contains("ClearKey is not signalled")));
        let no_url = mpd(&format!("<ContentProtection schemeIdUri=\"{CLEARKEY_SYSTEM}\"/>"));
        assert!(matches!(protection(&no_url), Protection::Unsupported(m) if m.contains("licence URL")));
        let bad = "<ContentProtection cenc:default_KID=\"nope\"/>";
        assert!(matches!(protection(bad), Protection::Unsupported(m) if m.contains("'nope'")));
    }

    #[test]
    fn a_licence_must_hold_a_key_for_every_key_id() {
        let (a, b) = ([1u8; 16], [2u8; 16]);
        let jwk =
            |kid: &[u8], k: &[u8]| serde_json::json!({"kty": "oct", "kid": B64URL.encode(kid), "k": B64URL.encode(k)});
        let licence = |keys: Vec<serde_json::Value>| serde_json::json!({ "keys": keys }).to_string().into_bytes();
        assert_eq!(check(&licence(vec![jwk(&a, &[9; 16]), jwk(&b, &[8; 16])]), &[a, b]), Ok(()));
        let missing = check(&licence(vec![jwk(&a, &[9; 16])]), &[a, b]).unwrap_err();
        assert!(missing.contains("key id 2 of 2"), "{missing}");
        assert!(check(&licence(vec![jwk(&a, &[9; 8])]), &[a]).is_err(), "a short key is no key");
        assert!(check(b"<html>", &[a]).unwrap_err().contains("not JSON"));
        assert!(check(b"{}", &[a]).unwrap_err().contains("no keys"));
    }
}
