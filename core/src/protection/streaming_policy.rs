//! Streaming policies: which protocol is served with which encryption
//! scheme, which DRM systems are signalled, and where their licences come
//! from. Media Services' predefined policies are built in by name; custom
//! ones are records.

use serde::{Deserialize, Serialize};

use super::names::check_name;
use crate::error::{Error, Result};

/// The prefix Media Services reserved for its own policies.
pub const PREDEFINED_PREFIX: &str = "Predefined_";
/// Placeholders a licence URL template may hold.
pub const PLACEHOLDERS: [&str; 2] = ["{ContentKeyId}", "{AlternativeMediaId}"];
const MAX_TEMPLATE: usize = 2048;
const MAX_DRM: usize = 8;

/// A delivery protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// HLS.
    Hls,
    /// MPEG-DASH.
    Dash,
    /// Smooth Streaming.
    SmoothStreaming,
    /// The asset's files whole (progressive download).
    Download,
}

/// An encryption scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// No encryption.
    Clear,
    /// AES-128 envelope (HLS `METHOD=AES-128`).
    Envelope,
    /// Common Encryption, AES-CTR.
    Cenc,
    /// Common Encryption, AES-CBC pattern.
    Cbcs,
}

/// A DRM system a manifest may signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrmSystem {
    /// W3C Clear Key (`urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e`).
    ClearKey,
    /// Microsoft PlayReady.
    PlayReady,
    /// Google Widevine.
    Widevine,
    /// Apple FairPlay.
    FairPlay,
}

macro_rules! parse_kebab {
    ($ty:ty, $what:literal, $names:literal) => {
        impl std::str::FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
                serde_json::from_value(serde_json::Value::String(wanted)).map_err(|_| {
                    Error::invalid_input(format!(
                        concat!("'{}' is not a ", $what, ": use ", $names),
                        s.chars().take(64).collect::<String>()
                    ))
                })
            }
        }
    };
}
parse_kebab!(Protocol, "protocol", "hls, dash, smooth-streaming or download");
parse_kebab!(Scheme, "scheme", "clear, envelope, cenc or cbcs");
parse_kebab!(DrmSystem, "DRM system", "clear-key, play-ready, widevine or fair-play");

/// A protocol and the scheme it is served with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolScheme {
    /// The protocol.
    pub protocol: Protocol,
    /// Its scheme.
    pub scheme: Scheme,
}

/// A DRM system signalled for a scheme, and where its licences come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrmSignal {
    /// `cenc` or `cbcs`.
    pub scheme: Scheme,
    /// The system.
    pub system: DrmSystem,
    /// Licence acquisition URL, with `{ContentKeyId}` / `{AlternativeMediaId}`;
    /// none: the origin's own key delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_url_template: Option<String>,
}

/// A streaming policy (v3 `streamingPolicies`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamingPolicy {
    /// Its name (compared without case).
    pub name: String,
    /// The content key policy of the locators that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_content_key_policy_name: Option<String>,
    /// Each enabled protocol and its scheme.
    pub protocols: Vec<ProtocolScheme>,
    /// DRM systems signalled for `cenc` / `cbcs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drm: Vec<DrmSignal>,
    /// Envelope key URL template (v3 `customKeyAcquisitionUrlTemplate`); none: the origin's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope_key_url_template: Option<String>,
}

fn every(scheme: Scheme, protocols: &[Protocol]) -> Vec<ProtocolScheme> {
    protocols.iter().map(|&protocol| ProtocolScheme { protocol, scheme }).collect()
}

fn signal(scheme: Scheme, system: DrmSystem) -> DrmSignal {
    DrmSignal { scheme, system, license_url_template: None }
}

use Protocol::{Dash, Download, Hls, SmoothStreaming};

/// Media Services' predefined policies, by name, as its documentation describes them.
pub fn predefined() -> Vec<StreamingPolicy> {
    let named = |name: &str, protocols: Vec<ProtocolScheme>, drm: Vec<DrmSignal>| StreamingPolicy {
        name: name.to_owned(),
        default_content_key_policy_name: None,
        protocols,
        drm,
        envelope_key_url_template: None,
    };
    let streaming = [Hls, Dash, SmoothStreaming];
    let cenc_drm = vec![signal(Scheme::Cenc, DrmSystem::PlayReady), signal(Scheme::Cenc, DrmSystem::Widevine)];
    vec![
        named("Predefined_DownloadOnly", every(Scheme::Clear, &[Download]), vec![]),
        named("Predefined_ClearStreamingOnly", every(Scheme::Clear, &streaming), vec![]),
        named(
            "Predefined_DownloadAndClearStreaming",
            every(Scheme::Clear, &[Hls, Dash, SmoothStreaming, Download]),
            vec![],
        ),
        named("Predefined_ClearKey", every(Scheme::Envelope, &streaming), vec![]),
        named("Predefined_MultiDrmCencStreaming", every(Scheme::Cenc, &streaming), cenc_drm.clone()),
        named(
            "Predefined_MultiDrmStreaming",
            [every(Scheme::Cbcs, &[Hls]), every(Scheme::Cenc, &[Dash, SmoothStreaming])].concat(),
            [cenc_drm, vec![signal(Scheme::Cbcs, DrmSystem::FairPlay)]].concat(),
        ),
    ]
}

/// The predefined policy of this name (without case), if it is one.
pub fn find_predefined(name: &str) -> Option<StreamingPolicy> {
    predefined().into_iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Whether `name` is in the namespace Media Services reserved for its own policies.
pub fn is_reserved(name: &str) -> bool {
    name.get(..PREDEFINED_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(PREDEFINED_PREFIX))
}

/// A licence URL template checked: an http(s) URL with no placeholder but
/// [`PLACEHOLDERS`], no control characters.
pub fn check_template(template: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::invalid_input(format!(
            "licence URL template '{}': {why}",
            template.chars().take(128).collect::<String>().escape_debug()
        ))
    };
    if template.len() > MAX_TEMPLATE || template.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad(&format!("longer than {MAX_TEMPLATE} bytes or holds spaces or control characters")));
    }
    if !(template.starts_with("https://") || template.starts_with("http://")) {
        return Err(bad("must be an http:// or https:// URL"));
    }
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let tail = &rest[open..];
        match PLACEHOLDERS.iter().find(|p| tail.starts_with(**p)) {
            Some(p) => rest = &tail[p.len()..],
            None => return Err(bad("the only placeholders are {ContentKeyId} and {AlternativeMediaId}")),
        }
    }
    if rest.contains('}') || template.matches('}').count() != template.matches('{').count() {
        return Err(bad("a '}' without its placeholder"));
    }
    Ok(())
}

/// A template filled in for a key (and the locator's alternative media id, if any).
pub fn fill_template(template: &str, key_id: &uuid::Uuid, alternative_media_id: Option<&str>) -> String {
    template
        .replace("{ContentKeyId}", &key_id.hyphenated().to_string())
        .replace("{AlternativeMediaId}", alternative_media_id.unwrap_or(""))
}

/// What an origin makes of a protocol: HLS comes over MPEG-TS or over CMAF (fMP4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packaging {
    /// The Smooth Streaming manifest and fragments.
    Smooth,
    /// DASH (fMP4 segments).
    Dash,
    /// HLS over MPEG-TS (`m3u8-aapl`, `m3u8-aapl-v3`).
    HlsTs,
    /// HLS over CMAF (`m3u8-cmaf`).
    HlsCmaf,
}

impl Packaging {
    /// The protocol it is a packaging of.
    pub fn protocol(self) -> Protocol {
        match self {
            Packaging::Smooth => SmoothStreaming,
            Packaging::Dash => Dash,
            Packaging::HlsTs | Packaging::HlsCmaf => Hls,
        }
    }
}

impl StreamingPolicy {
    /// The scheme `protocol` is served with; `None`: the policy does not enable it.
    pub fn scheme_of(&self, protocol: Protocol) -> Option<Scheme> {
        self.protocols.iter().find(|p| p.protocol == protocol).map(|p| p.scheme)
    }

    /// Whether an origin serves `packaging` of this policy's locators: its protocol enabled, with
    /// a scheme that packaging carries: clear anywhere; Smooth `cenc` (PIFF); DASH `cenc` or
    /// `cbcs`; HLS over TS the AES-128 envelope or `cbcs` (as SAMPLE-AES); HLS over CMAF the envelope, `cenc` or `cbcs`.
    /// (Media Services' DASH envelope, DASH-SEA, its own Smooth envelope and SAMPLE-AES in TS are
    /// not made here.)
    pub fn serves(&self, packaging: Packaging) -> bool {
        let Some(scheme) = self.scheme_of(packaging.protocol()) else { return false };
        match (packaging, scheme) {
            (_, Scheme::Clear) => true,
            (Packaging::Smooth, s) => s == Scheme::Cenc,
            (Packaging::Dash, s) => matches!(s, Scheme::Cenc | Scheme::Cbcs),
            // cbcs over TS: SAMPLE-AES (Apple's MPEG-2 stream encryption, FairPlay's TS form).
            (Packaging::HlsTs, s) => matches!(s, Scheme::Envelope | Scheme::Cbcs),
            (Packaging::HlsCmaf, _) => true,
        }
    }

    /// Whether any protocol is encrypted: locators of it need content keys.
    pub fn is_protected(&self) -> bool {
        self.protocols.iter().any(|p| p.scheme != Scheme::Clear)
    }

    /// The key types this policy's schemes use (envelope, cenc, cbcs), each once.
    pub fn schemes(&self) -> Vec<Scheme> {
        let mut s: Vec<Scheme> = self.protocols.iter().map(|p| p.scheme).filter(|s| *s != Scheme::Clear).collect();
        s.sort();
        s.dedup();
        s
    }

    /// Checks a custom policy (made here or read from storage).
    pub fn validate(&self) -> Result<()> {
        check_name(&self.name, "streaming policy")?;
        if let Some(p) = &self.default_content_key_policy_name {
            check_name(p, "content key policy")?;
        }
        let name = &self.name;
        if self.protocols.is_empty() {
            return Err(Error::invalid_input(format!("streaming policy '{name}' enables no protocol")));
        }
        for (i, p) in self.protocols.iter().enumerate() {
            if self.protocols[..i].iter().any(|q| q.protocol == p.protocol) {
                return Err(Error::invalid_input(format!(
                    "streaming policy '{name}' gives protocol {:?} twice; one scheme per protocol",
                    p.protocol
                )));
            }
            let allowed = match p.scheme {
                Scheme::Clear => true,
                Scheme::Envelope | Scheme::Cenc => p.protocol != Download,
                Scheme::Cbcs => matches!(p.protocol, Hls | Dash),
            };
            if !allowed {
                return Err(Error::invalid_input(format!(
                    "streaming policy '{name}': {:?} cannot be served with {:?} (download is clear only; cbcs is for HLS and DASH)",
                    p.protocol, p.scheme
                )));
            }
        }
        if self.drm.len() > MAX_DRM {
            return Err(Error::invalid_input(format!(
                "streaming policy '{name}' signals more than {MAX_DRM} DRM systems"
            )));
        }
        let schemes = self.schemes();
        for d in &self.drm {
            let fits = match d.system {
                DrmSystem::FairPlay => d.scheme == Scheme::Cbcs,
                _ => matches!(d.scheme, Scheme::Cenc | Scheme::Cbcs),
            };
            if !fits || !schemes.contains(&d.scheme) {
                return Err(Error::invalid_input(format!(
                    "streaming policy '{name}': {:?} is signalled for {:?}, which {}",
                    d.system,
                    d.scheme,
                    if fits { "no protocol uses" } else { "that system does not use" }
                )));
            }
            if let Some(t) = &d.license_url_template {
                check_template(t)?;
            }
        }
        for s in schemes.iter().filter(|s| matches!(s, Scheme::Cenc | Scheme::Cbcs)) {
            if !self.drm.iter().any(|d| d.scheme == *s) {
                return Err(Error::invalid_input(format!(
                    "streaming policy '{name}' serves {s:?} but signals no DRM system for it: add one (clear-key, play-ready, widevine, fair-play)"
                )));
            }
        }
        if let Some(t) = &self.envelope_key_url_template {
            if !schemes.contains(&Scheme::Envelope) {
                return Err(Error::invalid_input(format!(
                    "streaming policy '{name}' has an envelope key URL but no protocol uses envelope"
                )));
            }
            check_template(t)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_predefined_policies_are_valid_and_found_without_case() {
        for p in predefined() {
            p.validate().unwrap_or_else(|e| panic!("{}: {e}", p.name));
            assert!(is_reserved(&p.name));
        }
        assert!(find_predefined("predefined_clearkey").unwrap().is_protected());
        assert!(!find_predefined("Predefined_ClearStreamingOnly").unwrap().is_protected());
        let multi = find_predefined("Predefined_MultiDrmStreaming").unwrap();
        assert_eq!(multi.schemes(), [Scheme::Cenc, Scheme::Cbcs]);
        assert!(find_predefined("Predefined_Nothing").is_none());
    }

    #[test]
    fn each_packaging_is_served_only_with_a_scheme_it_carries() {
        let cenc = find_predefined("Predefined_MultiDrmCencStreaming").unwrap();
        assert!(cenc.serves(Packaging::Smooth) && cenc.serves(Packaging::Dash) && cenc.serves(Packaging::HlsCmaf));
        assert!(!cenc.serves(Packaging::HlsTs), "no CENC in TS");
        let envelope = find_predefined("Predefined_ClearKey").unwrap();
        assert!(envelope.serves(Packaging::HlsTs) && envelope.serves(Packaging::HlsCmaf));
        assert!(!envelope.serves(Packaging::Dash) && !envelope.serves(Packaging::Smooth));
        let download = find_predefined("Predefined_DownloadOnly").unwrap();
        assert!(!download.serves(Packaging::HlsTs) && download.scheme_of(Download) == Some(Scheme::Clear));
        let multi = find_predefined("Predefined_MultiDrmStreaming").unwrap();
        assert_eq!(multi.scheme_of(Hls), Some(Scheme::Cbcs));
        assert!(multi.serves(Packaging::HlsCmaf) && multi.serves(Packaging::HlsTs), "cbcs over TS: SAMPLE-AES");
    }

    #[test]
    fn templates_take_only_the_known_placeholders() {
        check_template("https://lic.example/{ContentKeyId}?m={AlternativeMediaId}").unwrap();
        for bad in [
            "ftp://x/{ContentKeyId}",
            "https://x/{KeyId}",
            "https://x/{ContentKeyId",
            "https://x/}",
            "https://x/a b",
            "https://x/\n",
        ] {
            assert!(check_template(bad).is_err(), "{bad:?}");
        }
        let id = uuid::Uuid::nil();
        assert_eq!(
            fill_template("https://l/{ContentKeyId}/{AlternativeMediaId}", &id, Some("m")),
            "https://l/00000000-0000-0000-0000-000000000000/m"
        );
    }

    #[test]
    fn custom_policies_must_make_sense() {
        let ok = StreamingPolicy {
            name: "Custom".into(),
            default_content_key_policy_name: None,
            protocols: vec![ProtocolScheme { protocol: Dash, scheme: Scheme::Cenc }],
            drm: vec![DrmSignal {
                scheme: Scheme::Cenc,
                system: DrmSystem::ClearKey,
                license_url_template: Some("https://l/{ContentKeyId}".into()),
            }],
            envelope_key_url_template: None,
        };
        ok.validate().unwrap();
        let no_drm = StreamingPolicy { drm: vec![], ..ok.clone() };
        assert!(no_drm.validate().is_err());
        let download_cenc = StreamingPolicy {
            protocols: vec![ProtocolScheme { protocol: Download, scheme: Scheme::Cenc }],
            ..ok.clone()
        };
        assert!(download_cenc.validate().is_err());
        let fairplay_cenc = StreamingPolicy { drm: vec![signal(Scheme::Cenc, DrmSystem::FairPlay)], ..ok.clone() };
        assert!(fairplay_cenc.validate().is_err());
        let twice = StreamingPolicy { protocols: vec![ok.protocols[0], ok.protocols[0]], ..ok.clone() };
        assert!(twice.validate().is_err());
        assert_eq!("smooth_streaming".parse::<Protocol>().unwrap(), SmoothStreaming);
        assert!("rtmp".parse::<Protocol>().is_err());
    }
}
