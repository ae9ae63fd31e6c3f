//! The token checker against tokens signed here: an HS256 secret, and a fixed RSA
//! test key (tests/data/token-signer.*, made once with `openssl genrsa -traditional 2048`
//! and `openssl req -x509`; it signs test tokens only).

use base64::Engine as _;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

use super::*;

const SIGNER_KEY: &str = include_str!("../../../tests/data/token-signer.key.pem");
const SIGNER_CERT: &str = include_str!("../../../tests/data/token-signer.cert.pem");
const SECRET: &[u8] = b"a 32-byte HS256 test secret ....";
const NOW: i64 = 1_800_000_000;
const KID: Uuid = Uuid::from_u128(0x3fa8_5f64_5717_4562_b3fc_2c96_3f66_afa6);

/// The base64 body of a PEM block.
fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    B64.decode(body).unwrap()
}

fn rsa_signer() -> EncodingKey {
    EncodingKey::from_rsa_der(&pem_body(SIGNER_KEY))
}

/// The test key's public half as Media Services held it: modulus and exponent in base64.
fn rsa_components() -> (String, String) {
    let der = pem_body(SIGNER_CERT);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = cert.public_key().parsed() else { panic!("an RSA key") };
    (B64.encode(rsa.modulus), B64.encode(rsa.exponent))
}

fn claims_ok() -> serde_json::Value {
    json!({
        "iss": "https://issuer.example",
        "aud": "urn:viewers",
        "exp": NOW + 600,
        "nbf": NOW - 10,
        CONTENT_KEY_ID_CLAIM: KID.to_string(),
        "tier": "gold",
    })
}

fn required() -> Vec<RequiredClaim> {
    vec![
        RequiredClaim { claim_type: CONTENT_KEY_ID_CLAIM.into(), claim_value: None },
        RequiredClaim { claim_type: "tier".into(), claim_value: Some("gold".into()) },
    ]
}

fn terms<'a>(keys: Vec<VerifyingKey>, required: &'a [RequiredClaim]) -> TokenTerms<'a> {
    TokenTerms { issuer: "https://issuer.example", audience: "urn:viewers", keys, required_claims: required }
}

fn hs(claims: &serde_json::Value) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(SECRET)).unwrap()
}

fn rs(claims: &serde_json::Value) -> String {
    encode(&Header::new(Algorithm::RS256), claims, &rsa_signer()).unwrap()
}

fn with(change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> serde_json::Value {
    let mut c = claims_ok();
    change(c.as_object_mut().unwrap());
    c
}

/// A token with this header and claims, and a signature of garbage.
fn unsigned(header: &serde_json::Value, claims: &serde_json::Value, signature: &str) -> String {
    format!("{}.{}.{signature}", B64URL.encode(header.to_string()), B64URL.encode(claims.to_string()))
}

#[test]
fn a_valid_token_gets_the_key_under_hs256_rs256_and_x509() {
    let req = required();
    assert_eq!(check(&hs(&claims_ok()), &terms(vec![VerifyingKey::hs256(SECRET)], &req), &KID, NOW), Ok(()));
    let (n, e) = rsa_components();
    let rsa = terms(vec![VerifyingKey::rs256(&n, &e).unwrap()], &req);
    assert_eq!(check(&rs(&claims_ok()), &rsa, &KID, NOW), Ok(()));
    let cert = B64.encode(pem_body(SIGNER_CERT));
    let x509 = terms(vec![VerifyingKey::x509(&cert).unwrap()], &req);
    assert_eq!(check(&rs(&claims_ok()), &x509, &KID, NOW), Ok(()));
    // An alternate key (rollover): the primary does not verify, the second does.
    let rolled =
        terms(vec![VerifyingKey::hs256(b"the old secret, now retired....."), VerifyingKey::hs256(SECRET)], &req);
    assert_eq!(check(&hs(&claims_ok()), &rolled, &KID, NOW), Ok(()));
    // A list audience holding the policy's, a key id in Media Services' nb:kid form.
    let listed = with(|c| {
        c.insert("aud".into(), json!(["other", "urn:viewers"]));
        c.insert(CONTENT_KEY_ID_CLAIM.into(), json!(format!("nb:kid:UUID:{KID}")));
    });
    assert_eq!(check(&hs(&listed), &terms(vec![VerifyingKey::hs256(SECRET)], &req), &KID, NOW), Ok(()));
}

#[test]
fn lifetimes_are_checked_with_sixty_seconds_of_skew() {
    let req = required();
    let t = terms(vec![VerifyingKey::hs256(SECRET)], &req);
    let at = |exp: i64, nbf: i64| {
        hs(&with(|c| {
            c.insert("exp".into(), json!(exp));
            c.insert("nbf".into(), json!(nbf));
        }))
    };
    assert_eq!(check(&at(NOW - 59, NOW - 600), &t, &KID, NOW), Ok(()), "expired within the skew");
    assert_eq!(check(&at(NOW - 60, NOW - 600), &t, &KID, NOW), Err(Refusal::Expired));
    assert_eq!(check(&at(NOW + 600, NOW + 60), &t, &KID, NOW), Ok(()), "not yet valid within the skew");
    assert_eq!(check(&at(NOW + 600, NOW + 61), &t, &KID, NOW), Err(Refusal::NotYetValid));
    let no_exp = hs(&with(|c| {
        c.remove("exp");
    }));
    assert_eq!(check(&no_exp, &t, &KID, NOW), Err(Refusal::NoExpiry));
    // CVE-2026-25537's shape: a string where a number belongs is refused, never skipped.
    for (claim, value) in [("exp", json!("99999999999")), ("nbf", json!("99999999999")), ("exp", json!(null))] {
        let bad = hs(&with(|c| {
            c.insert(claim.into(), value.clone());
        }));
        assert_eq!(check(&bad, &t, &KID, NOW), Err(Refusal::BadClaimType), "{claim}: {value}");
    }
    let fraction = hs(&with(|c| {
        c.insert("exp".into(), json!(NOW as f64 + 0.5));
    }));
    assert_eq!(check(&fraction, &t, &KID, NOW), Ok(()), "a NumericDate may have a fraction");
}

#[test]
fn issuer_audience_and_required_claims_are_each_refused_by_name() {
    let req = required();
    let t = terms(vec![VerifyingKey::hs256(SECRET)], &req);
    let cases: Vec<(serde_json::Value, Refusal)> = vec![
        (with(|c| drop(c.insert("iss".into(), json!("https://other.example")))), Refusal::WrongIssuer),
        (with(|c| drop(c.remove("iss"))), Refusal::WrongIssuer),
        (with(|c| drop(c.insert("iss".into(), json!(["https://issuer.example"])))), Refusal::BadClaimType),
        (with(|c| drop(c.insert("aud".into(), json!("urn:others")))), Refusal::WrongAudience),
        (with(|c| drop(c.insert("aud".into(), json!(["urn:others"])))), Refusal::WrongAudience),
        (with(|c| drop(c.remove("aud"))), Refusal::WrongAudience),
        (with(|c| drop(c.remove("tier"))), Refusal::MissingClaim),
        (with(|c| drop(c.insert("tier".into(), json!(null)))), Refusal::MissingClaim),
        (with(|c| drop(c.insert("tier".into(), json!("silver")))), Refusal::WrongClaim),
        (with(|c| drop(c.remove(CONTENT_KEY_ID_CLAIM))), Refusal::MissingClaim),
        (
            with(|c| drop(c.insert(CONTENT_KEY_ID_CLAIM.into(), json!(Uuid::from_u128(7).to_string())))),
            Refusal::OtherKey,
        ),
        (with(|c| drop(c.insert(CONTENT_KEY_ID_CLAIM.into(), json!("not a key id")))), Refusal::OtherKey),
    ];
    for (claims, want) in cases {
        assert_eq!(check(&hs(&claims), &t, &KID, NOW), Err(want), "{claims}");
    }
    // Not required by the policy, a key id claim still scopes the token to that key.
    let t = terms(vec![VerifyingKey::hs256(SECRET)], &[]);
    assert_eq!(check(&hs(&claims_ok()), &t, &Uuid::from_u128(7), NOW), Err(Refusal::OtherKey));
    let unscoped = with(|c| drop(c.remove(CONTENT_KEY_ID_CLAIM)));
    assert_eq!(check(&hs(&unscoped), &t, &Uuid::from_u128(7), NOW), Ok(()));
}

#[test]
fn signatures_and_algorithms_the_policy_does_not_allow_are_refused() {
    let req = required();
    let hs_terms = terms(vec![VerifyingKey::hs256(SECRET)], &req);
    let (n, e) = rsa_components();
    let rs_terms = terms(vec![VerifyingKey::rs256(&n, &e).unwrap()], &req);
    let claims = claims_ok();
    let wrong_secret =
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(b"another secret")).unwrap();
    assert_eq!(check(&wrong_secret, &hs_terms, &KID, NOW), Err(Refusal::BadSignature));
    // A valid token with its claims altered after signing.
    let good = hs(&claims);
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = B64URL.encode(with(|c| drop(c.insert("exp".into(), json!(NOW + 999_999)))).to_string());
    parts[1] = &forged;
    assert_eq!(check(&parts.join("."), &hs_terms, &KID, NOW), Err(Refusal::BadSignature));
    // alg=none, unsigned or with a signature of anything.
    for signature in ["", "AAAA"] {
        let none = unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims, signature);
        assert_eq!(check(&none, &hs_terms, &KID, NOW), Err(Refusal::AlgorithmNotAllowed), "{signature:?}");
        assert_eq!(check(&none, &rs_terms, &KID, NOW), Err(Refusal::AlgorithmNotAllowed));
    }
    // Algorithm confusion: HS256 signed with the RSA public key's bytes, against an RSA policy.
    let public_bytes = B64.decode(&n).unwrap();
    let confused = encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&public_bytes)).unwrap();
    assert_eq!(check(&confused, &rs_terms, &KID, NOW), Err(Refusal::AlgorithmNotAllowed));
    let pem = EncodingKey::from_secret(SIGNER_CERT.as_bytes());
    let confused_pem = encode(&Header::new(Algorithm::HS256), &claims, &pem).unwrap();
    assert_eq!(check(&confused_pem, &rs_terms, &KID, NOW), Err(Refusal::AlgorithmNotAllowed));
    // RS256 against an HS256 policy, other HMAC and RSA algorithms.
    assert_eq!(check(&rs(&claims), &hs_terms, &KID, NOW), Err(Refusal::AlgorithmNotAllowed));
    let hs384 = encode(&Header::new(Algorithm::HS384), &claims, &EncodingKey::from_secret(SECRET)).unwrap();
    assert_eq!(check(&hs384, &hs_terms, &KID, NOW), Err(Refusal::AlgorithmNotAllowed));
    let ps256 = encode(&Header::new(Algorithm::PS256), &claims, &rsa_signer()).unwrap();
    assert_eq!(check(&ps256, &rs_terms, &KID, NOW), Err(Refusal::AlgorithmNotAllowed));
}

#[test]
fn hostile_tokens_are_malformed_never_a_panic() {
    let req = required();
    let t = terms(vec![VerifyingKey::hs256(SECRET)], &req);
    let good = hs(&claims_ok());
    let long = format!("{good}{}", "A".repeat(MAX_TOKEN_BYTES));
    let (head, rest) = good.split_once('.').unwrap();
    let hostile = [
        String::new(),
        ".".into(),
        "..".into(),
        "a.b.c".into(),
        format!("{good}.extra"),
        format!("{head}.{head}"),
        format!("{}.{rest}", B64URL.encode("[1,2]")),
        format!("{}.{rest}", B64URL.encode("{\"alg\":5}")),
        unsigned(&json!({"alg": "HS256"}), &json!("a string"), "x"),
        format!("{head}.%%%.{}", rest.rsplit('.').next().unwrap()),
        long,
        "é.é.é".into(),
    ];
    for token in &hostile {
        let got = check(token, &t, &KID, NOW);
        assert!(
            matches!(got, Err(Refusal::Malformed | Refusal::BadSignature | Refusal::AlgorithmNotAllowed)),
            "{token:.40}: {got:?}"
        );
    }
    // Keys that are not keys are refused as such.
    assert!(VerifyingKey::x509("bm90IGEgY2VydA==").is_err());
    assert!(VerifyingKey::rs256("%%", "AQAB").is_err());
    // Debug of a key names its algorithm, never the secret.
    let shown = format!("{:?}", VerifyingKey::hs256(SECRET));
    assert!(shown.contains("HS256") && !shown.contains("test secret"), "{shown}");
}
