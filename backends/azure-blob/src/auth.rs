//! Shared Key request signing and service SAS generation: the documented
//! string-to-sign algorithms, HMAC-SHA256 with the account key.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use mirrorcast_store::Permissions;
use reqwest::header::HeaderMap;
use sha2::Sha256;
use url::Url;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// An account key, decoded, ready to sign. No `Debug` of the bytes.
pub(crate) struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([REDACTED])")
    }
}

impl SigningKey {
    pub(crate) fn from_base64(key: &str) -> Option<Self> {
        B64.decode(key.trim()).ok().map(SigningKey)
    }

    fn sign(&self, string_to_sign: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(string_to_sign.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }
}

/// The `Authorization` value for a Shared Key request.
pub(crate) fn shared_key_authorization(
    key: &SigningKey,
    account: &str,
    method: &str,
    url: &Url,
    headers: &HeaderMap,
    content_length: u64,
) -> String {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let length = if content_length == 0 { String::new() } else { content_length.to_string() };
    let mut sts = format!(
        "{method}\n{}\n{}\n{length}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        h("content-encoding"),
        h("content-language"),
        h("content-md5"),
        h("content-type"),
        h("date"),
        h("if-modified-since"),
        h("if-match"),
        h("if-none-match"),
        h("if-unmodified-since"),
        h("range"),
    );
    let mut ms: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-ms-"))
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").trim().to_owned()))
        .collect();
    ms.sort();
    for (k, v) in ms {
        sts.push_str(&format!("{k}:{v}\n"));
    }
    sts.push_str(&canonicalized_resource(account, url));
    format!("SharedKey {account}:{}", key.sign(&sts))
}

fn canonicalized_resource(account: &str, url: &Url) -> String {
    // A path-style secondary (`/<account>-secondary/…`) signs as the primary:
    // the account name in a canonical resource is always the primary's.
    let secondary = format!("/{account}-secondary");
    let path = match url.path().strip_prefix(&secondary) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("/{account}{rest}"),
        _ => url.path().to_owned(),
    };
    let mut out = format!("/{account}{path}");
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in url.query_pairs() {
        let k = k.to_ascii_lowercase();
        match params.iter_mut().find(|(name, _)| *name == k) {
            Some((_, values)) => values.push(v.into_owned()),
            None => params.push((k, vec![v.into_owned()])),
        }
    }
    params.sort();
    for (k, mut values) in params {
        values.sort();
        out.push_str(&format!("\n{k}:{}", values.join(",")));
    }
    out
}

/// What a service SAS grants.
#[derive(Debug)]
pub(crate) struct SasRequest<'a> {
    pub account: &'a str,
    pub container: &'a str,
    pub blob: Option<&'a str>,
    pub permissions: Permissions,
    pub start: Option<DateTime<Utc>>,
    pub expiry: DateTime<Utc>,
    /// Allow plain HTTP as well as HTTPS (only for loopback endpoints).
    pub allow_http: bool,
    /// A stored access policy of the container (`si=`): it then sets the
    /// permissions and times, and removing it revokes the token.
    pub identifier: Option<&'a str>,
}

const SAS_VERSION: &str = "2020-12-06";

/// A service SAS token (query string, without `?`) for a container or a blob.
pub(crate) fn service_sas(key: &SigningKey, req: &SasRequest<'_>) -> String {
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    // Bound to a stored policy, the token leaves permissions and times to it.
    let bound = req.identifier.is_some();
    let sp = if bound { String::new() } else { req.permissions.sas_letters() };
    let st = if bound { String::new() } else { req.start.map(fmt).unwrap_or_default() };
    let se = if bound { String::new() } else { fmt(req.expiry) };
    let si = req.identifier.unwrap_or("");
    let (sr, resource) = match req.blob {
        Some(b) => ("b", format!("/blob/{}/{}/{}", req.account, req.container, b)),
        None => ("c", format!("/blob/{}/{}", req.account, req.container)),
    };
    let spr = if req.allow_http { "https,http" } else { "https" };
    // permissions, start, expiry, resource, identifier, IP, protocol, version,
    // resource type, snapshot time, encryption scope, then five response headers.
    let sts = format!("{sp}\n{st}\n{se}\n{resource}\n{si}\n\n{spr}\n{SAS_VERSION}\n{sr}\n\n\n\n\n\n\n");
    let sig = key.sign(&sts);
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("sv", SAS_VERSION);
    q.append_pair("spr", spr);
    if !st.is_empty() {
        q.append_pair("st", &st);
    }
    if !se.is_empty() {
        q.append_pair("se", &se);
    }
    q.append_pair("sr", sr);
    if !sp.is_empty() {
        q.append_pair("sp", &sp);
    }
    if !si.is_empty() {
        q.append_pair("si", si);
    }
    q.append_pair("sig", &sig);
    q.finish()
}

/// An account SAS token for the blob service (services, containers and
/// blobs): what an operator hands out as a read-only credential for a whole account.
pub(crate) fn account_sas(
    key: &SigningKey,
    account: &str,
    permissions: Permissions,
    expiry: DateTime<Utc>,
    allow_http: bool,
) -> String {
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let sp = permissions.sas_letters();
    let se = fmt(expiry);
    let spr = if allow_http { "https,http" } else { "https" };
    // account, permissions, services, resource types, start, expiry, IP, protocol, version, encryption scope.
    let sts = format!("{account}\n{sp}\nb\nsco\n\n{se}\n\n{spr}\n{SAS_VERSION}\n\n");
    let sig = key.sign(&sts);
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("sv", SAS_VERSION);
    q.append_pair("ss", "b");
    q.append_pair("srt", "sco");
    q.append_pair("spr", spr);
    q.append_pair("se", &se);
    q.append_pair("sp", &sp);
    q.append_pair("sig", &sig);
    q.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_resource_lists_query_parameters_sorted_and_lowercased() {
        let url =
            Url::parse("http://127.0.0.1:10000/devstoreaccount1/c?restype=container&comp=list&Prefix=a%20b").unwrap();
        assert_eq!(
            canonicalized_resource("devstoreaccount1", &url),
            "/devstoreaccount1/devstoreaccount1/c\ncomp:list\nprefix:a b\nrestype:container"
        );
    }

    #[test]
    fn sas_tokens_carry_least_privilege_and_a_signature() {
        let key = SigningKey::from_base64("c2VjcmV0").unwrap();
        let expiry = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let req = SasRequest {
            account: "a",
            container: "asset-1",
            blob: None,
            permissions: Permissions::READ | Permissions::LIST,
            start: None,
            expiry,
            allow_http: false,
            identifier: None,
        };
        let token = service_sas(&key, &req);
        assert!(token.contains("sp=rl") && token.contains("sr=c") && token.contains("spr=https&"), "{token}");
        assert!(token.contains("se=2030-01-01T00%3A00%3A00Z"), "{token}");
        assert!(token.contains("&sig="));
        assert!(format!("{key:?}").contains("REDACTED"));
        let bound = service_sas(&key, &SasRequest { identifier: Some("mc-1"), ..req });
        assert!(bound.contains("si=mc-1") && !bound.contains("sp=") && !bound.contains("se="), "{bound}");
    }

    #[test]
    fn a_secondary_signs_with_the_primary_account_in_its_resource() {
        let url = Url::parse("http://127.0.0.1:10000/acct-secondary/c?comp=list").unwrap();
        assert_eq!(canonicalized_resource("acct", &url), "/acct/acct/c\ncomp:list");
    }
}
