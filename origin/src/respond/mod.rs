//! Responses, by what was asked for: a plain file ([`plain`]), a packaged
//! manifest or playlist ([`packaged`]), a packaged segment ([`fragment`]).
//! Each reads through the caches and the upstream it is given, never back
//! up into the router.

pub(crate) mod fragment;
pub(crate) mod packaged;
pub(crate) mod plain;
pub(crate) mod text;

use crate::encrypted::Packing;
use crate::request::Format;

/// One rendition of an `.ism` asked for, in a format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pick<'a> {
    pub(crate) ism: &'a str,
    pub(crate) bitrate: u64,
    pub(crate) stream: &'a str,
    pub(crate) format: Format,
    /// A protected locator's encryption of it.
    pub(crate) packing: Option<&'a Packing>,
}

/// Manifests change when an asset is re-encoded; media files do not.
const MANIFEST_CACHE_CONTROL: &str = "public, max-age=10";
const MEDIA_CACHE_CONTROL: &str = "public, max-age=86400";
