use serde_json::{json, Value};

use super::*;
use crate::ams::{read_export, Export};
use crate::protection::policy::TokenKey;
use crate::protection::streaming_policy::{DrmSystem, Scheme};

fn folder(dir: &str, files: &[&str]) -> Export {
    let docs: Vec<(String, Value)> = files
        .iter()
        .map(|f| {
            let path = format!("{}/../tests/data/ams/{dir}/{f}", env!("CARGO_MANIFEST_DIR"));
            (f.to_string(), serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap())
        })
        .collect();
    read_export(&docs).unwrap()
}

fn v3() -> Export {
    folder(
        "v3-protected",
        &[
            "assets.json",
            "streaming-locators.json",
            "locator-aes-content-keys.json",
            "content-key-policies.json",
            "content-key-policy-TokenedClearKey.secrets.json",
            "content-key-policy-LegacySwt.secrets.json",
            "streaming-policies.json",
        ],
    )
}

fn rejected_reason<'e>(export: &'e Export, id: &str) -> &'e str {
    let r = export.rejected.iter().find(|r| r.id.as_deref() == Some(id));
    &r.unwrap_or_else(|| panic!("{id} not rejected: {:?}", export.rejected)).reason
}

#[test]
fn a_v3_export_gives_keys_with_their_values_policies_with_their_secrets_and_streaming_policies() {
    let export = v3();
    assert_eq!(export.locators.len(), 3, "the locators are still the asset reader's: {:?}", export.rejected);
    let p = &export.protection;
    let key = |id: &str| p.keys.iter().find(|k| k.id_text == id).unwrap();
    let cenc = key("c0ffee00-1111-4222-8333-444455556666");
    assert_eq!((cenc.key_type, cenc.policy_name.as_deref()), (ContentKeyType::Cenc, Some("TokenedClearKey")));
    assert!(matches!(&cenc.held, KeyHeld::Clear(v) if v.reveal_base64().as_str() == "m4677o6p7d7LZCinBJ7Vbw=="));
    // The locator lists it without a value; list-content-keys' file holds it.
    let aes = key("d0ffee00-1111-4222-8333-444455556666");
    assert!(matches!(&aes.held, KeyHeld::Clear(v) if v.reveal_base64().as_str() == "lEpmcFRY2X7q3dc8wP4ypA=="));
    assert_eq!(key("e0ffee00-1111-4222-8333-444455556666").held, KeyHeld::Absent);

    let policy =
        |n: &str| p.policies.iter().find(|x| x.name == n).unwrap_or_else(|| panic!("{n}: {:?}", export.rejected));
    let tokened = policy("TokenedClearKey");
    assert!(tokened.has_secrets());
    let ImportRestriction::Token { issuer, keys, required_claims, .. } = &tokened.options[0].restriction else {
        panic!("a token restriction")
    };
    assert_eq!(issuer, "https://issuer.example/");
    assert!(matches!(&keys[0], ImportTokenKey::Symmetric(s) if s.0.len() == 64));
    assert!(matches!(&keys[1], ImportTokenKey::Public(TokenKey::Rsa { exponent, .. }) if exponent == "AQAB"));
    assert_eq!(required_claims[0].claim_type, crate::protection::policy::CONTENT_KEY_ID_CLAIM);
    let drm = policy("MultiDrm");
    let deliveries: Vec<KeyDelivery> = drm.options.iter().map(|o| o.delivery).collect();
    assert_eq!(deliveries, [KeyDelivery::PlayReady, KeyDelivery::Widevine, KeyDelivery::FairPlay]);
    assert_eq!(drm.notes.len(), 3, "each licence configuration not kept is named: {:?}", drm.notes);
    let swt = policy("LegacySwt");
    assert!(swt.notes.iter().any(|n| n.contains("SWT")), "{:?}", swt.notes);
    assert!(swt.notes.iter().any(|n| n.contains("drops bytes that are not UTF-8")), "{:?}", swt.notes);
    assert!(rejected_reason(&export, "NoSecretsExported").contains("show --with-secrets"));

    let names: Vec<&str> = p.streaming.iter().map(|s| s.policy.name.as_str()).collect();
    assert_eq!(names, ["Predefined_ClearKey", "CencClearKey"]);
    let custom = &p.streaming[1].policy;
    assert_eq!(custom.default_content_key_policy_name.as_deref(), Some("TokenedClearKey"));
    let systems: Vec<(Scheme, DrmSystem, bool)> =
        custom.drm.iter().map(|d| (d.scheme, d.system, d.license_url_template.is_some())).collect();
    assert_eq!(systems, [(Scheme::Cenc, DrmSystem::ClearKey, false), (Scheme::Cenc, DrmSystem::PlayReady, true)]);
    assert!(rejected_reason(&export, "EnvelopeAndCencOnDash").contains("one scheme per protocol"));

    // No secret reaches Debug, a rejection or a note.
    let shown = format!("{export:?}{}", serde_json::to_string(&export).unwrap());
    for secret in
        ["m4677o6p7d7LZCinBJ7Vbw", "lEpmcFRY2X7q3dc8wP4ypA", "4pjy6urTE+VWrmLIEWS1", "legacy-swt-signing-secret"]
    {
        assert!(!shown.contains(secret), "{secret} shown");
    }
}

#[test]
fn a_key_given_twice_with_different_values_is_refused_everywhere_and_no_value_is_quoted() {
    let a = "AAECAwQFBgcICQoLDA0ODw==";
    let b = "DwAOAQ0CDAMLBAoFCQYIBw==";
    let keys = json!([
        {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "type": "CommonEncryptionCenc", "value": a},
        {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "type": "CommonEncryptionCenc", "value": b},
        {"id": "4fa85f64-5717-4562-b3fc-2c963f66afa6", "type": "CommonEncryptionCenc", "value": "!!!not base64!!!"},
        {"id": "not-a-uuid", "type": "CommonEncryptionCenc", "value": a},
        {"id": "5fa85f64-5717-4562-b3fc-2c963f66afa6", "type": "CommonEncryptionCenc", "value": a},
        {"id": "5fa85f64-5717-4562-b3fc-2c963f66afa6", "type": "CommonEncryptionCenc", "value": a}
    ]);
    let export = read_export(&[("keys.json".into(), keys)]).unwrap();
    assert_eq!(export.protection.keys.len(), 1, "the same key twice is one key: {:?}", export.rejected);
    assert_eq!(export.rejected.len(), 4, "{:?}", export.rejected);
    let reasons = format!("{:?}", export.rejected);
    assert!(reasons.contains("different keys"));
    for v in [a, b, "not base64"] {
        assert!(!reasons.contains(v), "{v} quoted: {reasons}");
    }
}

#[test]
fn hostile_policies_are_refused_with_a_reason_and_never_quote_their_keys() {
    let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==";
    let policy = |restriction: Value| {
        json!({"name": "P", "policyId": "00000000-0000-0000-0000-000000000001", "options": [
            {"name": "o", "configuration": {"@odata.type": "#Microsoft.Media.ContentKeyPolicyClearKeyConfiguration"},
             "restriction": restriction}]})
    };
    let token = |key: Value, kind: &str| {
        json!({"@odata.type": "#Microsoft.Media.ContentKeyPolicyTokenRestriction", "issuer": "i", "audience": "a",
               "primaryVerificationKey": key, "restrictionTokenType": kind})
    };
    let sym = |v: Value| json!({"@odata.type": "#Microsoft.Media.ContentKeyPolicySymmetricTokenKey", "keyValue": v});
    let cases = [
        (token(sym(json!("AAA=")), "Jwt"), "2 bytes"),
        (token(sym(json!(secret)), "Saml"), "neither Jwt nor Swt"),
        (token(sym(json!(12)), "Jwt"), "neither base64"),
        (json!({"@odata.type": "#Microsoft.Media.ContentKeyPolicyUnknownRestriction"}), "not one mirrorcast knows"),
        (
            json!({"@odata.type": "#Microsoft.Media.ContentKeyPolicyTokenRestriction", "issuer": "i", "audience": "a",
                "openIdConnectDiscoveryDocument": "https://login.example/.well-known/openid-configuration"}),
            "does not fetch",
        ),
    ];
    for (restriction, why) in cases {
        let export = read_export(&[("p.json".into(), policy(restriction))]).unwrap();
        let reason = rejected_reason(&export, "P");
        assert!(reason.contains(why), "{why}: {reason}");
        assert!(!reason.contains(secret) && !reason.contains("c2VjcmV0"), "{reason}");
    }
}

#[test]
fn v2_keys_policies_and_delivery_policies_are_read_and_encrypted_keys_named() {
    let export = folder(
        "v2-protected",
        &["ContentKeys.json", "ContentKeyAuthorizationPolicies.json", "AssetDeliveryPolicies.json"],
    );
    let p = &export.protection;
    assert_eq!(p.keys.len(), 1, "{:?}", export.rejected);
    assert_eq!(p.keys[0].key_type, ContentKeyType::Cenc, "v2 ContentKeyType 0 is CommonEncryption");
    assert!(
        matches!(&p.keys[0].held, KeyHeld::Encrypted { protection_key_id } if protection_key_id.starts_with("7D9BB04D"))
    );
    assert!(rejected_reason(&export, "nb:kid:UUID:f1ffee00-1111-4222-8333-444455556666").contains("storage encryption"));

    let policy = &p.policies[0];
    assert_eq!(
        policy.name, "v2-1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
        "a free-text name is replaced: {:?}",
        policy.notes
    );
    let ImportRestriction::Token { issuer, audience, keys, required_claims } = &policy.options[0].restriction else {
        panic!("token")
    };
    assert_eq!((issuer.as_str(), audience.as_str(), keys.len()), ("http://testacs.com/", "urn:test", 1));
    assert_eq!(required_claims[0].claim_value, None);
    assert!(rejected_reason(&export, "ip-only").contains("IP restriction"));

    let names: Vec<&str> = p.streaming.iter().map(|s| s.policy.name.as_str()).collect();
    assert_eq!(names, ["v2-4d5e6f7a-8b9c-4d0e-bf1a-2b3c4d5e6f7a", "envelope-hls"]);
    let cenc = &p.streaming[0].policy;
    assert_eq!(cenc.protocols.len(), 2, "Smooth and DASH");
    assert_eq!(cenc.drm[1].license_url_template.as_deref(), Some("https://drm.example/Widevine/?kid={ContentKeyId}"));
    let envelope = &p.streaming[1];
    assert_eq!(
        envelope.policy.envelope_key_url_template.as_deref(),
        Some("https://keys.example/envelope?kid={ContentKeyId}")
    );
    assert!(envelope.notes.iter().any(|n| n.contains("IV")), "{:?}", envelope.notes);
}

#[test]
fn v2_token_templates_that_are_hostile_are_refused() {
    let mut notes = Vec::new();
    let read = |xml: &str, notes: &mut Vec<String>| restriction_xml::token_restriction(xml, "p", "o", notes);
    assert!(read("<TokenRestrictionTemplate><Issuer>x</Issuer>", &mut notes).unwrap_err().contains("no Audience"));
    assert!(read("<a><b>", &mut notes).is_err());
    let deep = format!("{}{}", "<a>".repeat(50), "</a>".repeat(50));
    assert!(read(&deep, &mut notes).unwrap_err().contains("too deep"));
    assert!(read(&"x".repeat(70_000), &mut notes).unwrap_err().contains("longer than"));
    let rsa = r#"<TokenRestrictionTemplate xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><Audience>a</Audience><Issuer>i</Issuer><PrimaryVerificationKey i:type="RsaTokenKey"><KeyValue>AQAB</KeyValue></PrimaryVerificationKey><TokenType>SWT</TokenType></TokenRestrictionTemplate>"#;
    assert!(read(rsa, &mut notes).unwrap_err().contains("RsaTokenKey"));
}
