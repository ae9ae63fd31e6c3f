//! Protected locators served encrypted: a locator whose streaming policy encrypts is resolved to
//! its policy and its content keys (opened by [`ContentKeys`], the origin's one opener, which key
//! delivery uses too), and each request to what it packs a format with ([`Packing`]): CMAF
//! `cenc`/`cbcs`, Smooth `cenc` (PIFF), HLS AES-128 whole segments, or HLS TS SAMPLE-AES. Never
//! the clear bytes: a protected locator that cannot be encrypted (no KEK, a scheme this origin
//! does not make for a format, a key missing) is refused.
//!
//! Which format gets which scheme follows the streaming policy's protocol → scheme table
//! (`StreamingPolicy::serves`, which `verify --http` asks too): Smooth is `cenc` (PIFF); DASH is
//! `cenc` or `cbcs`; HLS fMP4 (`m3u8-cmaf`) is `cbcs` or `cenc` (`SAMPLE-AES-CTR`), or AES-128
//! whole segments for envelope; HLS TS is AES-128 (envelope) or, for `cbcs`, SAMPLE-AES (Apple's
//! MPEG-2 stream encryption, FairPlay's TS form). Envelope for DASH and Smooth (Media Services'
//! DASH-SEA and its own Smooth envelope) and `cenc` in TS are refused with a 403 saying so, never
//! served clear.

pub(crate) mod manifests;
pub(crate) mod segments;

use std::sync::Arc;

use mirrorcast_core::catalog::{AssetRecord, Catalog};
use mirrorcast_core::delivery::Servable;
use mirrorcast_core::model::Locator;
use mirrorcast_core::protection::keys::parse_key_id;
use mirrorcast_core::protection::streaming_policy::{fill_template, DrmSystem, Packaging, Scheme};
use mirrorcast_core::protection::{ContentKeyType, StreamingPolicy};
use mirrorcast_media::encryption::signalling::Drm;
use mirrorcast_media::encryption::{self as media, KeyId};
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::content_keys::ContentKeys;
use crate::fail::Fail;
use crate::key_paths;
use crate::records::RECORD_TTL;
use crate::refresh_ahead::RefreshAhead;
use crate::request::{Format, Target};
use crate::upstream::Upstream;

/// How one format of a protected locator is encrypted.
#[derive(Debug)]
pub(crate) enum Packing {
    /// CMAF init and media segments with `tenc`/`pssh` and `senc`/`saiz`/`saio` (DASH, HLS fMP4).
    Cmaf { scheme: media::Scheme, key: Arc<media::ContentKey>, drms: Vec<Drm>, tag: String },
    /// Smooth fragments in PIFF's `cenc`, the manifest's PlayReady `ProtectionHeader`.
    SmoothCenc { key: Arc<media::ContentKey>, playready_url: Option<String>, tag: String },
    /// HLS AES-128: each media segment encrypted whole (its IV in the playlist), the init clear.
    Aes128 { key: Arc<media::ContentKey>, key_uri: String, tag: String },
    /// HLS TS SAMPLE-AES (`cbcs` over TS): H.264 slices and AAC frames encrypted in the TS
    /// segments; the key at the origin's key path (`identity`) and, where the policy names a
    /// FairPlay key server, FairPlay's `skd://` URI.
    SampleAes { key: Arc<media::ContentKey>, key_uri: String, fairplay_uri: Option<String>, tag: String },
}

impl Packing {
    /// What sets this packing's responses apart in their ETags and in the segment cache: the
    /// scheme, the key id, a check value of the key (a changed key is another entity) and the
    /// signalling. One-way: no key byte can be read back from it.
    pub(crate) fn tag(&self) -> &str {
        match self {
            Packing::Cmaf { tag, .. }
            | Packing::SmoothCenc { tag, .. }
            | Packing::Aes128 { tag, .. }
            | Packing::SampleAes { tag, .. } => tag,
        }
    }

    /// The key segments are encrypted with.
    pub(crate) fn key(&self) -> &media::ContentKey {
        match self {
            Packing::Cmaf { key, .. }
            | Packing::SmoothCenc { key, .. }
            | Packing::Aes128 { key, .. }
            | Packing::SampleAes { key, .. } => key,
        }
    }
}

fn tag_of(kind: &str, key: &media::ContentKey, signals: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"mirrorcast packing tag v1");
    for part in [kind.as_bytes(), &key.key_id().0, &key.check_value(), signals.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    let digest = h.finalize();
    format!("enc:{kind}:{}", digest[..12].iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// A protected locator's streaming policy and its content keys, opened.
#[derive(Debug)]
pub(crate) struct Encryption {
    policy: StreamingPolicy,
    keys: Vec<(ContentKeyType, Arc<media::ContentKey>)>,
}

impl Encryption {
    /// How `format` is served under this policy: `None` where the policy streams that
    /// protocol in the clear; a refusal where it does not enable it or asks for what this
    /// origin does not make.
    pub(crate) fn packing(&self, format: Format) -> Result<Option<Packing>, Fail> {
        let packaging = match format {
            Format::Smooth => Packaging::Smooth,
            f if f.is_ts() => Packaging::HlsTs,
            f if f.is_hls() => Packaging::HlsCmaf,
            _ => Packaging::Dash,
        };
        let name = &self.policy.name;
        let scheme = self.policy.scheme_of(packaging.protocol());
        if !self.policy.serves(packaging) {
            let why = match (packaging, scheme) {
                (_, None) => "protocol not enabled by its policy",
                (Packaging::HlsTs, _) => "no CENC in TS; ask for m3u8-cmaf",
                (_, _) => "no envelope encryption for DASH or Smooth",
            };
            return Err(Fail::Forbidden(format!("protected stream: {why}")));
        }
        let key_of = |t: ContentKeyType| {
            self.keys.iter().find(|(kt, _)| *kt == t).map(|(_, k)| k.clone()).ok_or_else(|| {
                warn!(target: "mirrorcast_origin", "protected locator of {name}: no {} content key", t.name());
                Fail::Unavailable("protected stream: its content key is missing".to_owned())
            })
        };
        let Some(scheme) = scheme else { return Err(Fail::Forbidden("protected stream".to_owned())) };
        Ok(Some(match (format, scheme) {
            (_, Scheme::Clear) => return Ok(None),
            (Format::Smooth, _) => {
                let key = key_of(ContentKeyType::Cenc)?;
                let playready_url = self.license_url(Scheme::Cenc, DrmSystem::PlayReady, key.key_id());
                let tag = tag_of("smooth-cenc", &key, playready_url.as_deref().unwrap_or(""));
                Packing::SmoothCenc { key, playready_url, tag }
            }
            (_, Scheme::Envelope) => {
                let key = key_of(ContentKeyType::Envelope)?;
                let key_uri = match &self.policy.envelope_key_url_template {
                    Some(t) => fill_template(t, &uuid_of(key.key_id()), None),
                    None => key_paths::aes128_key_path(&uuid_of(key.key_id())),
                };
                let tag = tag_of("aes128", &key, &key_uri);
                Packing::Aes128 { key, key_uri, tag }
            }
            (f, Scheme::Cbcs) if f.is_ts() => {
                let key = key_of(ContentKeyType::Cbcs)?;
                let key_uri = key_paths::aes128_key_path(&uuid_of(key.key_id()));
                let fairplay_uri = self.license_url(Scheme::Cbcs, DrmSystem::FairPlay, key.key_id()).map(skd_uri);
                let tag = tag_of("sample-aes-ts", &key, &format!("{key_uri}|{fairplay_uri:?}"));
                Packing::SampleAes { key, key_uri, fairplay_uri, tag }
            }
            // What `serves` leaves: CMAF (DASH, HLS fMP4) with cenc or cbcs.
            (_, scheme) => {
                let (media_scheme, key_type) = match scheme {
                    Scheme::Cbcs => (media::Scheme::Cbcs, ContentKeyType::Cbcs),
                    _ => (media::Scheme::Cenc, ContentKeyType::Cenc),
                };
                let key = key_of(key_type)?;
                let drms = self.drms(scheme, key.key_id());
                let tag = tag_of(if scheme == Scheme::Cbcs { "cbcs" } else { "cenc" }, &key, &format!("{drms:?}"));
                Packing::Cmaf { scheme: media_scheme, key, drms, tag }
            }
        }))
    }

    /// The DRM systems the policy signals for `scheme` that manifests can carry (FairPlay
    /// needs its own key server, which the policy's template names; it is not signalled here).
    fn drms(&self, scheme: Scheme, key_id: KeyId) -> Vec<Drm> {
        let mut drms = Vec::new();
        for d in self.policy.drm.iter().filter(|d| d.scheme == scheme) {
            let url = d.license_url_template.as_ref().map(|t| fill_template(t, &uuid_of(key_id), None));
            let drm = match d.system {
                DrmSystem::ClearKey => {
                    Drm::ClearKey { license_url: url.unwrap_or_else(|| key_paths::CLEARKEY_LICENSE_PATH.to_owned()) }
                }
                DrmSystem::Widevine => Drm::Widevine,
                DrmSystem::PlayReady => Drm::PlayReady { license_url: url },
                DrmSystem::FairPlay => continue,
            };
            if !drms.contains(&drm) {
                drms.push(drm);
            }
        }
        drms
    }

    fn license_url(&self, scheme: Scheme, system: DrmSystem, key_id: KeyId) -> Option<String> {
        let d = self.policy.drm.iter().find(|d| d.scheme == scheme && d.system == system)?;
        d.license_url_template.as_ref().map(|t| fill_template(t, &uuid_of(key_id), None))
    }
}

/// FairPlay's key URI: its licence URL under the `skd://` scheme (as Media Services wrote it), which
/// a FairPlay client hands to the app that asks the key server.
fn skd_uri(licence_url: String) -> String {
    match licence_url.split_once("://") {
        Some((_, rest)) => format!("skd://{rest}"),
        None => format!("skd://{licence_url}"),
    }
}

fn uuid_of(key_id: KeyId) -> uuid::Uuid {
    uuid::Uuid::from_bytes(key_id.0)
}

/// What turns a protected locator into an [`Encryption`]: its records, its keys opened by [`ContentKeys`].
pub(crate) struct Keyring {
    content_keys: Arc<ContentKeys>,
    catalog: Catalog,
    upstream: Arc<Upstream>,
    /// A locator's encryption, reused (and refreshed ahead) as its records are.
    locators: RefreshAhead<uuid::Uuid, Arc<Encryption>>,
}

impl Keyring {
    pub(crate) fn new(upstream: Arc<Upstream>, content_keys: Arc<ContentKeys>) -> Keyring {
        let locators =
            RefreshAhead::new(4096, RECORD_TTL).counted(upstream.metrics.clone(), crate::metrics::Waited::Encryption);
        Keyring { content_keys, catalog: Catalog::new(upstream.store.clone()), upstream, locators }
    }

    /// `None` for a locator served in the clear (its terms then decide in `records::allowed`);
    /// the encryption of a protected one; a refusal when it cannot be served encrypted.
    pub(crate) async fn encryption(
        &self,
        locator: &Locator,
        asset: &AssetRecord,
        target: &Target,
    ) -> Result<Option<Arc<Encryption>>, Fail> {
        let Servable::Protected(why) = locator.delivery.servable(asset.asset.options) else { return Ok(None) };
        // v2 delivery policies, protected asset options, keys without a v3 policy: refused as before.
        let Some(name) = locator.delivery.streaming_policy_name.as_deref().filter(|_| !why.starts_with("content keys"))
        else {
            return Err(Fail::Forbidden(format!("protected stream ({why})")));
        };
        if matches!(target, Target::File(_)) {
            return Err(Fail::Forbidden(format!("protected stream ({name}): no download")));
        }
        if self.content_keys.kek().is_none() {
            return Err(Fail::Unavailable(format!("protected stream ({name}): this origin has no key-encryption key")));
        }
        let guid = locator.id.uuid();
        let read = || {
            let (catalog, upstream, content_keys) =
                (self.catalog.clone(), self.upstream.clone(), self.content_keys.clone());
            let (name, key_ids) = (name.to_owned(), locator.delivery.content_key_ids.clone());
            async move { read_encryption(&catalog, &upstream, &content_keys, guid, &name, &key_ids).await.map(Arc::new) }
        };
        let found = self.locators.get(&guid, read).await?;
        Ok(Some(found))
    }
}

/// A protected locator's encryption from the records: its streaming policy `name` and its
/// content keys `key_ids`, opened.
async fn read_encryption(
    catalog: &Catalog,
    upstream: &Upstream,
    content_keys: &ContentKeys,
    guid: uuid::Uuid,
    name: &str,
    key_ids: &[String],
) -> Result<Encryption, Fail> {
    let unavailable = |what: &str, e: &dyn std::fmt::Debug| {
        warn!(target: "mirrorcast_origin", "protected locator {guid}: {what}: {e:?}");
        Fail::Unavailable(format!("protected stream ({name}): {what}"))
    };
    // Storage that fails stays a storage failure (503, retried); a record missing is named.
    let missing = |what: &'static str| {
        move |f: Fail| match f {
            Fail::NotFound(_) => unavailable(what, &f),
            other => other,
        }
    };
    let policy = upstream
        .timed(catalog.get_streaming_policy(name))
        .await
        .map_err(missing("its streaming policy is not in this data center's records"))?;
    let mut keys = Vec::new();
    for id in key_ids {
        let id = parse_key_id(id).map_err(|e| unavailable("a content key id does not read", &e))?;
        let record = upstream
            .timed(catalog.get_content_key(&id))
            .await
            .map_err(missing("a content key is not in this data center's records"))?;
        let key = content_keys
            .open(&record)
            .await
            .map_err(|e| unavailable("its content keys do not open under this origin's KEK", &e))?;
        keys.push((record.key_type, key));
    }
    Ok(Encryption { policy, keys })
}

/// What a request may have of its locator: `Ok(None)` the clear packaging (as its terms allow,
/// `records::allowed`), `Ok(Some)` the packaging encrypted, else a refusal. Every path of a
/// protected locator goes through here: none reaches a response without its packing.
pub(crate) async fn admit(
    origin: &crate::Origin,
    locator: &Locator,
    asset: &AssetRecord,
    target: &Target,
) -> Result<Option<Packing>, Fail> {
    let Some(encryption) = origin.keyring.encryption(locator, asset, target).await? else {
        return crate::records::allowed(locator, asset, target).map(|()| None);
    };
    let format = match target {
        Target::File(_) => return Err(Fail::Forbidden("protected stream: no download".to_owned())),
        Target::Manifest { format, .. }
        | Target::Playlist { format, .. }
        | Target::IFrames { format, .. }
        | Target::Fragment { format, .. } => *format,
    };
    let packing = encryption.packing(format)?;
    if packing.is_some() && matches!(target, Target::IFrames { .. }) {
        // Its byte ranges are into clear segments.
        return Err(Fail::NotFound("no I-frame playlist of an encrypted stream"));
    }
    Ok(packing)
}
