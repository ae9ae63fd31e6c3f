//! The operations, as UTF-8 JSON across the boundary (bytes travel apart, raw).

use std::collections::BTreeMap;

use mirrorcast_store::{BlobMeta, BlobProperties, Condition, ListOptions, PutOptions};
use serde::{Deserialize, Serialize};

/// [`Condition`] in its JSON form, so the store-side type needs no serde.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireCondition {
    /// Unconditional.
    None,
    /// Only if the blob's ETag is this one.
    IfMatch(String),
    /// Only if no blob has that name.
    IfNotExists,
}

impl From<&Condition> for WireCondition {
    fn from(c: &Condition) -> Self {
        match c {
            Condition::None => WireCondition::None,
            Condition::IfMatch(e) => WireCondition::IfMatch(e.clone()),
            Condition::IfNotExists => WireCondition::IfNotExists,
        }
    }
}

impl From<WireCondition> for Condition {
    fn from(c: WireCondition) -> Self {
        match c {
            WireCondition::None => Condition::None,
            WireCondition::IfMatch(e) => Condition::IfMatch(e),
            WireCondition::IfNotExists => Condition::IfNotExists,
        }
    }
}

/// [`PutOptions`] in its JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePut {
    /// Content type, cache control and the other standard HTTP properties to store with the blob.
    pub properties: BlobProperties,
    /// User metadata to store with the blob.
    pub metadata: BTreeMap<String, String>,
    /// The write happens only if this holds.
    pub condition: WireCondition,
}

impl From<&PutOptions> for WirePut {
    fn from(p: &PutOptions) -> Self {
        WirePut { properties: p.properties.clone(), metadata: p.metadata.clone(), condition: (&p.condition).into() }
    }
}

impl From<WirePut> for PutOptions {
    fn from(p: WirePut) -> Self {
        PutOptions { properties: p.properties, metadata: p.metadata, condition: p.condition.into() }
    }
}

/// One operation of [`mirrorcast_store::BlobStore`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// A short description for messages; replies `Text`.
    Describe,
    /// Creates a container; replies `Bool`, false if it existed already.
    CreateContainer {
        /// Container name.
        container: String,
    },
    /// Deletes a container and its blobs; replies `Bool`, false if there was none.
    DeleteContainer {
        /// Container name.
        container: String,
    },
    /// Container names starting with `prefix`; replies `Names`.
    ListContainers {
        /// Only names starting with this; empty for all.
        prefix: String,
    },
    /// One page of blobs in name order; replies `Page`.
    ListBlobs {
        /// Container name.
        container: String,
        /// Only blobs whose names start with this.
        prefix: Option<String>,
        /// Continue after this marker, taken from the previous page's `next_marker`.
        marker: Option<String>,
        /// At most this many blobs in the page.
        max_results: Option<u32>,
    },
    /// A blob's metadata without its bytes; replies `Meta`.
    Head {
        /// Container name.
        container: String,
        /// Blob name within the container.
        name: String,
    },
    /// Bytes `start..end` (or all); the reply's body holds them.
    Get {
        /// Container name.
        container: String,
        /// Blob name within the container.
        name: String,
        /// Byte offsets, start inclusive and end exclusive; `None` for the whole blob.
        range: Option<(u64, u64)>,
    },
    /// Writes a whole blob from the request's body; replies `ETag`.
    PutBlob {
        /// Container name.
        container: String,
        /// Blob name within the container.
        name: String,
        /// Properties, metadata and condition of the write.
        options: WirePut,
    },
    /// Stages the request's body as one block, not yet visible; replies `Unit`.
    PutBlock {
        /// Container name.
        container: String,
        /// Blob name within the container.
        name: String,
        /// The raw block id; the store encodes it as its service needs.
        block_id: String,
    },
    /// Commits staged blocks, in order, as the blob's content; replies `ETag`.
    PutBlockList {
        /// Container name.
        container: String,
        /// Blob name within the container.
        name: String,
        /// Raw ids of staged blocks, in content order.
        block_ids: Vec<String>,
        /// Properties, metadata and condition of the commit.
        options: WirePut,
    },
    /// Replaces a blob's user metadata; replies `ETag`.
    SetMetadata {
        /// Container name.
        container: String,
        /// Blob name within the container.
        name: String,
        /// The whole new metadata; keys not listed are removed.
        metadata: BTreeMap<String, String>,
        /// The change happens only if this holds.
        condition: WireCondition,
    },
    /// Deletes a blob; replies `Bool`, false if there was none.
    DeleteBlob {
        /// Container name.
        container: String,
        /// Blob name within the container.
        name: String,
        /// The delete happens only if this holds.
        condition: WireCondition,
    },
}

impl Request {
    /// The store-side options of a `ListBlobs` request's fields.
    pub fn list_options(prefix: Option<String>, marker: Option<String>, max_results: Option<u32>) -> ListOptions {
        ListOptions { prefix, marker, max_results }
    }
}

/// A successful answer to a [`Request`]; each request expects one variant, and
/// the host treats any other as a corrupt reply. Errors travel as status codes instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// Done, nothing to report (`PutBlock`).
    Unit,
    /// Whether the create or delete changed anything.
    Bool {
        /// `false` when there was nothing to do: the container existed already, or nothing was there to delete.
        value: bool,
    },
    /// The answer to `Describe`.
    Text {
        /// The store's description; no secrets.
        value: String,
    },
    /// The answer to `ListContainers`.
    Names {
        /// Matching container names.
        names: Vec<String>,
    },
    /// The answer to `ListBlobs`.
    Page {
        /// The blobs of this page, in name order.
        blobs: Vec<BlobMeta>,
        /// Where the next page starts; `None` on the last page.
        next_marker: Option<String>,
    },
    /// The answer to `Head`.
    Meta {
        /// The blob's size, ETag, properties and metadata.
        meta: BlobMeta,
    },
    /// The answer to `Get`; the bytes travel in the reply's body.
    Got {
        /// The blob's size, ETag, properties and metadata.
        meta: BlobMeta,
        /// First byte offset actually returned.
        start: u64,
        /// Byte offset just past the last byte returned.
        end: u64,
    },
    /// The answer to writes: the blob's new ETag.
    ETag {
        /// The ETag, for a later `IfMatch`.
        etag: String,
    },
}
