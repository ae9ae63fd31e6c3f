//! [`AzureBlobStore`]: the Blob REST API over `reqwest`, one connection pool per account.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use md5::{Digest, Md5};
use mirrorcast_store::adaptive::{Outcome, DEFAULT_CEILING};
use mirrorcast_store::secret::redact_sas;
use mirrorcast_store::Permissions;
use mirrorcast_store::{
    Access, AdaptiveLimit, BlobMeta, BlobProperties, BlobStore, Capability, Condition, ContainerPolicies, CopySource,
    Error, ErrorKind, GetResult, ListOptions, ListPage, PutOptions, Result, SignedUrl, StoreIdentity, StoredPolicy,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response};
use url::Url;

use crate::auth::{service_sas, shared_key_authorization, SasRequest, SigningKey};
use crate::config::{is_path_style, AzureConfig, Credential};
use crate::retry::is_retryable_status;
use crate::xml;
use crate::API_VERSION;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The largest request body after which the answer is waited for within
/// [`RetryConfig::answer_timeout`](crate::RetryConfig::answer_timeout):
/// sending a larger one may itself take longer on a slow link.
const PROMPT_ANSWER_MAX_BODY: usize = 1024 * 1024;

/// A storage account's blob service. Cheap to clone; clones share one pool.
#[derive(Clone)]
pub struct AzureBlobStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: AzureConfig,
    http: reqwest::Client,
    key: Option<SigningKey>,
    /// Shared with scoped stores made from this one, so a run counts them all.
    retries: Arc<AtomicU64>,
    /// The data center this account serves as, for messages.
    label: Option<String>,
    /// Every request sent (retries included), shared with scoped stores like `retries`.
    requests: Arc<AtomicU64>,
    /// The same requests by operation (`set ACL asset`, `put blob catalog`, …), for measuring.
    operations: Arc<std::sync::Mutex<std::collections::BTreeMap<String, u64>>>,
    /// Requests in flight at most, halved when the service shows overload: shared with scoped stores.
    limit: Arc<AdaptiveLimit>,
}

impl std::fmt::Debug for AzureBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureBlobStore")
            .field("account", &self.inner.config.account)
            .field("endpoint", &self.inner.config.blob_endpoint.as_str())
            .field("credential", &self.inner.config.credential)
            .finish()
    }
}

/// What a request does, for counting: the Blob REST operation and whether it
/// is about the catalog, the journal, or an asset's container (`get ACL asset`).
fn operation_of(method: &Method, url: &Url, headers: &HeaderMap, endpoint_path: &str) -> String {
    let query = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
    let (restype, comp) = (query("restype"), query("comp"));
    let rest = url.path().strip_prefix(endpoint_path.trim_end_matches('/')).unwrap_or(url.path());
    let mut segments = rest.trim_start_matches('/').splitn(2, '/');
    let container = segments.next().unwrap_or("");
    let on_blob = segments.next().is_some_and(|b| !b.is_empty());
    let area = match container {
        "" => "account",
        "mirrorcast-catalog" => "catalog",
        "mirrorcast-journal" => "journal",
        _ => "asset",
    };
    let copy = headers.contains_key("x-ms-copy-source");
    let op = match (method.as_str(), restype.as_deref(), comp.as_deref(), on_blob) {
        ("GET", None, Some("list"), false) => "list containers",
        ("GET", Some("container"), Some("list"), _) => "list blobs",
        ("GET", Some("container"), Some("acl"), _) => "get ACL",
        ("PUT", Some("container"), Some("acl"), _) => "set ACL",
        ("PUT", Some("container"), None, _) => "create container",
        ("DELETE", Some("container"), None, _) => "delete container",
        (_, Some("container"), _, _) => "container properties",
        ("PUT", _, Some("block"), _) if copy => "put block from URL",
        ("PUT", _, Some("block"), _) => "put block",
        ("PUT", _, Some("blocklist"), _) => "commit block list",
        ("PUT", _, Some("metadata"), _) => "set metadata",
        ("PUT", _, Some("properties"), _) => "set properties",
        ("PUT", _, None, _) if copy => "copy from URL",
        ("PUT", _, None, _) => "put blob",
        ("GET", _, None, _) => "get blob",
        ("HEAD", _, None, _) => "blob properties",
        ("DELETE", _, None, _) => "delete blob",
        (m, _, Some(c), _) => return format!("{m} comp={c} {area}"),
        (m, _, None, _) => return format!("{m} {area}"),
    };
    format!("{op} {area}")
}

/// One request, as the retry loop needs to send it again.
struct Request {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Bytes,
    /// What the request is about, for error messages: `blob 'x' in container 'y'`.
    what: String,
}

impl AzureBlobStore {
    /// A store for `config`; fails only on a key that does not decode, an unusable
    /// CA file or an HTTP client that cannot be built. Nothing is sent yet.
    pub fn new(config: AzureConfig) -> std::result::Result<Self, crate::Error> {
        Self::build(config, None)
    }

    /// A store named in its messages as data center `name`, so errors say
    /// which side failed, not only which account.
    pub fn named(config: AzureConfig, name: &str) -> std::result::Result<Self, crate::Error> {
        Self::build(config, Some(name.to_owned()))
    }

    fn build(config: AzureConfig, label: Option<String>) -> std::result::Result<Self, crate::Error> {
        let key = match &config.credential {
            Credential::SharedKey(k) => Some(
                SigningKey::from_base64(k.expose()).ok_or_else(|| crate::Error::InvalidKey(config.account.clone()))?,
            ),
            _ => None,
        };
        let mut http = reqwest::Client::builder();
        if let Some(path) = &config.ca_file {
            let ca_error = |reason: String| crate::Error::CaFile { path: path.display().to_string(), reason };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ca_error(format!("not a PEM certificate: {e}")))?;
            if certs.is_empty() {
                return Err(ca_error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()));
            }
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http
            .connect_timeout(config.retry.connect_timeout())
            .read_timeout(config.retry.read_timeout())
            .pool_max_idle_per_host(64)
            .user_agent(concat!("mirrorcast/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::Error::Client(e.to_string()))?;
        Ok(AzureBlobStore {
            inner: Arc::new(Inner {
                config,
                http,
                key,
                retries: Arc::new(AtomicU64::new(0)),
                requests: Arc::new(AtomicU64::new(0)),
                operations: Default::default(),
                label,
                limit: AdaptiveLimit::new(DEFAULT_CEILING),
            }),
        })
    }

    /// The configuration it was built from (its credential stays a [`Secret`](mirrorcast_core::secret::Secret)).
    pub fn config(&self) -> &AzureConfig {
        &self.inner.config
    }

    /// Requests sent again after a throttling or transient failure, so far.
    pub fn retries(&self) -> u64 {
        self.inner.retries.load(Ordering::Relaxed)
    }

    fn account_root(&self) -> Url {
        let mut url = self.inner.config.blob_endpoint.clone();
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        url
    }

    fn url(&self, container: &str, blob: Option<&str>) -> Url {
        let mut url = self.inner.config.blob_endpoint.clone();
        {
            let mut segs = url.path_segments_mut().expect("endpoints are http(s) URLs");
            segs.pop_if_empty().push(container);
            if let Some(b) = blob {
                segs.extend(b.split('/'));
            }
        }
        url
    }

    /// The URL of blob `name`, or why this account cannot hold that name
    /// (writing it would silently land under another name).
    fn blob_url(&self, container: &str, name: &str) -> Result<Url> {
        if let Some(reason) = unaddressable(name) {
            return Err(Error::invalid_input(format!(
                "blob name '{}' cannot be held by {}: {reason}",
                name.escape_debug(),
                self.describe_short()
            )));
        }
        Ok(self.url(container, Some(name)))
    }

    /// The container's (or blob's) URL carrying `token`; a blob name this
    /// account cannot hold is refused as it is everywhere else.
    fn signed_with(&self, container: &str, blob: Option<&str>, token: &str) -> Result<SignedUrl> {
        let mut url = match blob {
            Some(name) => self.blob_url(container, name)?,
            None => self.url(container, None),
        };
        url.set_query(Some(token));
        Ok(SignedUrl::new(url.to_string()))
    }

    fn with_query(mut url: Url, query: &[(&str, &str)]) -> Url {
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    fn request(&self, method: Method, url: Url, what: impl Into<String>) -> Request {
        Request { method, url, headers: HeaderMap::new(), body: Bytes::new(), what: what.into() }
    }

    /// Sends with signing and retries; maps every failure to a core error.
    async fn send(&self, req: &Request) -> Result<Response> {
        if self.inner.config.secondary && req.method != Method::GET && req.method != Method::HEAD {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "{}: account '{}' is reached at its read-only secondary endpoint, which takes no writes; use its primary endpoint to write",
                    req.what, self.inner.config.account
                ),
            ));
        }
        let retry = self.inner.config.retry;
        let mut attempt = 0u32;
        let started = std::time::Instant::now();
        loop {
            // Each attempt waits for room under the adaptive limit and says how it went: a
            // stalled service then holds one request of ours at a time, not all of them.
            let permit = self.inner.limit.acquire().await;
            let (outcome, load) = self.send_once(req).await;
            permit.finish(load);
            let (error, retry_after) = match outcome {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    (self.map_failure(req, resp).await, retry_after)
                }
                Err(e) => (e, None),
            };
            if !error.is_retryable() {
                return Err(error);
            }
            let delay = retry.delay(attempt + 1, retry_after);
            if !retry.may_retry(attempt, started.elapsed(), delay) {
                let spent = started.elapsed().as_secs_f64();
                let kind = error.kind();
                let message = format!(
                    "{} (gave up after {attempt} retries in {spent:.1}s; --retry-for sets how long to try)",
                    error.message()
                );
                return Err(Error::new(kind, message).with_source(error));
            }
            attempt += 1;
            self.inner.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(what = %req.what, attempt, delay_ms = delay.as_millis() as u64, error = %error, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt, and what it says about the service's load.
    async fn send_once(&self, req: &Request) -> (Result<Response>, Outcome) {
        match self.attempt(req).await {
            Ok(resp) => {
                let code = resp.headers().get("x-ms-error-code").and_then(|v| v.to_str().ok()).unwrap_or("");
                let load = overload_of(resp.status().as_u16(), code);
                (Ok(resp), load)
            }
            Err((e, timed_out)) => (Err(e), if timed_out { Outcome::Overloaded } else { Outcome::Unknown }),
        }
    }

    /// Signs and sends once; a failure to get an answer says whether it was a timeout.
    async fn attempt(&self, req: &Request) -> std::result::Result<Response, (Error, bool)> {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let operation = operation_of(&req.method, &req.url, &req.headers, self.inner.config.blob_endpoint.path());
        if let Ok(mut ops) = self.inner.operations.lock() {
            *ops.entry(operation).or_default() += 1;
        }
        let mut url = req.url.clone();
        let mut headers = req.headers.clone();
        headers.insert("x-ms-version", HeaderValue::from_static(API_VERSION));
        headers.insert(
            "x-ms-date",
            HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::now()))
                .expect("HTTP dates are ASCII"),
        );
        match &self.inner.config.credential {
            Credential::SharedKey(_) => {
                let key = self.inner.key.as_ref().expect("a shared-key store has a signing key");
                let auth = shared_key_authorization(
                    key,
                    &self.inner.config.account,
                    req.method.as_str(),
                    &url,
                    &headers,
                    req.body.len() as u64,
                );
                headers.insert(
                    reqwest::header::AUTHORIZATION,
                    HeaderValue::from_str(&auth).map_err(|_| (signing_error(), false))?,
                );
            }
            Credential::Sas(token) => {
                let q = match url.query() {
                    Some(q) if !q.is_empty() => format!("{q}&{}", token.expose()),
                    _ => token.expose().to_owned(),
                };
                url.set_query(Some(&q));
            }
            Credential::BearerToken(token) => {
                let value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| (signing_error(), false))?;
                headers.insert(reqwest::header::AUTHORIZATION, value);
            }
            Credential::Entra(source) => {
                let token = source.bearer().await.map_err(|e| {
                    let e = Error::new(
                        ErrorKind::Authentication,
                        format!("authentication failed for account '{}': {e}", self.inner.config.account),
                    );
                    (e, false)
                })?;
                let value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| (signing_error(), false))?;
                headers.insert(reqwest::header::AUTHORIZATION, value);
            }
            Credential::Anonymous => {}
        }
        if req.method == Method::PUT {
            // Stated even when 0: the service refuses a PUT without it.
            headers.insert(reqwest::header::CONTENT_LENGTH, HeaderValue::from(req.body.len()));
        }
        let mut builder = self.inner.http.request(req.method.clone(), url.clone()).headers(headers);
        if !req.body.is_empty() {
            builder = builder.body(req.body.clone());
        }
        let started = std::time::Instant::now();
        // A server-side copy may be silent while it copies and a large body takes time
        // to send; anything else answers promptly, or was lost and is sent again.
        let answers_promptly =
            !req.headers.contains_key("x-ms-copy-source") && req.body.len() <= PROMPT_ANSWER_MAX_BODY;
        let result = if answers_promptly {
            let wait = self.inner.config.retry.answer_timeout();
            match tokio::time::timeout(wait, builder.send()).await {
                Ok(result) => result,
                Err(_) => {
                    let message =
                        format!("{} at {}: no answer within {} s", req.what, self.describe_short(), wait.as_secs());
                    return Err((Error::new(ErrorKind::Transient, message), true));
                }
            }
        } else {
            builder.send().await
        };
        match result {
            Ok(resp) => {
                tracing::debug!(
                    method = %req.method,
                    url = %redact_sas(url.as_str()),
                    status = resp.status().as_u16(),
                    ms = started.elapsed().as_millis() as u64,
                    "blob request"
                );
                Ok(resp)
            }
            Err(e) => {
                let timed_out = e.is_timeout();
                // `without_url`: a SAS URL must not reach the message.
                let e = e.without_url();
                let kind = ErrorKind::Transient;
                let error = Error::new(kind, format!("{} at {}: request failed: {e}", req.what, self.describe_short()))
                    .with_source(e);
                Err((error, timed_out))
            }
        }
    }

    fn describe_short(&self) -> String {
        match &self.inner.label {
            Some(dc) => format!("data center '{dc}' (account '{}')", self.inner.config.account),
            None => format!("account '{}'", self.inner.config.account),
        }
    }

    async fn map_failure(&self, req: &Request, resp: Response) -> Error {
        let status = resp.status();
        let header_code = resp.headers().get("x-ms-error-code").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = if req.method == Method::HEAD { String::new() } else { resp.text().await.unwrap_or_default() };
        let parsed = xml::parse_error(&body);
        let code =
            header_code.or(parsed.code).unwrap_or_else(|| status.canonical_reason().unwrap_or("").replace(' ', ""));
        let message = parsed.message.as_deref().and_then(|m| m.lines().next()).map(redact_sas).unwrap_or_default();
        let account = &self.inner.config.account;
        let what = &req.what;
        let conditional_create = req.headers.get("if-none-match").is_some_and(|v| v == "*");
        let (kind, text) = match status.as_u16() {
            404 => (ErrorKind::NotFound, format!("{what} not found in {} ({code})", self.describe_short())),
            409 if conditional_create && code == "BlobAlreadyExists" => {
                (ErrorKind::PreconditionFailed, format!("{what} exists already ({code})"))
            }
            409 if code.ends_with("AlreadyExists") => {
                (ErrorKind::AlreadyExists, format!("{what} exists already ({code})"))
            }
            412 => (ErrorKind::PreconditionFailed, format!("{what} changed meanwhile: condition not met ({code})")),
            401 => (ErrorKind::Authentication, auth_message(account, &code)),
            // Azurite answers a bad signature with AuthorizationFailure; Azure with AuthenticationFailed.
            403 if matches!(code.as_str(), "AuthenticationFailed" | "AuthorizationFailure" | "Forbidden" | "") => {
                (ErrorKind::Authentication, auth_message(account, &code))
            }
            403 => (
                ErrorKind::PermissionDenied,
                format!("{what}: the credentials of account '{account}' do not allow this ({code})"),
            ),
            400 if code == "Md5Mismatch" => {
                (ErrorKind::Corrupt, format!("{what}: the bytes sent do not match their MD5 ({code})"))
            }
            400 | 416 => {
                (ErrorKind::InvalidInput, format!("{what}: the service refused the request ({code}: {message})"))
            }
            501 => (ErrorKind::Unsupported, format!("{what}: not implemented by {} ({code})", self.describe_short())),
            500 if message.to_ascii_lowercase().contains("not implemented")
                || body.to_ascii_lowercase().contains("not implemented") =>
            {
                (ErrorKind::Unsupported, format!("{what}: not implemented by {} ({code})", self.describe_short()))
            }
            429 | 503 => (ErrorKind::Throttled, format!("{what}: the service is busy ({} {code})", status.as_u16())),
            s if s >= 500 || is_retryable_status(s) => {
                (ErrorKind::Transient, format!("{what}: server error {s} ({code}: {message})"))
            }
            s => (ErrorKind::Other, format!("{what}: unexpected status {s} ({code}: {message})")),
        };
        Error::new(kind, text)
    }

    fn container_what(container: &str) -> String {
        format!("container '{container}'")
    }

    fn blob_what(container: &str, name: &str) -> String {
        format!("blob '{name}' in container '{container}'")
    }

    fn signing_key(&self, what: &str) -> Result<&SigningKey> {
        self.inner.key.as_ref().ok_or_else(|| {
            Error::unsupported(format!(
                "{what} needs the account key of '{}': this data center is configured with a SAS or token",
                self.inner.config.account
            ))
        })
    }
}

/// Why Azure cannot store blob `name` as written, if it cannot: the service
/// turns '\\' into '/', and URLs resolve '.' and '..' segments before they
/// arrive (encoded or not), so such names would address another blob.
pub(crate) fn unaddressable(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("a blob name needs at least one character")
    } else if name.chars().count() > 1024 {
        Some("Azure blob names are at most 1024 characters")
    } else if name.contains('\\') {
        Some("Azure stores '\\' as '/'")
    } else if name.split('/').any(|s| s == "." || s == "..") {
        Some("a '.' or '..' path segment cannot be sent in a URL")
    } else {
        None
    }
}

/// What an answer says about the service's load: 429 and 503 (ServerBusy),
/// 504, and a 500 that is Azure's ServerBusy or OperationTimedOut are
/// overload; any other answer, an error included, is an answer.
fn overload_of(status: u16, code: &str) -> Outcome {
    match status {
        429 | 503 | 504 => Outcome::Overloaded,
        500 if matches!(code, "ServerBusy" | "OperationTimedOut") => Outcome::Overloaded,
        _ => Outcome::Answered,
    }
}

fn signing_error() -> Error {
    Error::new(ErrorKind::Authentication, "the credential holds characters that cannot be sent in a header")
}

fn auth_message(account: &str, code: &str) -> String {
    format!("authentication failed for account '{account}' ({code}): check its account key, SAS or token")
}

fn header(headers: &mut HeaderMap, name: &'static str, value: &str) -> Result<()> {
    let v = HeaderValue::from_str(value)
        .map_err(|_| Error::invalid_input(format!("value for {name} cannot be sent in an HTTP header: '{value}'")))?;
    headers.insert(name, v);
    Ok(())
}

fn apply_condition(headers: &mut HeaderMap, condition: &Condition) -> Result<()> {
    match condition {
        Condition::None => Ok(()),
        Condition::IfMatch(etag) => header(headers, "if-match", etag),
        Condition::IfNotExists => header(headers, "if-none-match", "*"),
    }
}

fn apply_metadata(headers: &mut HeaderMap, metadata: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in metadata {
        let name = HeaderName::from_bytes(format!("x-ms-meta-{k}").as_bytes())
            .map_err(|_| Error::invalid_input(format!("metadata name '{k}' is not a valid identifier")))?;
        let value = HeaderValue::from_str(v)
            .map_err(|_| Error::invalid_input(format!("metadata '{k}' has a value that is not ASCII")))?;
        headers.insert(name, value);
    }
    Ok(())
}

fn apply_properties(headers: &mut HeaderMap, p: &BlobProperties) -> Result<()> {
    let pairs = [
        ("x-ms-blob-content-type", &p.content_type),
        ("x-ms-blob-content-encoding", &p.content_encoding),
        ("x-ms-blob-content-language", &p.content_language),
        ("x-ms-blob-content-disposition", &p.content_disposition),
        ("x-ms-blob-cache-control", &p.cache_control),
        ("x-ms-blob-content-md5", &p.content_md5),
    ];
    for (name, value) in pairs {
        if let Some(v) = value {
            header(headers, name, v)?;
        }
    }
    Ok(())
}

fn etag_of(resp: &Response) -> String {
    resp.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn meta_from_headers(name: &str, headers: &HeaderMap) -> (BlobMeta, Option<Range<u64>>) {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).filter(|s| !s.is_empty()).map(str::to_owned);
    let content_range = h("content-range").and_then(|cr| parse_content_range(&cr));
    let size = match &content_range {
        Some((_, total)) => *total,
        None => h("content-length").and_then(|s| s.parse().ok()).unwrap_or(0),
    };
    let metadata = headers
        .iter()
        .filter_map(|(k, v)| {
            let key = k.as_str().strip_prefix("x-ms-meta-")?;
            Some((key.to_owned(), v.to_str().ok()?.to_owned()))
        })
        .collect();
    let meta = BlobMeta {
        name: name.to_owned(),
        size,
        etag: h("etag").unwrap_or_default(),
        last_modified: h("last-modified").as_deref().and_then(xml::parse_http_date),
        kind: xml::blob_kind(h("x-ms-blob-type").as_deref()),
        properties: BlobProperties {
            content_type: h("content-type"),
            content_encoding: h("content-encoding"),
            content_language: h("content-language"),
            content_disposition: h("content-disposition"),
            cache_control: h("cache-control"),
            // A ranged GET returns the whole blob's MD5 in x-ms-blob-content-md5.
            content_md5: h("x-ms-blob-content-md5").or_else(|| {
                if content_range.is_none() {
                    h("content-md5")
                } else {
                    None
                }
            }),
        },
        metadata,
    };
    (meta, content_range.map(|(r, _)| r))
}

/// `bytes 100-1099/10000` → (100..1100, 10000).
fn parse_content_range(s: &str) -> Option<(Range<u64>, u64)> {
    let rest = s.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((a.parse().ok()?..b.parse::<u64>().ok()? + 1, total.parse().ok()?))
}

#[async_trait]
impl BlobStore for AzureBlobStore {
    fn describe(&self) -> String {
        format!("azure account '{}' at {}", self.inner.config.account, self.inner.config.blob_endpoint)
    }

    fn request_retries(&self) -> u64 {
        self.retries()
    }

    fn access(&self) -> Access {
        let mut access = match &self.inner.config.credential {
            Credential::SharedKey(_) => Access::unrestricted("account key"),
            Credential::BearerToken(_) | Credential::Entra(_) => Access::unrestricted("token"),
            Credential::Anonymous => Access::unrestricted("anonymous"),
            Credential::Sas(token) => {
                let (mut permissions, mut expiry) = (Permissions::NONE, None);
                for (k, v) in url::form_urlencoded::parse(token.expose().as_bytes()) {
                    match k.as_ref() {
                        "sp" => permissions = crate::acl::permissions_from_letters(&v),
                        "se" => {
                            expiry = DateTime::parse_from_rfc3339(&v).ok().map(|t| t.with_timezone(&Utc));
                        }
                        _ => {}
                    }
                }
                let mut a = Access::unrestricted("sas");
                // A token bound to a stored policy (`si=` without `sp`) does not say.
                a.permissions = (permissions != Permissions::NONE).then_some(permissions);
                a.expiry = expiry;
                a
            }
        };
        access.read_only = self.inner.config.secondary;
        access
    }

    fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    fn requests_by_operation(&self) -> std::collections::BTreeMap<String, u64> {
        self.inner.operations.lock().map(|ops| ops.clone()).unwrap_or_default()
    }

    fn endpoint(&self) -> Option<String> {
        let u = &self.inner.config.blob_endpoint;
        Some(
            format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""))
                + &u.port().map(|p| format!(":{p}")).unwrap_or_default(),
        )
    }

    fn identity(&self) -> Option<StoreIdentity> {
        Some(self.inner.config.account_identity())
    }

    fn adaptive_limit(&self) -> Option<Arc<AdaptiveLimit>> {
        Some(self.inner.limit.clone())
    }

    fn capability(&self) -> Capability {
        let loopback = self.inner.config.is_loopback();
        let mut c = Capability::basic();
        // With a key it signs its own; with a SAS it passes its token on (as far as it reaches).
        c.signed_urls = self.inner.key.is_some() || matches!(self.inner.config.credential, Credential::Sas(_));
        c.stored_access_policies = self.inner.key.is_some() && !self.inner.config.secondary;
        c.copy_from_url_same_endpoint = true;
        // Measured: Azurite cannot read a source on another emulator instance.
        c.copy_from_url_other_endpoint = !loopback;
        c.put_block_from_url = true;
        // Documented for Put Blob ("400 Md5Mismatch"); the conformance suite
        // checks it on Azurite.
        c.put_blob_checks_content_md5 = true;
        c.max_put_blob_bytes = 256 * 1024 * 1024;
        c.max_block_bytes = 4000 * 1024 * 1024;
        c.max_copy_from_url_bytes = 256 * 1024 * 1024;
        c
    }

    async fn create_container(&self, container: &str) -> Result<bool> {
        let url = Self::with_query(self.url(container, None), &[("restype", "container")]);
        match self.send(&self.request(Method::PUT, url, Self::container_what(container))).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn delete_container(&self, container: &str) -> Result<bool> {
        let url = Self::with_query(self.url(container, None), &[("restype", "container")]);
        match self.send(&self.request(Method::DELETE, url, Self::container_what(container))).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn list_containers(&self, prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut q = vec![("comp", "list")];
            if !prefix.is_empty() {
                q.push(("prefix", prefix));
            }
            if let Some(m) = &marker {
                q.push(("marker", m));
            }
            let url = Self::with_query(self.account_root(), &q);
            let resp = self.send(&self.request(Method::GET, url, "container listing")).await?;
            let body = resp.text().await.map_err(|e| Error::new(ErrorKind::Transient, e.without_url().to_string()))?;
            let (names, next) = xml::parse_container_list(&body)?;
            out.extend(names);
            match next {
                Some(m) => marker = Some(m),
                None => return Ok(out),
            }
        }
    }

    async fn list_blobs(&self, container: &str, options: &ListOptions) -> Result<ListPage> {
        let max = options.max_results.map(|m| m.to_string());
        let mut q = vec![("restype", "container"), ("comp", "list"), ("include", "metadata")];
        if let Some(p) = options.prefix.as_deref().filter(|p| !p.is_empty()) {
            q.push(("prefix", p));
        }
        if let Some(m) = &options.marker {
            q.push(("marker", m));
        }
        if let Some(m) = &max {
            q.push(("maxresults", m));
        }
        let url = Self::with_query(self.url(container, None), &q);
        let resp = self.send(&self.request(Method::GET, url, Self::container_what(container))).await?;
        let body = resp.text().await.map_err(|e| Error::new(ErrorKind::Transient, e.without_url().to_string()))?;
        let (blobs, next_marker) = xml::parse_blob_list(&body)?;
        Ok(ListPage { blobs, next_marker })
    }

    async fn head_blob(&self, container: &str, name: &str) -> Result<BlobMeta> {
        let resp = self
            .send(&self.request(Method::HEAD, self.blob_url(container, name)?, Self::blob_what(container, name)))
            .await?;
        Ok(meta_from_headers(name, resp.headers()).0)
    }

    async fn get_blob(&self, container: &str, name: &str, range: Option<Range<u64>>) -> Result<GetResult> {
        let what = Self::blob_what(container, name);
        let mut req = self.request(Method::GET, self.blob_url(container, name)?, what.clone());
        if let Some(r) = &range {
            if r.end <= r.start {
                return Err(Error::invalid_input(format!("{what}: empty range {}..{}", r.start, r.end)));
            }
            header(&mut req.headers, "x-ms-range", &format!("bytes={}-{}", r.start, r.end - 1))?;
        }
        let resp = match self.send(&req).await {
            // A zero-length blob has no range to give; answer it whole.
            Err(e) if e.kind() == ErrorKind::InvalidInput && range.as_ref().is_some_and(|r| r.start == 0) => {
                let head = self.head_blob(container, name).await?;
                if head.size != 0 {
                    return Err(e);
                }
                return Ok(GetResult { meta: head, range: 0..0, stream: Box::pin(futures::stream::empty()) });
            }
            other => other?,
        };
        let (meta, returned) = meta_from_headers(name, resp.headers());
        let range = returned.unwrap_or(0..meta.size);
        let stream = resp.bytes_stream().map_err(move |e| {
            Error::new(ErrorKind::Transient, format!("{what}: download interrupted: {}", e.without_url()))
        });
        Ok(GetResult { meta, range, stream: Box::pin(stream) })
    }

    async fn put_blob(&self, container: &str, name: &str, data: Bytes, options: &PutOptions) -> Result<String> {
        let mut req = self.request(Method::PUT, self.blob_url(container, name)?, Self::blob_what(container, name));
        header(&mut req.headers, "x-ms-blob-type", "BlockBlob")?;
        apply_properties(&mut req.headers, &options.properties)?;
        if let Some(md5) = &options.properties.content_md5 {
            // Also as Content-MD5, so the service checks the bytes on arrival.
            header(&mut req.headers, "content-md5", md5)?;
        }
        apply_metadata(&mut req.headers, &options.metadata)?;
        apply_condition(&mut req.headers, &options.condition)?;
        req.body = data;
        Ok(etag_of(&self.send(&req).await?))
    }

    async fn put_block(&self, container: &str, name: &str, block_id: &str, data: Bytes) -> Result<()> {
        let id = B64.encode(block_id);
        let url = Self::with_query(self.blob_url(container, name)?, &[("comp", "block"), ("blockid", &id)]);
        let mut req = self.request(Method::PUT, url, Self::blob_what(container, name));
        // The block's own MD5, so the service checks it on arrival. Without
        // one, the service computes a CRC64 of the block to send back (Azurite
        // in JavaScript: about three times the CPU of the whole request).
        // A large block is hashed on the blocking pool: the uploader hashes
        // the whole blob in order on its own task meanwhile, so the two hashes
        // of the same bytes run on two cores.
        let md5 = if data.len() >= 256 * 1024 {
            let bytes = data.clone();
            tokio::task::spawn_blocking(move || Md5::digest(&bytes))
                .await
                .map_err(|e| Error::new(ErrorKind::Other, format!("{}: hashing a block failed: {e}", req.what)))?
        } else {
            Md5::digest(&data)
        };
        header(&mut req.headers, "content-md5", &B64.encode(md5))?;
        req.body = data;
        self.send(&req).await.map(|_| ())
    }

    async fn put_block_list(
        &self,
        container: &str,
        name: &str,
        block_ids: &[String],
        options: &PutOptions,
    ) -> Result<String> {
        let url = Self::with_query(self.blob_url(container, name)?, &[("comp", "blocklist")]);
        let mut req = self.request(Method::PUT, url, Self::blob_what(container, name));
        let mut body = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for id in block_ids {
            body.push_str(&format!("<Latest>{}</Latest>", B64.encode(id)));
        }
        body.push_str("</BlockList>");
        header(&mut req.headers, "content-type", "application/xml")?;
        apply_properties(&mut req.headers, &options.properties)?;
        apply_metadata(&mut req.headers, &options.metadata)?;
        apply_condition(&mut req.headers, &options.condition)?;
        req.body = Bytes::from(body);
        Ok(etag_of(&self.send(&req).await?))
    }

    async fn set_metadata(
        &self,
        container: &str,
        name: &str,
        metadata: &BTreeMap<String, String>,
        condition: &Condition,
    ) -> Result<String> {
        let url = Self::with_query(self.blob_url(container, name)?, &[("comp", "metadata")]);
        let mut req = self.request(Method::PUT, url, Self::blob_what(container, name));
        apply_metadata(&mut req.headers, metadata)?;
        apply_condition(&mut req.headers, condition)?;
        Ok(etag_of(&self.send(&req).await?))
    }

    async fn delete_blob(&self, container: &str, name: &str, condition: &Condition) -> Result<bool> {
        let mut req = self.request(Method::DELETE, self.blob_url(container, name)?, Self::blob_what(container, name));
        header(&mut req.headers, "x-ms-delete-snapshots", "include")?;
        apply_condition(&mut req.headers, condition)?;
        match self.send(&req).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn signed_url(
        &self,
        container: &str,
        blob: Option<&str>,
        permissions: Permissions,
        expiry: DateTime<Utc>,
    ) -> Result<SignedUrl> {
        if let Credential::Sas(token) = &self.inner.config.credential {
            // No key to sign with: pass on the token this store was given, if it grants enough.
            let access = self.access();
            if !access.allows(permissions) {
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "the SAS of account '{}' grants '{}', not the '{}' asked for",
                        self.inner.config.account,
                        access.permissions.map(|p| p.sas_letters()).unwrap_or_default(),
                        permissions.sas_letters()
                    ),
                ));
            }
            return self.signed_with(container, blob, token.expose());
        }
        let key = self.signing_key("issuing a SAS")?;
        let token = service_sas(
            key,
            &SasRequest {
                account: &self.inner.config.account,
                container,
                blob,
                permissions,
                start: Some(Utc::now() - chrono::Duration::minutes(5)),
                expiry,
                allow_http: self.inner.config.is_loopback(),
                identifier: None,
            },
        );
        self.signed_with(container, blob, &token)
    }

    async fn scoped(
        &self,
        container: &str,
        permissions: Permissions,
        expiry: DateTime<Utc>,
    ) -> Result<Arc<dyn BlobStore>> {
        let url = self.signed_url(container, None, permissions, expiry).await?;
        Ok(Arc::new(self.with_sas(&url)))
    }

    async fn copy_from_url(
        &self,
        container: &str,
        name: &str,
        source: &CopySource,
        options: &PutOptions,
    ) -> Result<String> {
        let mut req = self.request(Method::PUT, self.blob_url(container, name)?, Self::blob_what(container, name));
        header(&mut req.headers, "x-ms-copy-source", source.url.expose())?;
        if let Some(etag) = &source.if_match {
            header(&mut req.headers, "x-ms-source-if-match", etag)?;
        }
        header(&mut req.headers, "x-ms-requires-sync", "true")?;
        apply_metadata(&mut req.headers, &options.metadata)?;
        apply_condition(&mut req.headers, &options.condition)?;
        Ok(etag_of(&self.send(&req).await?))
    }

    async fn put_block_from_url(
        &self,
        container: &str,
        name: &str,
        block_id: &str,
        source: &CopySource,
        range: Range<u64>,
    ) -> Result<()> {
        let id = B64.encode(block_id);
        let url = Self::with_query(self.blob_url(container, name)?, &[("comp", "block"), ("blockid", &id)]);
        let mut req = self.request(Method::PUT, url, Self::blob_what(container, name));
        header(&mut req.headers, "x-ms-copy-source", source.url.expose())?;
        if let Some(etag) = &source.if_match {
            header(&mut req.headers, "x-ms-source-if-match", etag)?;
        }
        header(
            &mut req.headers,
            "x-ms-source-range",
            &format!("bytes={}-{}", range.start, range.end.saturating_sub(1)),
        )?;
        self.send(&req).await.map(|_| ())
    }

    async fn get_container_policies(&self, container: &str) -> Result<ContainerPolicies> {
        let url = Self::with_query(self.url(container, None), &[("restype", "container"), ("comp", "acl")]);
        let resp = self.send(&self.request(Method::GET, url, Self::container_what(container))).await?;
        // Set Container ACL takes If-Unmodified-Since, not If-Match: the version is Last-Modified.
        let version = resp.headers().get("last-modified").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let body = resp.text().await.map_err(|e| Error::new(ErrorKind::Transient, e.without_url().to_string()))?;
        Ok(ContainerPolicies { policies: crate::acl::parse(&body)?, version })
    }

    async fn set_container_policies(
        &self,
        container: &str,
        policies: &[StoredPolicy],
        if_version: Option<&str>,
    ) -> Result<String> {
        mirrorcast_store::check_policy_count(container, policies)?;
        let url = Self::with_query(self.url(container, None), &[("restype", "container"), ("comp", "acl")]);
        let mut req = self.request(Method::PUT, url, format!("stored access policies of container '{container}'"));
        header(&mut req.headers, "content-type", "application/xml")?;
        if let Some(v) = if_version.filter(|v| !v.is_empty()) {
            header(&mut req.headers, "if-unmodified-since", v)?;
        }
        req.body = Bytes::from(crate::acl::render(policies));
        let resp = self.send(&req).await?;
        Ok(resp.headers().get("last-modified").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned())
    }

    async fn signed_url_for_policy(&self, container: &str, blob: Option<&str>, policy_id: &str) -> Result<SignedUrl> {
        let key = self.signing_key("issuing a SAS on a stored access policy")?;
        let token = service_sas(
            key,
            &SasRequest {
                account: &self.inner.config.account,
                container,
                blob,
                permissions: Permissions::NONE,
                start: None,
                expiry: Utc::now(),
                allow_http: self.inner.config.is_loopback(),
                identifier: Some(policy_id),
            },
        );
        self.signed_with(container, blob, &token)
    }

    async fn scoped_for_policy(&self, container: &str, policy_id: &str) -> Result<Arc<dyn BlobStore>> {
        let url = self.signed_url_for_policy(container, None, policy_id).await?;
        Ok(Arc::new(self.with_sas(&url)))
    }
}

impl AzureBlobStore {
    /// This store with the token of `url` as its credential: same pool, same retry count.
    fn with_sas(&self, url: &SignedUrl) -> AzureBlobStore {
        let token = url.expose().split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
        let mut config = self.inner.config.clone();
        config.credential = Credential::Sas(mirrorcast_store::secret::Secret::new(token));
        let inner = Inner {
            config,
            http: self.inner.http.clone(),
            key: None,
            retries: self.inner.retries.clone(),
            label: self.inner.label.clone(),
            requests: self.inner.requests.clone(),
            operations: self.inner.operations.clone(),
            limit: self.inner.limit.clone(),
        };
        AzureBlobStore { inner: Arc::new(inner) }
    }

    /// An account SAS (blob service; containers and blobs) granting
    /// `permissions` until `expiry`: e.g. the read+list token that lets
    /// another party replicate from this account without its key.
    pub fn account_sas(
        &self,
        permissions: Permissions,
        expiry: DateTime<Utc>,
    ) -> Result<mirrorcast_store::secret::Secret> {
        let key = self.signing_key("issuing an account SAS")?;
        Ok(mirrorcast_store::secret::Secret::new(crate::auth::account_sas(
            key,
            &self.inner.config.account,
            permissions,
            expiry,
            self.inner.config.is_loopback(),
        )))
    }

    /// Whether this store addresses accounts by path (emulator style).
    pub fn is_path_style(&self) -> bool {
        is_path_style(&self.inner.config.blob_endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_gives_the_returned_range_and_the_total() {
        assert_eq!(parse_content_range("bytes 100-1099/10000"), Some((100..1100, 10000)));
        assert_eq!(parse_content_range("bytes */10"), None);
    }

    #[test]
    fn blob_urls_encode_each_segment() {
        let cfg = AzureConfig::from_connection_string("UseDevelopmentStorage=true").unwrap();
        let store = AzureBlobStore::new(cfg).unwrap();
        let url = store.url("asset-1", Some("dir/Big Buck 100%.ism"));
        assert_eq!(url.as_str(), "http://127.0.0.1:10000/devstoreaccount1/asset-1/dir/Big%20Buck%20100%25.ism");
        assert!(!format!("{store:?}").contains("Eby8"), "Debug must hide the key");
        let hostile = store.blob_url("c", " a//b/\u{1}#?%/").unwrap();
        assert_eq!(hostile.path(), "/devstoreaccount1/c/%20a//b/%01%23%3F%25/");
    }

    #[test]
    fn names_azure_would_store_under_another_name_are_refused_naming_the_account() {
        let cfg = AzureConfig::from_connection_string("UseDevelopmentStorage=true").unwrap();
        let store = AzureBlobStore::new(cfg).unwrap();
        for name in ["a/../b", "./a", "a/.", "..", "a\\b", ""] {
            let e = store.blob_url("c", name).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            assert!(e.message().contains("account 'devstoreaccount1'"), "{e}");
        }
        assert!(store.blob_url("c", &"x".repeat(1024)).is_ok());
        assert!(store.blob_url("c", &"x".repeat(1025)).is_err());
        assert!(store.blob_url("c", "a/.b/..c/...").is_ok(), "only whole '.' and '..' segments are special");
    }
}
