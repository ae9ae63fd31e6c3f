//! The operations, as UTF-8 JSON across the boundary (bytes travel apart, raw).

use std::collections::BTreeMap;

use mirrorcast_store::{BlobMeta, BlobProperties, Condition, ListOptions, PutOptions};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireCondition {
    None,
    IfMatch(String),
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePut {
    pub properties: BlobProperties,
    pub metadata: BTreeMap<String, String>,
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
    Describe,
    CreateContainer {
        container: String,
    },
    DeleteContainer {
        container: String,
    },
    ListContainers {
        prefix: String,
    },
    ListBlobs {
        container: String,
        prefix: Option<String>,
        marker: Option<String>,
        max_results: Option<u32>,
    },
    Head {
        container: String,
        name: String,
    },
    /// Bytes `start..end` (or all); the reply's body holds them.
    Get {
        container: String,
        name: String,
        range: Option<(u64, u64)>,
    },
    PutBlob {
        container: String,
        name: String,
        options: WirePut,
    },
    PutBlock {
        container: String,
        name: String,
        block_id: String,
    },
    PutBlockList {
        container: String,
        name: String,
        block_ids: Vec<String>,
        options: WirePut,
    },
    SetMetadata {
        container: String,
        name: String,
        metadata: BTreeMap<String, String>,
        condition: WireCondition,
    },
    DeleteBlob {
        container: String,
        name: String,
        condition: WireCondition,
    },
}

impl Request {
    pub fn list_options(prefix: Option<String>, marker: Option<String>, max_results: Option<u32>) -> ListOptions {
        ListOptions { prefix, marker, max_results }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Unit,
    Bool { value: bool },
    Text { value: String },
    Names { names: Vec<String> },
    Page { blobs: Vec<BlobMeta>, next_marker: Option<String> },
    Meta { meta: BlobMeta },
    Got { meta: BlobMeta, start: u64, end: u64 },
    ETag { etag: String },
}
