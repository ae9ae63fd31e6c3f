//! How a locator may be streamed: Media Services' streaming policy, content keys
//! and filters of a locator, as imported, and what the origin may serve of it.
//!
//! They are kept on the locator record, not on its (term-derived, shared) access
//! policy: two locators with equal terms may stream differently. Whatever the
//! origin cannot honour faithfully (encryption, filters) it refuses; it never
//! serves a protected stream in the clear.

use serde::{Deserialize, Serialize};

use super::AssetOptions;
use crate::error::{Error, Result};

/// Most content keys, filters or delivery policies one locator may name: Media Services'
/// locators named a handful of each (a URL combined at most three filters). The bounds keep
/// the whole record within the 8 KiB of blob metadata the catalog index stores it in.
pub const MAX_NAMES: usize = 8;
/// Longest policy, key or filter name.
pub const NAME_CHARS: usize = 128;

/// A locator's delivery terms, as Media Services held them. Empty for the
/// locators mirrorcast makes itself (clear streaming and download).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// v3 `streamingPolicyName` (`Predefined_ClearStreamingOnly`, `Predefined_MultiDrmCencStreaming`, a custom name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming_policy_name: Option<String>,
    /// v3 `defaultContentKeyPolicyName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_content_key_policy_name: Option<String>,
    /// The ids of the content keys (v3 `contentKeys[].id`, v2 `ContentKeys`); never their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_key_ids: Vec<String>,
    /// Filters bound to the locator (v3 `filters`): every request through it is filtered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    /// v2 `AssetDeliveryPolicyType`s of the asset's delivery policies (`NoDynamicEncryption`,
    /// `DynamicCommonEncryption`, `DynamicEnvelopeEncryption`, `Blocked`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivery_policy_types: Vec<String>,
}

/// What the origin may serve of a locator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Servable {
    /// Streaming manifests and segments, and the asset's files (progressive download).
    StreamAndDownload,
    /// The asset's files only (`Predefined_DownloadOnly`).
    DownloadOnly,
    /// Streaming only, no file (`Predefined_ClearStreamingOnly`).
    StreamOnly,
    /// Nothing: the stream must be encrypted (or is blocked), which this origin does not do
    /// yet. The reason names the policy, never a key.
    Protected(String),
}

impl Servable {
    /// Whether the origin may serve streaming manifests and segments of it.
    pub fn streams(&self) -> bool {
        matches!(self, Servable::StreamAndDownload | Servable::StreamOnly)
    }

    /// Whether the origin may serve the asset's files whole (progressive download).
    pub fn downloads(&self) -> bool {
        matches!(self, Servable::StreamAndDownload | Servable::DownloadOnly)
    }

    /// A short word for listings: `stream+download`, `download only`, `stream only`, `protected`.
    pub fn label(&self) -> &'static str {
        match self {
            Servable::StreamAndDownload => "stream+download",
            Servable::DownloadOnly => "download only",
            Servable::StreamOnly => "stream only",
            Servable::Protected(_) => "protected: not served",
        }
    }
}

impl Delivery {
    /// Whether nothing is set: the locators mirrorcast makes (left out of JSON).
    pub fn is_default(&self) -> bool {
        self == &Delivery::default()
    }

    /// What may be served of a locator with these terms, of an asset with `options`.
    /// Anything that asks for encryption (a DRM or ClearKey policy, a custom policy
    /// whose schemes are unknown here, content keys, a protected asset without a clear
    /// policy, a v2 dynamic encryption or blocking delivery policy) is [`Servable::Protected`].
    pub fn servable(&self, options: AssetOptions) -> Servable {
        if let Some(name) = &self.streaming_policy_name {
            let clear = match name.to_ascii_lowercase().as_str() {
                "predefined_downloadonly" => Some(Servable::DownloadOnly),
                "predefined_clearstreamingonly" => Some(Servable::StreamOnly),
                "predefined_downloadandclearstreaming" => Some(Servable::StreamAndDownload),
                _ => None,
            };
            return match clear {
                Some(_) if !self.content_key_ids.is_empty() => Servable::Protected(format!("content keys with {name}")),
                Some(clear) => clear,
                None => Servable::Protected(name.clone()),
            };
        }
        let v2_protected = self
            .delivery_policy_types
            .iter()
            .find(|t| !t.eq_ignore_ascii_case("NoDynamicEncryption") && !t.eq_ignore_ascii_case("None"));
        if let Some(kind) = v2_protected {
            return Servable::Protected(kind.clone());
        }
        if !self.content_key_ids.is_empty() {
            return Servable::Protected("content keys".to_owned());
        }
        match options {
            AssetOptions::CommonEncryptionProtected => {
                Servable::Protected("CommonEncryptionProtected asset".to_owned())
            }
            AssetOptions::EnvelopeEncryptionProtected => {
                Servable::Protected("EnvelopeEncryptionProtected asset".to_owned())
            }
            _ => Servable::StreamAndDownload,
        }
    }

    /// Checks terms read from storage (records are input): bounded lists of plain names.
    pub fn validate(&self) -> Result<()> {
        let names = self
            .streaming_policy_name
            .iter()
            .chain(&self.default_content_key_policy_name)
            .chain(&self.content_key_ids)
            .chain(&self.filters)
            .chain(&self.delivery_policy_types);
        for list in [&self.content_key_ids, &self.filters, &self.delivery_policy_types] {
            if list.len() > MAX_NAMES {
                return Err(Error::invalid_input(format!(
                    "a locator names {} content keys, filters or delivery policies; at most {MAX_NAMES}",
                    list.len()
                )));
            }
        }
        // Bidirectional overrides would make a listing print another name than the record holds.
        let hidden = |c: char| {
            c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        };
        for name in names {
            if name.trim().is_empty() || name.chars().count() > NAME_CHARS || name.chars().any(hidden) {
                return Err(Error::invalid_input(format!(
                    "a locator's streaming policy, key or filter name is empty, longer than {NAME_CHARS} characters or holds control characters"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str) -> Delivery {
        Delivery { streaming_policy_name: Some(name.to_owned()), ..Delivery::default() }
    }

    #[test]
    fn predefined_clear_policies_decide_streaming_and_download() {
        let none = AssetOptions::None;
        assert_eq!(Delivery::default().servable(none), Servable::StreamAndDownload);
        assert_eq!(policy("Predefined_DownloadOnly").servable(none), Servable::DownloadOnly);
        assert_eq!(policy("Predefined_ClearStreamingOnly").servable(none), Servable::StreamOnly);
        assert_eq!(policy("predefined_downloadandclearstreaming").servable(none), Servable::StreamAndDownload);
        assert!(Servable::StreamOnly.streams() && !Servable::StreamOnly.downloads());
        assert!(!Servable::DownloadOnly.streams() && Servable::DownloadOnly.downloads());
    }

    #[test]
    fn anything_that_asks_for_encryption_is_never_served_in_the_clear() {
        let none = AssetOptions::None;
        for name in
            ["Predefined_ClearKey", "Predefined_MultiDrmCencStreaming", "Predefined_MultiDrmStreaming", "MyPolicy"]
        {
            assert_eq!(policy(name).servable(none), Servable::Protected(name.to_owned()), "{name}");
        }
        let keys = Delivery { content_key_ids: vec!["k".into()], ..Delivery::default() };
        assert!(matches!(keys.servable(none), Servable::Protected(_)));
        let clear_with_keys = Delivery { content_key_ids: vec!["k".into()], ..policy("Predefined_ClearStreamingOnly") };
        assert!(matches!(clear_with_keys.servable(none), Servable::Protected(_)));
        for options in [AssetOptions::CommonEncryptionProtected, AssetOptions::EnvelopeEncryptionProtected] {
            assert!(matches!(Delivery::default().servable(options), Servable::Protected(_)), "{options:?}");
        }
        let v2 = |t: &str| Delivery { delivery_policy_types: vec![t.into()], ..Delivery::default() };
        assert!(matches!(v2("DynamicEnvelopeEncryption").servable(none), Servable::Protected(_)));
        assert!(matches!(v2("Blocked").servable(none), Servable::Protected(_)));
        assert_eq!(v2("NoDynamicEncryption").servable(none), Servable::StreamAndDownload);
    }

    #[test]
    fn hostile_terms_are_refused() {
        assert!(Delivery::default().validate().is_ok());
        assert!(policy("x\ny").validate().is_err());
        assert!(policy(&"p".repeat(NAME_CHARS + 1)).validate().is_err());
        assert!(policy(" ").validate().is_err());
        assert!(policy("a\u{202e}b").validate().is_err(), "a bidirectional override");
        let many = Delivery { filters: vec!["f".into(); MAX_NAMES + 1], ..Delivery::default() };
        assert!(many.validate().is_err());
    }
}
