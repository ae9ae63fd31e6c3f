//! mirrorcast-store: the storage abstraction, apart from the media-asset
//! domain that uses it (as object_store stands apart from its users).
//!
//! One trait, [`BlobStore`], that every backend implements (its contract is in
//! the trait's docs); what a backend can do is declared in [`Capability`].
//! Around it: the upload pipeline ([`BlobStoreExt`], [`upload_stream`] and
//! friends) over a shared [`BlockPool`], an [`InMemoryStore`], the
//! [`Throttled`] wrapper with its [`AdaptiveLimit`], the store's own [`Error`],
//! [`Permissions`] and [`secret`] redaction, and the [`conformance`] suite
//! every store runs.

pub mod adaptive;
pub mod conformance;
mod error;
mod ext;
mod identity;
pub mod memory;
mod permissions;
pub mod pool;
pub mod secret;
pub mod throttle;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::{Deserialize, Serialize};

use crate::secret::redact_sas;

pub use adaptive::{AdaptiveLimit, LimitReport};
pub use error::{Error, ErrorKind, Result};
pub use ext::{
    source_changed, upload_file, upload_ranges, upload_reader, upload_stream, BlobRangeSource, BlobStoreExt,
    RangeSource, UploadOptions, Uploaded,
};
pub use identity::StoreIdentity;
pub use memory::InMemoryStore;
pub use permissions::Permissions;
pub use pool::BlockPool;
pub use throttle::{Limits, Throttled};

/// Bytes of a blob, in chunks, as they arrive.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// What a backend can do; callers choose a strategy from it instead of
/// calling methods that would fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capability {
    /// `copy_from_url` works with a source in another account of the same endpoint.
    pub copy_from_url_same_endpoint: bool,
    /// `copy_from_url` works with a source on another endpoint (another data center).
    pub copy_from_url_other_endpoint: bool,
    /// `put_block_from_url` works (same endpoint rules as `copy_from_url`).
    pub put_block_from_url: bool,
    /// `signed_url` can issue SAS URLs.
    pub signed_urls: bool,
    /// `put_blob`, `put_block_list`, `set_metadata` and `delete_blob` honour
    /// [`Condition`]s (as the trait's contract says).
    pub conditional_writes: bool,
    /// Largest body `put_blob` accepts in one request.
    pub max_put_blob_bytes: u64,
    /// Largest staged block.
    pub max_block_bytes: u64,
    /// Most blocks in one committed blob.
    pub max_blocks: u32,
    /// Largest source `copy_from_url` copies in one request.
    pub max_copy_from_url_bytes: u64,
    /// `get_container_policies` / `set_container_policies` work (stored access
    /// policies); with `signed_urls`, tokens can be bound to one (`signed_url_for_policy`).
    pub stored_access_policies: bool,
    /// `put_blob` hashes the bytes it receives and refuses them
    /// ([`crate::ErrorKind::Corrupt`], nothing committed) when they differ from the
    /// Content-MD5 it is given: a copy that passes its source's MD5 along is
    /// then proven by the target's own hash of the bytes, and the client need
    /// not hash them too. Blocks committed by `put_block_list` are never checked
    /// this way (the service stores a whole-blob MD5 it is given as it is).
    pub put_blob_checks_content_md5: bool,
}

impl Capability {
    /// What a store that only reads and writes its own bytes can do.
    pub const fn basic() -> Self {
        Capability {
            copy_from_url_same_endpoint: false,
            copy_from_url_other_endpoint: false,
            put_block_from_url: false,
            signed_urls: false,
            conditional_writes: true,
            max_put_blob_bytes: 256 * 1024 * 1024,
            max_block_bytes: 100 * 1024 * 1024,
            max_blocks: 50_000,
            max_copy_from_url_bytes: 0,
            stored_access_policies: false,
            put_blob_checks_content_md5: false,
        }
    }

    /// What a view that only reads can do: list, head and get. Every flag is
    /// off and every maximum zero: no write, no signing, no server-side copy.
    pub const fn read_only() -> Self {
        Capability {
            copy_from_url_same_endpoint: false,
            copy_from_url_other_endpoint: false,
            put_block_from_url: false,
            signed_urls: false,
            conditional_writes: false,
            max_put_blob_bytes: 0,
            max_block_bytes: 0,
            max_blocks: 0,
            max_copy_from_url_bytes: 0,
            stored_access_policies: false,
            put_blob_checks_content_md5: false,
        }
    }
}

/// Most stored access policies a container may hold (Azure's limit).
pub const MAX_STORED_POLICIES: usize = 5;

/// Refuses more stored access policies than a container can hold, before any request.
pub fn check_policy_count(container: &str, policies: &[StoredPolicy]) -> Result<()> {
    if policies.len() > MAX_STORED_POLICIES {
        return Err(Error::invalid_input(format!(
            "container '{container}': {} stored access policies, at most {MAX_STORED_POLICIES} allowed",
            policies.len()
        )));
    }
    Ok(())
}

/// A stored access policy of a container (Azure: a signed identifier). A
/// token bound to it (`si=<id>`) takes its permissions and times from it and
/// stops working when it is removed: removing it revokes every such token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPolicy {
    /// At most 64 characters.
    pub id: String,
    /// When the policy starts to grant access; `None`: at once.
    pub start: Option<DateTime<Utc>>,
    /// When tokens bound to the policy stop working; `None`: they must say it themselves.
    pub expiry: Option<DateTime<Utc>>,
    /// What tokens bound to the policy may do.
    pub permissions: Permissions,
}

/// A container's stored access policies and the version they were read at,
/// for a read-modify-write (`set_container_policies` with `if_version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPolicies {
    /// The policies, in the order the service keeps them (at most [`MAX_STORED_POLICIES`]).
    pub policies: Vec<StoredPolicy>,
    /// Opaque version (an ETag) to pass as `if_version` when writing them back.
    pub version: String,
}

/// What a store's own credential allows, as far as the store can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// `account key`, `sas`, `token`, `anonymous`, or the backend's own word.
    pub credential: String,
    /// What the credential grants; `None` when it does not limit (an account key) or cannot be told.
    pub permissions: Option<Permissions>,
    /// When the credential stops working, if it says.
    pub expiry: Option<DateTime<Utc>>,
    /// The endpoint only serves reads (a geo-secondary): every write is refused.
    pub read_only: bool,
}

impl Access {
    /// A credential that does not limit what the store may do.
    pub fn unrestricted(credential: impl Into<String>) -> Self {
        Access { credential: credential.into(), permissions: None, expiry: None, read_only: false }
    }

    /// Whether the credential allows `wanted` (an unknown limit counts as allowed).
    pub fn allows(&self, wanted: Permissions) -> bool {
        self.permissions.is_none_or(|p| p.contains(wanted))
    }
}

/// The kind of blob: only block blobs are media assets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum BlobKind {
    /// A block blob: the only kind media assets are made of.
    #[default]
    Block,
    /// A page blob (disks); never copied as an asset.
    Page,
    /// An append blob (logs); never copied as an asset.
    Append,
}

/// Standard HTTP properties of a blob, kept on copy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobProperties {
    /// `Content-Type`, e.g. `video/mp4`.
    pub content_type: Option<String>,
    /// `Content-Encoding`, e.g. `gzip`.
    pub content_encoding: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// Base64 of the MD5 of the whole blob, as the service stores it.
    pub content_md5: Option<String>,
}

/// What a listing or a HEAD tells about one blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobMeta {
    /// The blob's name inside its container, as the service knows it.
    pub name: String,
    /// Size of the whole blob in bytes.
    pub size: u64,
    /// The version tag; every write changes it.
    pub etag: String,
    /// When the blob last changed, where the store says.
    pub last_modified: Option<DateTime<Utc>>,
    /// Block, page or append blob.
    pub kind: BlobKind,
    /// Standard HTTP properties.
    pub properties: BlobProperties,
    /// User metadata (name → value).
    pub metadata: BTreeMap<String, String>,
}

/// A condition on a write or delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Condition {
    /// No condition: the write always goes ahead.
    #[default]
    None,
    /// Only if the blob's ETag is this one.
    IfMatch(String),
    /// Only if no blob has that name.
    IfNotExists,
}

impl Condition {
    /// Whether a write may go ahead on blob `name`, whose current ETag is
    /// `current` (`None`: no such blob). For stores that check conditions themselves.
    pub fn check(&self, current: Option<&str>, name: &str) -> Result<()> {
        let failed = match (self, current) {
            (Condition::None, _) => false,
            (Condition::IfNotExists, c) => c.is_some(),
            (Condition::IfMatch(wanted), Some(etag)) => wanted != etag,
            (Condition::IfMatch(_), None) => return Err(Error::not_found(format!("blob '{name}' does not exist"))),
        };
        if failed {
            return Err(Error::new(
                crate::ErrorKind::PreconditionFailed,
                format!("blob '{name}' changed: condition not met"),
            ));
        }
        Ok(())
    }
}

/// Properties, metadata and condition of a write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// HTTP properties of the written blob.
    pub properties: BlobProperties,
    /// User metadata of the written blob; replaces any it had.
    pub metadata: BTreeMap<String, String>,
    /// When the write may go ahead.
    pub condition: Condition,
}

/// What one [`BlobStore::list_blobs`] call asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Only blobs whose names start with this.
    pub prefix: Option<String>,
    /// Continue after this marker (from [`ListPage::next_marker`]).
    pub marker: Option<String>,
    /// At most this many entries in the page.
    pub max_results: Option<u32>,
}

/// One page of a blob listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Blobs of this page, in name order.
    pub blobs: Vec<BlobMeta>,
    /// Where the next page starts; `None` or empty: this was the last.
    pub next_marker: Option<String>,
}

/// The result of a GET: the blob's metadata and (part of) its bytes.
pub struct GetResult {
    /// The blob's metadata (`size` is the whole blob's, not the range's).
    pub meta: BlobMeta,
    /// The range actually returned.
    pub range: Range<u64>,
    /// The bytes of `range`, as they arrive.
    pub stream: ByteStream,
}

impl fmt::Debug for GetResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetResult").field("meta", &self.meta).field("range", &self.range).finish_non_exhaustive()
    }
}

/// Characters escaped in one path segment (RFC 3986 `pchar` keeps the rest).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Percent-encodes one path segment (a blob name may hold spaces and more).
pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A URL that grants access by itself (it carries a SAS). `Debug` and
/// `Display` redact the signature; [`SignedUrl::expose`] gives the real URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedUrl(String);

impl SignedUrl {
    /// Wraps a URL that carries its own access token.
    pub fn new(url: impl Into<String>) -> Self {
        SignedUrl(url.into())
    }

    /// The real URL, token included: for sending only, never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL of blob `name` inside this container URL, with the same token.
    pub fn for_blob(&self, name: &str) -> SignedUrl {
        let (base, query) = self.0.split_once('?').map_or((self.0.as_str(), None), |(b, q)| (b, Some(q)));
        let path: Vec<String> = name.split('/').map(encode_segment).collect();
        let mut url = format!("{}/{}", base.trim_end_matches('/'), path.join("/"));
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        SignedUrl(url)
    }

    /// The URL without its query string: safe to store and print.
    pub fn without_query(&self) -> &str {
        self.0.split_once('?').map_or(&self.0, |(base, _)| base)
    }
}

impl fmt::Debug for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignedUrl({})", redact_sas(&self.0))
    }
}

impl fmt::Display for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_sas(&self.0))
    }
}

/// The source of a server-side copy: a URL the target service can read, and
/// the ETag the source must still have (so a changing source fails the copy
/// instead of landing as a mix of versions).
#[derive(Debug, Clone)]
pub struct CopySource {
    /// A URL the target service can read the source from.
    pub url: SignedUrl,
    /// The ETag the source must still have; `None`: any version.
    pub if_match: Option<String>,
}

/// An ability a store may lack. [`Ability::unsupported_by`] is the error a
/// store gives when asked for one it does not have: kind
/// [`ErrorKind::Unsupported`], and no request sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ability {
    /// [`BlobStore::signed_url`] ([`Capability::signed_urls`]).
    SignedUrls,
    /// [`BlobStore::scoped`] (no flag: a store that cannot narrow its
    /// credential says so with this error, and callers go on without).
    ScopedCredentials,
    /// [`BlobStore::copy_from_url`] ([`Capability::copy_from_url_same_endpoint`],
    /// [`Capability::copy_from_url_other_endpoint`]).
    CopyFromUrl,
    /// [`BlobStore::put_block_from_url`] ([`Capability::put_block_from_url`]).
    PutBlockFromUrl,
    /// [`BlobStore::get_container_policies`] and [`BlobStore::set_container_policies`]
    /// ([`Capability::stored_access_policies`]).
    StoredAccessPolicies,
    /// [`BlobStore::signed_url_for_policy`] (`signed_urls` and `stored_access_policies`).
    PolicySignedUrls,
    /// [`BlobStore::scoped_for_policy`] (`stored_access_policies`; like `scoped`).
    PolicyScopedCredentials,
}

impl Ability {
    /// The refusal of `store`, which lacks this ability.
    pub fn unsupported_by(self, store: &(impl BlobStore + ?Sized)) -> Error {
        let lacks = match self {
            Ability::SignedUrls => "cannot issue signed URLs",
            Ability::ScopedCredentials => "cannot issue scoped credentials",
            Ability::CopyFromUrl => "cannot copy from a URL",
            Ability::PutBlockFromUrl => "cannot stage blocks from a URL",
            Ability::StoredAccessPolicies => "has no stored access policies",
            Ability::PolicySignedUrls => "cannot bind signed URLs to stored policies",
            Ability::PolicyScopedCredentials => "cannot bind scoped credentials to stored policies",
        };
        Error::unsupported(format!("{} {lacks}", store.describe()))
    }
}

/// A storage account (or anything shaped like one): containers of named blobs.
///
/// Names are container names and blob names as the service knows them;
/// implementations encode them for the wire. Errors carry an
/// [`ErrorKind`]; retryable ones have already been retried by the backend.
///
/// # Contract
///
/// Every implementation, backend or wrapper, writes every method: there are
/// no default bodies, so a wrapper cannot silently lose an ability or a
/// counter it forgot. [`conformance::run_all`] checks what can be checked.
///
/// - **Not found.** A missing blob fails `head_blob` and `get_blob` with
///   [`ErrorKind::NotFound`]; a missing container fails `list_blobs` with
///   `NotFound`. Removing what is not there is no error: `delete_blob` and
///   `delete_container` return `Ok(false)`; `create_container` returns
///   `Ok(false)` for a container that exists.
/// - **Names.** Every name the service accepts is a blob of its own, kept and
///   listed exactly as written: names a path-based store could merge (`a/`,
///   `a//b`, `%25`, names under the store's own bookkeeping folder) stay apart.
/// - **Listing.** `list_blobs` returns at most `max_results` blobs whose names
///   start with `prefix`, in name order; a `next_marker` that is `Some` and not
///   empty continues after the page, `None` or empty ends the listing. A listed
///   blob has the ETag, properties and metadata `head_blob` gives.
///   `list_containers` returns every container whose name starts with the
///   prefix, in no promised order.
/// - **Reads.** `get_blob` with a range returns that range clipped to the
///   blob's end and says which range it returned; `meta.size` is the whole
///   blob's. Bytes handed out stay the version they were read from; the next
///   read after a write, a metadata change or a delete sees it.
/// - **Writes.** `put_blob` and `put_block_list` replace the whole blob and
///   return its new ETag (every write, `set_metadata` too, changes the ETag).
///   Staged blocks are invisible until committed, and are committed in the
///   order listed. A write keeps the Content-MD5 it is given, and `put_blob`
///   stores the MD5 of the bytes when it is given none.
/// - **Conditions.** Where [`Capability::conditional_writes`]: `IfNotExists`
///   fails with [`ErrorKind::PreconditionFailed`] when the blob exists,
///   `IfMatch` with `PreconditionFailed` when its ETag moved (a store may say
///   `NotFound` when it is gone), on `put_blob`, `put_block_list`,
///   `set_metadata` and `delete_blob` alike; a refused write changes nothing.
/// - **Capabilities.** A `true` flag of [`Capability`] promises the methods it
///   names work here, within the maxima it gives. A `false` flag promises they
///   fail before any request: with `Unsupported` ([`Ability::unsupported_by`])
///   where the store cannot, with `PermissionDenied` where a wrapper refuses by
///   design (verify's read-only view). Callers choose a strategy from the flags
///   instead of calling and failing.
/// - **Errors.** The kind says what the caller can do ([`ErrorKind::is_retryable`]);
///   messages name the blob or container and never carry a secret.
/// - **Counters.** `request_retries`, `requests_sent` and
///   `requests_by_operation` only grow; a store that does not count returns
///   zero and an empty map, and a wrapper passes its inner store's on.
#[async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug + 'static {
    /// A short description for messages, e.g. `azure account 'a' at https://…`; no secrets.
    fn describe(&self) -> String;

    /// What this store can do; see the contract above for what a flag promises.
    fn capability(&self) -> Capability;

    /// Requests this store sent again after throttling or transient failures.
    fn request_retries(&self) -> u64;

    /// Requests this store sent so far (each retry counts), for measuring what a run costs.
    fn requests_sent(&self) -> u64;

    /// The same requests by operation (e.g. `get ACL asset`), where the store counts them.
    fn requests_by_operation(&self) -> BTreeMap<String, u64>;

    /// The service endpoint (`scheme://host:port`) for stores that have one:
    /// two stores on one endpoint may copy server-side between each other.
    fn endpoint(&self) -> Option<String>;

    /// Where this store's data lives, however it is reached; `None` when it
    /// cannot be told (each such store is taken as apart from every other).
    fn identity(&self) -> Option<StoreIdentity>;

    /// The adaptive limit on this store's requests in flight, where the
    /// backend keeps one (it sees each attempt's timeouts and busy answers).
    fn adaptive_limit(&self) -> Option<std::sync::Arc<AdaptiveLimit>>;

    /// What this store's credential allows (a SAS says its permissions and expiry).
    fn access(&self) -> Access;

    /// Creates a container; `Ok(false)` if it existed already.
    async fn create_container(&self, container: &str) -> Result<bool>;

    /// Deletes a container and its blobs; `Ok(false)` if there was none.
    async fn delete_container(&self, container: &str) -> Result<bool>;

    /// All container names starting with `prefix`.
    async fn list_containers(&self, prefix: &str) -> Result<Vec<String>>;

    /// One page of blobs, in name order.
    async fn list_blobs(&self, container: &str, options: &ListOptions) -> Result<ListPage>;

    /// The blob's metadata, without its bytes.
    async fn head_blob(&self, container: &str, name: &str) -> Result<BlobMeta>;

    /// The blob's bytes, or the part of them in `range`.
    async fn get_blob(&self, container: &str, name: &str, range: Option<Range<u64>>) -> Result<GetResult>;

    /// Writes a whole block blob in one request; returns its new ETag.
    async fn put_blob(&self, container: &str, name: &str, data: Bytes, options: &PutOptions) -> Result<String>;

    /// Stages one block of a block blob. `block_id` is the raw id (backends encode it).
    async fn put_block(&self, container: &str, name: &str, block_id: &str, data: Bytes) -> Result<()>;

    /// Commits staged blocks, in order, as the blob's content; returns its ETag.
    async fn put_block_list(
        &self,
        container: &str,
        name: &str,
        block_ids: &[String],
        options: &PutOptions,
    ) -> Result<String>;

    /// Replaces the blob's user metadata; returns its new ETag.
    async fn set_metadata(
        &self,
        container: &str,
        name: &str,
        metadata: &BTreeMap<String, String>,
        condition: &Condition,
    ) -> Result<String>;

    /// Deletes a blob; `Ok(false)` if there was none.
    async fn delete_blob(&self, container: &str, name: &str, condition: &Condition) -> Result<bool>;

    /// A URL to a container (`blob: None`) or a blob that grants `permissions`
    /// until `expiry` ([`Capability::signed_urls`]).
    async fn signed_url(
        &self,
        container: &str,
        blob: Option<&str>,
        permissions: Permissions,
        expiry: DateTime<Utc>,
    ) -> Result<SignedUrl>;

    /// This store narrowed to one container, `permissions` and a lifetime (a
    /// SAS on Azure), for least-privilege work; `Unsupported` where the store
    /// cannot narrow its credential ([`Ability::ScopedCredentials`]).
    async fn scoped(
        &self,
        container: &str,
        permissions: Permissions,
        expiry: DateTime<Utc>,
    ) -> Result<std::sync::Arc<dyn BlobStore>>;

    /// Server-side: the service reads `source` and writes it as this blob,
    /// synchronously ([`Capability::copy_from_url_same_endpoint`],
    /// [`Capability::copy_from_url_other_endpoint`]).
    async fn copy_from_url(
        &self,
        container: &str,
        name: &str,
        source: &CopySource,
        options: &PutOptions,
    ) -> Result<String>;

    /// Server-side: the service reads `range` of `source` and stages it as one
    /// block ([`Capability::put_block_from_url`]).
    async fn put_block_from_url(
        &self,
        container: &str,
        name: &str,
        block_id: &str,
        source: &CopySource,
        range: Range<u64>,
    ) -> Result<()>;

    /// The container's stored access policies (see [`Capability::stored_access_policies`]).
    async fn get_container_policies(&self, container: &str) -> Result<ContainerPolicies>;

    /// Replaces the container's stored access policies (at most
    /// [`MAX_STORED_POLICIES`]); with `if_version`, only if they are still at
    /// that version (else `PreconditionFailed`). Returns the new version.
    async fn set_container_policies(
        &self,
        container: &str,
        policies: &[StoredPolicy],
        if_version: Option<&str>,
    ) -> Result<String>;

    /// Like [`BlobStore::signed_url`], but bound to the container's stored
    /// policy `policy_id`, which sets its permissions and lifetime.
    async fn signed_url_for_policy(&self, container: &str, blob: Option<&str>, policy_id: &str) -> Result<SignedUrl>;

    /// Like [`BlobStore::scoped`], but bound to the container's stored policy `policy_id`.
    async fn scoped_for_policy(&self, container: &str, policy_id: &str) -> Result<std::sync::Arc<dyn BlobStore>>;
}
