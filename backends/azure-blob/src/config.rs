//! Typed configuration: an account, its blob endpoint and a credential,
//! from a connection string or from the environment.

use std::net::IpAddr;
use std::path::PathBuf;

use base64::Engine as _;
use mirrorcast_store::secret::Secret;
use mirrorcast_store::StoreIdentity;
use url::Url;

use crate::error::Error;
use crate::retry::RetryConfig;
use crate::token::BearerSource;

/// The account of the storage emulator: a public, documented value.
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
/// The emulator account's key: public and documented, so safe to print; never a real account's.
pub const DEV_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_BLOB_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// How requests prove who they are. `Debug` never shows the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// The account key (base64), for Shared Key signing and SAS generation.
    SharedKey(Secret),
    /// A SAS token (the query string, without `?`).
    Sas(Secret),
    /// An Entra ID bearer token for `https://storage.azure.com/`.
    BearerToken(Secret),
    /// Entra ID tokens from a provider, cached and refreshed before they expire.
    Entra(BearerSource),
    /// No credential: public containers only.
    Anonymous,
}

impl Credential {
    /// An Entra ID credential of `azure_identity` (the `entra` feature).
    /// Reads and checks its environment now; fetches no token yet.
    pub fn entra(kind: EntraCredential) -> Result<Self, Error> {
        #[cfg(feature = "entra")]
        {
            crate::entra::source(kind).map(Credential::Entra).map_err(|e| Error::Credential(e.0))
        }
        #[cfg(not(feature = "entra"))]
        {
            Err(Error::Credential(format!(
                "Entra credential '{}' needs mirrorcast built with the 'entra' feature",
                kind.as_str()
            )))
        }
    }
}

/// Which Entra ID credential signs in (`credential = "…"`, `Credential=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntraCredential {
    /// A service principal: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`.
    Environment,
    /// A Kubernetes workload identity: `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`.
    WorkloadIdentity,
    /// The host's managed identity (system-assigned, or user-assigned by `AZURE_CLIENT_ID`).
    ManagedIdentity,
    /// The account signed in with `az login`.
    AzureCli,
    /// The first of the above that gives a token.
    Default,
}

impl EntraCredential {
    /// The accepted spellings, for error messages that list the choices.
    pub const NAMES: &'static str = "default, environment, workload-identity, managed-identity or azure-cli";

    /// The credential named `s` (case and surrounding blanks ignored); `None` if it is none of [`Self::NAMES`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "default" => EntraCredential::Default,
            "environment" => EntraCredential::Environment,
            "workload-identity" => EntraCredential::WorkloadIdentity,
            "managed-identity" => EntraCredential::ManagedIdentity,
            "azure-cli" => EntraCredential::AzureCli,
            _ => return None,
        })
    }

    /// The name [`Self::parse`] accepts, for messages and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            EntraCredential::Default => "default",
            EntraCredential::Environment => "environment",
            EntraCredential::WorkloadIdentity => "workload-identity",
            EntraCredential::ManagedIdentity => "managed-identity",
            EntraCredential::AzureCli => "azure-cli",
        }
    }
}

/// Where a store is and how to reach it.
#[derive(Debug, Clone)]
pub struct AzureConfig {
    /// The storage account's name, without `-secondary`; Shared Key signs with it.
    pub account: String,
    /// The blob service endpoint: `https://<account>.blob.core.windows.net`,
    /// or path-style `http://127.0.0.1:10000/<account>` for the emulator.
    pub blob_endpoint: Url,
    /// How requests prove who they are.
    pub credential: Credential,
    /// How throttled and failed requests are retried, and how long one may take.
    pub retry: RetryConfig,
    /// The endpoint is the account's read-only geo-secondary
    /// (`<account>-secondary`): reads only, every write is refused locally.
    pub secondary: bool,
    /// An extra root certificate (PEM) to trust for this endpoint: a test
    /// emulator's self-signed one. Azure itself never needs it.
    pub ca_file: Option<PathBuf>,
}

impl AzureConfig {
    /// A configuration checked for a usable endpoint and a decodable key.
    pub fn new(account: impl Into<String>, blob_endpoint: &str, credential: Credential) -> Result<Self, Error> {
        let mut account: String = account.into();
        let blob_endpoint = parse_endpoint(blob_endpoint)?;
        let secondary = is_secondary(&blob_endpoint);
        if let Some(primary) = account.strip_suffix(SECONDARY_SUFFIX) {
            account = primary.to_owned();
        }
        if let Credential::SharedKey(key) = &credential {
            base64::engine::general_purpose::STANDARD
                .decode(key.expose().trim())
                .map_err(|_| Error::InvalidKey(account.clone()))?;
        }
        Ok(AzureConfig { account, blob_endpoint, credential, retry: RetryConfig::default(), secondary, ca_file: None })
    }

    /// This configuration at the account's read-only secondary endpoint
    /// (`<account>-secondary` in the host or, path-style, in the path).
    pub fn to_secondary(&self) -> Result<Self, Error> {
        if self.secondary {
            return Ok(self.clone());
        }
        let mut url = self.blob_endpoint.clone();
        let suffixed = format!("{}{SECONDARY_SUFFIX}", self.account);
        if is_path_style(&url) {
            let rest: Vec<String> = url.path_segments().into_iter().flatten().skip(1).map(str::to_owned).collect();
            let path = std::iter::once(suffixed).chain(rest).collect::<Vec<_>>().join("/");
            url.set_path(&format!("/{path}"));
        } else {
            let host = url.host_str().unwrap_or("").to_owned();
            let (first, rest) = host.split_once('.').unwrap_or((host.as_str(), ""));
            if first != self.account {
                return Err(Error::InvalidEndpoint {
                    endpoint: url.to_string(),
                    reason: "cannot tell its secondary endpoint: give it as BlobSecondaryEndpoint".into(),
                });
            }
            let host = if rest.is_empty() { suffixed } else { format!("{suffixed}.{rest}") };
            url.set_host(Some(&host))
                .map_err(|e| Error::InvalidEndpoint { endpoint: url.to_string(), reason: e.to_string() })?;
        }
        let mut out = self.clone();
        out.blob_endpoint = url;
        out.secondary = true;
        Ok(out)
    }

    /// Parses `UseDevelopmentStorage=true`, account-key strings
    /// (`DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…[;BlobEndpoint=…|EndpointSuffix=…]`)
    /// SAS strings (`BlobEndpoint=…;SharedAccessSignature=…`) and Entra ID
    /// strings (`BlobEndpoint=…|AccountName=…;Authentication=Entra[;Credential=azure-cli]`).
    /// A string naming `BlobSecondaryEndpoint` reaches the account there: read-only.
    pub fn from_connection_string(s: &str) -> Result<Self, Error> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                // Name only what precedes any '=': the part may hold a secret.
                Error::ConnectionString(format!(
                    "segment {} has no '=': expected Key=Value pairs separated by ';'",
                    fields.len() + 1
                ))
            })?;
            fields.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        const KNOWN: [&str; 11] = [
            "usedevelopmentstorage",
            "developmentstorageproxyuri",
            "defaultendpointsprotocol",
            "accountname",
            "accountkey",
            "blobendpoint",
            "endpointsuffix",
            "sharedaccesssignature",
            "queueendpoint",
            "authentication",
            "credential",
        ];
        if let Some((k, _)) = fields.iter().find(|(k, _)| !KNOWN.contains(&k.as_str()) && !k.ends_with("endpoint")) {
            return Err(Error::ConnectionString(format!(
                "unknown key '{k}'; expected AccountName, AccountKey, BlobEndpoint, SharedAccessSignature, Authentication, Credential, DefaultEndpointsProtocol, EndpointSuffix or UseDevelopmentStorage"
            )));
        }

        if get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Self::new(DEV_ACCOUNT, DEV_BLOB_ENDPOINT, Credential::SharedKey(Secret::new(DEV_ACCOUNT_KEY)));
        }

        let account = get("accountname");
        let endpoint = match (get("blobsecondaryendpoint").or(get("blobendpoint")), account) {
            (Some(e), _) => e.to_owned(),
            (None, Some(a)) => {
                let protocol = get("defaultendpointsprotocol").unwrap_or("https");
                let suffix = get("endpointsuffix").unwrap_or("core.windows.net");
                format!("{protocol}://{a}.blob.{suffix}")
            }
            (None, None) => {
                return Err(Error::ConnectionString("it names neither AccountName nor BlobEndpoint".into()))
            }
        };
        let entra = match get("authentication") {
            None => None,
            Some(a) if a.eq_ignore_ascii_case("entra") => {
                let name = get("credential").unwrap_or("default");
                Some(EntraCredential::parse(name).ok_or_else(|| {
                    Error::ConnectionString(format!("Credential '{name}' is not one of {}", EntraCredential::NAMES))
                })?)
            }
            Some(other) => {
                return Err(Error::ConnectionString(format!(
                    "Authentication '{other}' is not known; the one value is Entra"
                )))
            }
        };
        if get("credential").is_some() && entra.is_none() {
            return Err(Error::ConnectionString("Credential needs Authentication=Entra".into()));
        }
        let credential = match (get("accountkey"), get("sharedaccesssignature")) {
            (Some(_), _) | (_, Some(_)) if entra.is_some() => {
                return Err(Error::ConnectionString(
                    "Authentication=Entra signs in without a key or SAS; remove AccountKey / SharedAccessSignature"
                        .into(),
                ))
            }
            (None, None) if entra.is_some() => Credential::Anonymous,
            (Some(_), Some(_)) => {
                return Err(Error::ConnectionString(
                    "it has both AccountKey and SharedAccessSignature; keep one".into(),
                ))
            }
            (Some(k), None) => Credential::SharedKey(Secret::new(k)),
            (None, Some(sas)) => Credential::Sas(Secret::new(sas.trim_start_matches('?'))),
            (None, None) => {
                return Err(Error::ConnectionString("it has neither AccountKey nor SharedAccessSignature".into()))
            }
        };
        if matches!(credential, Credential::SharedKey(_)) && account.is_none() {
            return Err(Error::ConnectionString("AccountKey needs AccountName".into()));
        }
        let parsed = parse_endpoint(&endpoint)?;
        let account = match account {
            Some(a) => a.to_owned(),
            None => account_from_endpoint(&parsed)
                .map(|a| a.trim_end_matches(SECONDARY_SUFFIX).to_owned())
                .ok_or_else(|| {
                    Error::ConnectionString(format!(
                        "cannot tell the account name from BlobEndpoint '{parsed}'; add AccountName"
                    ))
                })?,
        };
        // Built last: the endpoint and account are checked before the environment is read.
        let credential = match entra {
            Some(kind) => Credential::entra(kind)?,
            None => credential,
        };
        Self::new(account, parsed.as_str(), credential)
    }

    /// From `AZURE_STORAGE_CONNECTION_STRING`, or from `AZURE_STORAGE_ACCOUNT`
    /// with one of `AZURE_STORAGE_KEY`, `AZURE_STORAGE_SAS_TOKEN`,
    /// `AZURE_STORAGE_TOKEN`, and optionally `AZURE_STORAGE_BLOB_ENDPOINT`.
    pub fn from_env() -> Result<Self, Error> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(cs) = var("AZURE_STORAGE_CONNECTION_STRING") {
            return Self::from_connection_string(&cs);
        }
        let account = var("AZURE_STORAGE_ACCOUNT").ok_or_else(|| {
            Error::Missing("set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_TOKEN".into())
        })?;
        let endpoint =
            var("AZURE_STORAGE_BLOB_ENDPOINT").unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
        let credential = if let Some(k) = var("AZURE_STORAGE_KEY") {
            Credential::SharedKey(Secret::new(k))
        } else if let Some(s) = var("AZURE_STORAGE_SAS_TOKEN") {
            Credential::Sas(Secret::new(s.trim_start_matches('?')))
        } else if let Some(t) = var("AZURE_STORAGE_TOKEN") {
            Credential::BearerToken(Secret::new(t))
        } else {
            Credential::Anonymous
        };
        Self::new(account, &endpoint, credential)
    }

    /// Whether the endpoint is on this machine (the emulator, a test proxy).
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.blob_endpoint)
    }

    /// The account this configuration reaches, whatever the form of its
    /// endpoint: http or https, default or given `BlobEndpoint`, primary or
    /// geo-secondary, any case, any credential. Azure's account names are
    /// unique within a cloud, so a host-style endpoint is named by its cloud
    /// (`cloud_of`: Private Link, DFS and DNS-zone hosts are the same
    /// account); an emulator, path-style, by its host and port (any loopback
    /// address is this machine).
    pub fn account_identity(&self) -> StoreIdentity {
        let account = self.account.to_ascii_lowercase();
        let url = &self.blob_endpoint;
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let service = if is_loopback(url) {
            format!("loopback{port}")
        } else {
            let host = url.host_str().unwrap_or("").to_ascii_lowercase();
            let secondary = format!("{account}{SECONDARY_SUFFIX}");
            match host.split_once('.') {
                Some((label, domain)) if !is_path_style(url) && (label == account || label == secondary) => {
                    format!("{}{port}", cloud_of(domain))
                }
                _ => format!("{host}{port}"),
            }
        };
        StoreIdentity::Account { service, account }
    }
}

const SECONDARY_SUFFIX: &str = "-secondary";

/// `https://acct-secondary.blob.core.windows.net` or `http://127.0.0.1:10000/acct-secondary`.
fn is_secondary(url: &Url) -> bool {
    match url.path_segments().and_then(|mut s| s.next()).filter(|s| !s.is_empty()) {
        Some(first) => first.ends_with(SECONDARY_SUFFIX),
        None => url.host_str().and_then(|h| h.split('.').next()).is_some_and(|l| l.ends_with(SECONDARY_SUFFIX)),
    }
}

/// The cloud of a host-style endpoint's domain (after the account label):
/// `blob.core.windows.net`, its `privatelink.` and `dfs.` forms and the DNS
/// zone endpoints (`z42.blob.storage.azure.net`) are all the public cloud's
/// `core.windows.net`; another cloud keeps its suffix.
fn cloud_of(domain: &str) -> String {
    let domain = domain.strip_prefix("privatelink.").unwrap_or(domain);
    let zoned = domain.split_once('.').is_some_and(|(zone, rest)| {
        zone.len() > 1
            && zone.starts_with('z')
            && zone[1..].bytes().all(|b| b.is_ascii_digit())
            && matches!(rest, "blob.storage.azure.net" | "dfs.storage.azure.net")
    });
    if zoned {
        return "core.windows.net".to_owned();
    }
    let service = ["blob.", "dfs."].iter().find_map(|s| domain.strip_prefix(s));
    service.unwrap_or(domain).to_owned()
}

/// Azure's rule for account names (3–24 lowercase letters and digits), for
/// callers to check before any request is sent.
pub fn check_account_name(name: &str) -> Result<(), Error> {
    let valid = (3..=24).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if valid || name == DEV_ACCOUNT {
        return Ok(());
    }
    let shown: String = name.chars().take(40).collect::<String>().escape_debug().to_string();
    Err(Error::InvalidAccountName(shown))
}

fn parse_endpoint(s: &str) -> Result<Url, Error> {
    let mut url =
        Url::parse(s.trim()).map_err(|e| Error::InvalidEndpoint { endpoint: strip_query(s), reason: e.to_string() })?;
    if url.query().is_some() {
        url.set_query(None);
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(Error::InsecureEndpoint(url.to_string())),
        other => {
            return Err(Error::InvalidEndpoint {
                endpoint: url.to_string(),
                reason: format!("scheme '{other}' is not http or https"),
            })
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::InvalidEndpoint { endpoint: url.to_string(), reason: "it has no host".into() });
    }
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

fn strip_query(s: &str) -> String {
    s.split('?').next().unwrap_or("").to_owned()
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Path-style endpoints (`http://127.0.0.1:10000/acct`) carry the account in
/// the path; host-style ones in the first DNS label.
fn account_from_endpoint(url: &Url) -> Option<String> {
    if let Some(first) = url.path_segments().and_then(|mut s| s.next()).filter(|s| !s.is_empty()) {
        return Some(first.to_owned());
    }
    match url.host() {
        Some(url::Host::Domain(d)) if d.contains('.') => d.split('.').next().map(str::to_owned),
        _ => None,
    }
}

/// Whether requests put the account in the path rather than the host.
pub(crate) fn is_path_style(url: &Url) -> bool {
    url.path_segments().and_then(|mut s| s.next()).is_some_and(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_storage_is_the_emulator_account() {
        let c = AzureConfig::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(c.account, DEV_ACCOUNT);
        assert_eq!(c.blob_endpoint.as_str(), "http://127.0.0.1:10000/devstoreaccount1");
        assert!(c.is_loopback());
        assert!(is_path_style(&c.blob_endpoint));
    }

    #[test]
    fn account_key_string_builds_the_host_style_endpoint() {
        let c = AzureConfig::from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=mediaa;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(c.blob_endpoint.as_str(), "https://mediaa.blob.core.windows.net/");
        assert!(!is_path_style(&c.blob_endpoint));
        assert!(matches!(c.credential, Credential::SharedKey(_)));
    }

    #[test]
    fn sas_string_takes_the_account_from_the_endpoint() {
        let c = AzureConfig::from_connection_string(
            "BlobEndpoint=https://mediab.blob.core.windows.net;SharedAccessSignature=?sv=2021&sig=abc",
        )
        .unwrap();
        assert_eq!(c.account, "mediab");
        assert_eq!(c.credential, Credential::Sas(Secret::new("sv=2021&sig=abc")));
        let emu = AzureConfig::from_connection_string(
            "BlobEndpoint=http://127.0.0.1:10000/acct2;SharedAccessSignature=sv=1&sig=x",
        )
        .unwrap();
        assert_eq!(emu.account, "acct2");
    }

    #[test]
    fn malformed_strings_are_named_without_their_secrets() {
        let bad = [
            "AccountName=a;AccountKey",
            "AccountName=a",
            "AccountKey=c2VjcmV0",
            "Nonsense=1;AccountName=a;AccountKey=c2VjcmV0",
            "",
        ];
        for s in bad {
            let e = AzureConfig::from_connection_string(s).unwrap_err();
            assert!(e.to_string().starts_with("malformed connection string"), "{s}: {e}");
            assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
        }
        let e = AzureConfig::from_connection_string("AccountName=a;AccountKey=not base64!!").unwrap_err();
        assert!(matches!(e, Error::InvalidKey(_)), "{e}");
        assert!(!e.to_string().contains("not base64!!"));
    }

    #[test]
    fn plain_http_is_refused_unless_loopback() {
        let e =
            AzureConfig::from_connection_string("AccountName=a;AccountKey=c2VjcmV0;BlobEndpoint=http://example.com/a")
                .unwrap_err();
        assert!(matches!(e, Error::InsecureEndpoint(_)), "{e}");
        for ok in ["http://127.0.0.1:1/a", "http://localhost:1/a", "http://[::1]:1/a"] {
            AzureConfig::new("a", ok, Credential::Anonymous).unwrap();
        }
    }

    #[test]
    fn a_secondary_endpoint_is_read_only_and_keeps_the_primary_account_name() {
        let emu = AzureConfig::from_connection_string(
            "AccountName=acct;AccountKey=c2VjcmV0;BlobEndpoint=http://127.0.0.1:1/acct;BlobSecondaryEndpoint=http://127.0.0.1:1/acct-secondary",
        )
        .unwrap();
        assert!(emu.secondary);
        assert_eq!((emu.account.as_str(), emu.blob_endpoint.as_str()), ("acct", "http://127.0.0.1:1/acct-secondary"));
        let sas = AzureConfig::from_connection_string(
            "BlobEndpoint=https://media-secondary.blob.core.windows.net;SharedAccessSignature=sv=1&sig=x",
        )
        .unwrap();
        assert!(sas.secondary);
        assert_eq!(sas.account, "media");
        let primary = AzureConfig::from_connection_string("AccountName=media;AccountKey=c2VjcmV0").unwrap();
        assert!(!primary.secondary);
        let second = primary.to_secondary().unwrap();
        assert_eq!(second.blob_endpoint.as_str(), "https://media-secondary.blob.core.windows.net/");
        let emu_primary = AzureConfig::new("acct", "http://127.0.0.1:1/acct", Credential::Anonymous).unwrap();
        assert_eq!(emu_primary.to_secondary().unwrap().blob_endpoint.as_str(), "http://127.0.0.1:1/acct-secondary");
    }

    #[test]
    fn every_form_of_one_accounts_connection_string_has_its_identity() {
        let id = |s: &str| AzureConfig::from_connection_string(s).unwrap().account_identity();
        let media = id("AccountName=media;AccountKey=c2VjcmV0");
        for other in [
            "DefaultEndpointsProtocol=https;AccountName=Media;AccountKey=c2VjcmV0",
            "AccountName=media;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net",
            "BlobEndpoint=https://MEDIA.Blob.Core.Windows.Net/;SharedAccessSignature=sv=1&sig=x",
            "BlobEndpoint=https://media.blob.core.windows.net;SharedAccessSignature=sv=2&sig=y",
            "BlobEndpoint=https://media-secondary.blob.core.windows.net;SharedAccessSignature=sv=1&sig=x",
            "AccountName=media;AccountKey=c2VjcmV0;BlobEndpoint=https://media.privatelink.blob.core.windows.net",
            "BlobEndpoint=https://media.z42.blob.storage.azure.net;SharedAccessSignature=sv=1&sig=x",
            "BlobEndpoint=https://media.dfs.core.windows.net;SharedAccessSignature=sv=1&sig=x",
        ] {
            assert_eq!(id(other), media, "{other}");
        }
        let secondary = AzureConfig::from_connection_string("AccountName=media;AccountKey=c2VjcmV0").unwrap();
        assert_eq!(secondary.to_secondary().unwrap().account_identity(), media);
        for apart in [
            "AccountName=mediab;AccountKey=c2VjcmV0",
            "AccountName=media;AccountKey=c2VjcmV0;EndpointSuffix=core.chinacloudapi.cn",
        ] {
            assert_ne!(id(apart), media, "{apart}");
        }

        let emulator = id("AccountName=acct;AccountKey=c2VjcmV0;BlobEndpoint=http://127.0.0.1:10000/acct");
        for other in [
            "BlobEndpoint=http://localhost:10000/acct/;SharedAccessSignature=sv=1&sig=x",
            "AccountName=acct;AccountKey=c2VjcmV0;BlobEndpoint=http://127.0.0.1:10000/acct;BlobSecondaryEndpoint=http://127.0.0.1:10000/acct-secondary",
            "AccountName=acct;AccountKey=c2VjcmV0;BlobEndpoint=https://127.0.0.1:10000/acct",
        ] {
            assert_eq!(id(other), emulator, "{other}");
        }
        for apart in [
            "AccountName=acct;AccountKey=c2VjcmV0;BlobEndpoint=http://127.0.0.1:10001/acct",
            "AccountName=acct2;AccountKey=c2VjcmV0;BlobEndpoint=http://127.0.0.1:10000/acct2",
        ] {
            assert_ne!(id(apart), emulator, "{apart}");
        }
    }

    #[test]
    fn account_names_follow_azure_rules() {
        for bad in ["ab", "UPPER", "with-dash", "a_b", "toolongtoolongtoolongtool", "ünï"] {
            let e = check_account_name(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidAccountName(_)), "{bad}: {e}");
        }
        for good in ["abc", "media2026", "devstoreaccount1", "a23456789012345678901234"] {
            check_account_name(good).unwrap();
        }
    }

    #[test]
    fn entra_strings_name_a_known_credential_and_carry_no_key() {
        let bad = [
            ("BlobEndpoint=https://m.blob.core.windows.net;Authentication=Entra;Credential=azure-clii", "azure-clii"),
            ("AccountName=m;AccountKey=c2VjcmV0;Authentication=Entra", "without a key"),
            ("AccountName=m;Authentication=Kerberos", "Kerberos"),
            ("AccountName=m;AccountKey=c2VjcmV0;Credential=azure-cli", "needs Authentication=Entra"),
        ];
        for (s, needle) in bad {
            let e = AzureConfig::from_connection_string(s).unwrap_err().to_string();
            assert!(e.contains(needle), "{s}: {e}");
            assert!(!e.contains("c2VjcmV0"), "{e}");
        }
        assert_eq!(EntraCredential::parse("Managed-Identity"), Some(EntraCredential::ManagedIdentity));
        for kind in ["default", "environment", "workload-identity", "managed-identity", "azure-cli"] {
            assert_eq!(EntraCredential::parse(kind).map(EntraCredential::as_str), Some(kind));
        }
    }

    #[test]
    fn debug_hides_keys_and_tokens() {
        let c = AzureConfig::from_connection_string("AccountName=a;AccountKey=c2VjcmV0").unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("c2VjcmV0"), "{d}");
    }
}
