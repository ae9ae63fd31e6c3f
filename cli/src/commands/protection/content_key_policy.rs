//! `content-key-policy create|list|show|delete`. HS256 token keys are read
//! from a variable or a file (never the command line, which others can see)
//! and wrapped under the data center's KEK at once.

use std::process::ExitCode;

use base64::Engine as _;
use chrono::Utc;
use mirrorcast_core::protection::policy::{
    KeyDelivery, PolicyOption, RequiredClaim, Restriction, TokenKey, TokenRestriction, CONTENT_KEY_ID_CLAIM,
};
use mirrorcast_core::protection::ContentKeyPolicy;
use mirrorcast_core::Error;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::args::protection::{ContentKeyPolicyCommand, CreatePolicy};
use crate::context::Context;
use crate::output;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A policy as shown: its terms, token keys by kind only.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyView {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    options: Vec<OptionView>,
    created: chrono::DateTime<Utc>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OptionView {
    name: String,
    delivery: KeyDelivery,
    restriction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audience: Option<String>,
    /// `hs256`, `rs256`, `x509`, primary first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    token_keys: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    required_claims: Vec<RequiredClaim>,
}

impl From<&ContentKeyPolicy> for PolicyView {
    fn from(p: &ContentKeyPolicy) -> Self {
        let options = p
            .options
            .iter()
            .map(|o| match &o.restriction {
                Restriction::Open => OptionView {
                    name: o.name.clone(),
                    delivery: o.delivery,
                    restriction: "open",
                    issuer: None,
                    audience: None,
                    token_keys: vec![],
                    required_claims: vec![],
                },
                Restriction::Token(t) => OptionView {
                    name: o.name.clone(),
                    delivery: o.delivery,
                    restriction: "token",
                    issuer: Some(t.issuer.clone()),
                    audience: Some(t.audience.clone()),
                    token_keys: std::iter::once(&t.primary_key).chain(&t.alternate_keys).map(TokenKey::label).collect(),
                    required_claims: t.required_claims.clone(),
                },
            })
            .collect();
        PolicyView { name: p.name.clone(), description: p.description.clone(), options, created: p.created }
    }
}

fn row(p: &PolicyView) -> Vec<String> {
    let o = &p.options[0];
    vec![
        p.name.clone(),
        o.restriction.to_owned(),
        o.issuer.clone().unwrap_or_else(|| "-".into()),
        o.audience.clone().unwrap_or_else(|| "-".into()),
        if o.token_keys.is_empty() { "-".into() } else { o.token_keys.join(",") },
    ]
}

const HEADERS: [&str; 5] = ["NAME", "RESTRICTION", "ISSUER", "AUDIENCE", "TOKEN KEYS"];

/// An HS256 key given in base64 by a variable or a file; `source` names it in errors.
fn symmetric_secret(text: &str, source: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    // `openssl rand -base64 64` wraps its output: whitespace inside is not part of the key.
    let compact: Zeroizing<String> = Zeroizing::new(text.chars().filter(|c| !c.is_whitespace()).collect());
    let decoded = B64.decode(compact.as_bytes()).map_err(|_| {
        Error::invalid_input(format!("{source}: an HS256 token key must be base64 (e.g. `openssl rand -base64 64`)"))
    })?;
    Ok(Zeroizing::new(decoded))
}

/// A certificate file, PEM or DER, as base64 DER.
fn certificate(path: &std::path::Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("--x509 '{}': {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    if let Some(start) = text.find("-----BEGIN CERTIFICATE-----") {
        let body = &text[start + 27..];
        let end = body.find("-----END CERTIFICATE-----").ok_or_else(|| {
            Error::invalid_input(format!("--x509 '{}': a PEM certificate without its END line", path.display()))
        })?;
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        B64.decode(&b64).map_err(|_| {
            Error::invalid_input(format!("--x509 '{}': the PEM certificate is not base64", path.display()))
        })?;
        return Ok(b64);
    }
    // DER: an X.509 certificate is an ASN.1 SEQUENCE.
    if bytes.first() != Some(&0x30) {
        return Err(Error::invalid_input(format!(
            "--x509 '{}' is neither a PEM nor a DER certificate",
            path.display()
        ))
        .into());
    }
    Ok(B64.encode(&bytes))
}

pub(crate) async fn run(ctx: &Context<'_>, command: ContentKeyPolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        ContentKeyPolicyCommand::Create(args) => {
            let CreatePolicy {
                dc,
                name,
                open,
                issuer,
                audience,
                hs256_key_env,
                hs256_key_file,
                rs256_key,
                x509,
                claim,
                require_key_id_claim,
                delivery,
                description,
            } = *args;
            let delivery: KeyDelivery = delivery.parse()?;
            let token_terms = !hs256_key_env.is_empty()
                || !hs256_key_file.is_empty()
                || !rs256_key.is_empty()
                || !x509.is_empty()
                || !claim.is_empty()
                || require_key_id_claim;
            let dc = ctx.dc(&dc.dc)?;
            let restriction = match (open, issuer, audience) {
                (true, _, _) if token_terms => {
                    return Err(Error::invalid_input("--open takes no token keys or claims").into());
                }
                (true, _, _) => Restriction::Open,
                (false, Some(issuer), Some(audience)) => {
                    let mut keys = Vec::new();
                    if !hs256_key_env.is_empty() || !hs256_key_file.is_empty() {
                        let kek = dc.kek.require("an HS256 token key (stored wrapped)").await?;
                        let mut secrets = Vec::new();
                        for var in &hs256_key_env {
                            let text = Zeroizing::new(std::env::var(var).map_err(|_| {
                                Error::invalid_input(format!("--hs256-key-env {var}: the variable is not set"))
                            })?);
                            secrets.push(symmetric_secret(&text, var)?);
                        }
                        for path in &hs256_key_file {
                            let text = Zeroizing::new(
                                std::fs::read_to_string(path)
                                    .map_err(|e| anyhow::anyhow!("--hs256-key-file '{}': {e}", path.display()))?,
                            );
                            secrets.push(symmetric_secret(&text, &format!("--hs256-key-file '{}'", path.display()))?);
                        }
                        for s in &secrets {
                            keys.push(TokenKey::seal_symmetric(s, &name, kek.as_ref()).await?);
                        }
                    }
                    for k in &rs256_key {
                        let (modulus, exponent) = k.split_once(':').ok_or_else(|| {
                            Error::invalid_input("--rs256-key is MODULUS:EXPONENT, each base64 (e.g. ...:AQAB)")
                        })?;
                        keys.push(TokenKey::Rsa { modulus: modulus.to_owned(), exponent: exponent.to_owned() });
                    }
                    for path in &x509 {
                        keys.push(TokenKey::X509 { certificate: certificate(path)? });
                    }
                    if keys.is_empty() {
                        return Err(Error::invalid_input(
                            "a token policy needs a key to check tokens with: --hs256-key-env, --hs256-key-file, --rs256-key or --x509",
                        )
                        .into());
                    }
                    let mut required_claims: Vec<RequiredClaim> = claim
                        .iter()
                        .map(|c| match c.split_once('=') {
                            Some((t, v)) => RequiredClaim { claim_type: t.to_owned(), claim_value: Some(v.to_owned()) },
                            None => RequiredClaim { claim_type: c.clone(), claim_value: None },
                        })
                        .collect();
                    if require_key_id_claim {
                        required_claims
                            .push(RequiredClaim { claim_type: CONTENT_KEY_ID_CLAIM.into(), claim_value: None });
                    }
                    let primary_key = keys.remove(0);
                    Restriction::Token(TokenRestriction {
                        issuer,
                        audience,
                        primary_key,
                        alternate_keys: keys,
                        required_claims,
                    })
                }
                _ => {
                    return Err(Error::invalid_input(
                        "say who may have the keys: --open, or --issuer and --audience with a token key",
                    )
                    .into())
                }
            };
            let policy = ContentKeyPolicy {
                name: name.clone(),
                description,
                options: vec![PolicyOption { name: "default".into(), delivery, restriction }],
                created: Utc::now(),
            };
            dc.catalog().create_content_key_policy(&policy).await?;
            if ctx.json {
                output::json(&PolicyView::from(&policy))?;
            } else {
                outln!("{}", policy.name);
            }
        }
        ContentKeyPolicyCommand::List { dc } => {
            let listed = ctx.dc(&dc.dc)?.catalog().list_content_key_policies().await?;
            let views: Vec<PolicyView> = listed.records.iter().map(PolicyView::from).collect();
            return super::print_listed(ctx, &listed.problems, &views, &HEADERS, row);
        }
        ContentKeyPolicyCommand::Show { dc, name } => {
            let policy = ctx.dc(&dc.dc)?.catalog().get_content_key_policy(&name).await?.value;
            let view = PolicyView::from(&policy);
            if ctx.json {
                output::json(&view)?;
            } else {
                output::table(&HEADERS, &[row(&view)]);
                for c in view.options.iter().flat_map(|o| &o.required_claims) {
                    outln!(
                        "required claim: {}{}",
                        c.claim_type,
                        c.claim_value.as_ref().map(|v| format!("={v}")).unwrap_or_default()
                    );
                }
            }
        }
        ContentKeyPolicyCommand::Delete { dc, name } => {
            ctx.dc(&dc.dc)?.catalog().delete_content_key_policy(&name).await?;
            if ctx.json {
                output::json(&serde_json::json!({ "deleted": name }))?;
            } else {
                outln!("deleted content key policy {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
