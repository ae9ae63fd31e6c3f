//! How manifests say a stream is protected, as text for the manifest writers to place (pure):
//! DASH `ContentProtection` elements (mp4protection with `cenc:default_KID`, then one per DRM
//! system with its `cenc:pssh`; each element declares the namespaces it uses, so it stands
//! anywhere in an MPD), HLS `EXT-X-KEY` / `EXT-X-SESSION-KEY` lines, and Smooth's `Protection`
//! element with its PlayReady `ProtectionHeader`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::pssh;
use super::{KeyId, Scheme};
use crate::xml::escape as xml_escape;
use crate::{FormatError, Result};

/// A DRM system a stream is signalled for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drm {
    /// W3C ClearKey, its licence (JSON) at this URL.
    ClearKey {
        /// The licence acquisition URL (`dashif:laurl`, EME's ClearKey licence server).
        license_url: String,
    },
    /// Widevine (the licence URL is the player's configuration, not the manifest's).
    Widevine,
    /// PlayReady, with the licence acquisition URL its header carries.
    PlayReady {
        /// `LA_URL` of the PlayReady header.
        license_url: Option<String>,
    },
}

const CENC_NS: &str = "urn:mpeg:cenc:2013";

/// The DASH `ContentProtection` elements of an adaptation set protected with `key_id` under
/// `scheme`: the mp4protection one, then one per DRM system (each with its `cenc:pssh`).
pub fn dash_content_protection(key_id: KeyId, scheme: Scheme, drms: &[Drm]) -> Result<String> {
    let scheme_name = String::from_utf8_lossy(&scheme.fourcc()).into_owned();
    let mut out = format!(
        "<ContentProtection xmlns:cenc=\"{CENC_NS}\" schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" \
         value=\"{scheme_name}\" cenc:default_KID=\"{}\"/>\n",
        key_id.uuid()
    );
    for drm in drms {
        match drm {
            Drm::ClearKey { license_url } => {
                let pssh = STANDARD.encode(pssh::common_pssh(&[key_id]));
                out.push_str(&format!(
                    "<ContentProtection xmlns:cenc=\"{CENC_NS}\" xmlns:dashif=\"https://dashif.org/CPS\" \
                     schemeIdUri=\"urn:uuid:{}\" value=\"ClearKey1.0\">\
                     <dashif:laurl>{}</dashif:laurl><cenc:pssh>{pssh}</cenc:pssh></ContentProtection>\n",
                    pssh::system_uuid(&pssh::CLEARKEY_SYSTEM_ID),
                    xml_escape(license_url)
                ));
            }
            Drm::Widevine => {
                let pssh = STANDARD.encode(pssh::widevine_pssh(&[key_id], None, scheme));
                out.push_str(&format!(
                    "<ContentProtection xmlns:cenc=\"{CENC_NS}\" schemeIdUri=\"urn:uuid:{}\" value=\"Widevine\">\
                     <cenc:pssh>{pssh}</cenc:pssh></ContentProtection>\n",
                    pssh::system_uuid(&pssh::WIDEVINE_SYSTEM_ID)
                ));
            }
            Drm::PlayReady { license_url } => {
                let object = pssh::playready_object(&pssh::playready_header(key_id, scheme, license_url.as_deref()))?;
                let pssh = STANDARD.encode(pssh::pssh_box(&pssh::PLAYREADY_SYSTEM_ID, &[key_id], &object));
                out.push_str(&format!(
                    "<ContentProtection xmlns:cenc=\"{CENC_NS}\" xmlns:mspr=\"urn:microsoft:playready\" \
                     schemeIdUri=\"urn:uuid:{}\" value=\"MSPR 2.0\"><cenc:pssh>{pssh}</cenc:pssh>\
                     <mspr:pro>{}</mspr:pro></ContentProtection>\n",
                    pssh::system_uuid(&pssh::PLAYREADY_SYSTEM_ID),
                    STANDARD.encode(&object)
                ));
            }
        }
    }
    Ok(out)
}

/// The `pssh` boxes of the init segment for these systems (ClearKey's is the W3C Common one).
pub fn init_pssh_boxes(key_id: KeyId, scheme: Scheme, drms: &[Drm]) -> Result<Vec<Vec<u8>>> {
    drms.iter()
        .map(|drm| match drm {
            Drm::ClearKey { .. } => Ok(pssh::common_pssh(&[key_id])),
            Drm::Widevine => Ok(pssh::widevine_pssh(&[key_id], None, scheme)),
            Drm::PlayReady { license_url } => pssh::playready_pssh(key_id, scheme, license_url.as_deref()),
        })
        .collect()
}

/// An HLS key: the attributes of an `EXT-X-KEY` or `EXT-X-SESSION-KEY` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsKey {
    /// `AES-128` (whole segments) or `SAMPLE-AES` (TS SAMPLE-AES, fMP4 `cbcs`).
    pub method: HlsMethod,
    /// Where the key (AES-128, `identity`) or the system's data (a `data:` URI) is.
    pub uri: String,
    /// The IV, when not the media sequence number.
    pub iv: Option<[u8; 16]>,
    /// `KEYID` (fMP4 with a DRM system).
    pub key_id: Option<KeyId>,
    /// `KEYFORMAT`: `identity` when `None`.
    pub keyformat: Option<String>,
}

/// An HLS encryption method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsMethod {
    /// Whole segments, AES-128-CBC with PKCS#7 padding.
    Aes128,
    /// Samples: TS SAMPLE-AES, or fMP4 `cbcs`.
    SampleAes,
}

impl HlsKey {
    /// AES-128 envelope: the key at `uri`, the IV the media sequence number unless given.
    pub fn aes128(uri: &str, iv: Option<[u8; 16]>) -> HlsKey {
        HlsKey { method: HlsMethod::Aes128, uri: uri.to_owned(), iv, key_id: None, keyformat: None }
    }

    /// TS SAMPLE-AES: the key at `uri`, the IV the media sequence number unless given.
    pub fn sample_aes(uri: &str, iv: Option<[u8; 16]>) -> HlsKey {
        HlsKey { method: HlsMethod::SampleAes, uri: uri.to_owned(), iv, key_id: None, keyformat: None }
    }

    /// fMP4 `cbcs` for Widevine: the `pssh` in a `data:` URI.
    pub fn widevine(key_id: KeyId) -> HlsKey {
        let pssh = STANDARD.encode(pssh::widevine_pssh(&[key_id], None, Scheme::Cbcs));
        HlsKey {
            method: HlsMethod::SampleAes,
            uri: format!("data:text/plain;base64,{pssh}"),
            iv: None,
            key_id: Some(key_id),
            keyformat: Some(format!("urn:uuid:{}", pssh::system_uuid(&pssh::WIDEVINE_SYSTEM_ID))),
        }
    }

    /// fMP4 `cbcs` for PlayReady: the PlayReady Object in a `data:` URI.
    pub fn playready(key_id: KeyId, license_url: Option<&str>) -> Result<HlsKey> {
        let object = pssh::playready_object(&pssh::playready_header(key_id, Scheme::Cbcs, license_url))?;
        Ok(HlsKey {
            method: HlsMethod::SampleAes,
            uri: format!("data:text/plain;charset=UTF-16;base64,{}", STANDARD.encode(object)),
            iv: None,
            key_id: Some(key_id),
            keyformat: Some("com.microsoft.playready".to_owned()),
        })
    }

    /// fMP4 `cbcs` with the key itself at `uri` (`KEYFORMAT="identity"`: ClearKey players fetch it).
    pub fn identity_cbcs(uri: &str, key_id: KeyId) -> HlsKey {
        HlsKey { method: HlsMethod::SampleAes, uri: uri.to_owned(), iv: None, key_id: Some(key_id), keyformat: None }
    }

    /// The `#EXT-X-KEY:` line (no newline).
    pub fn ext_x_key(&self) -> Result<String> {
        Ok(format!("#EXT-X-KEY:{}", self.attributes()?))
    }

    /// The `#EXT-X-SESSION-KEY:` line for the master playlist (no newline).
    pub fn ext_x_session_key(&self) -> Result<String> {
        Ok(format!("#EXT-X-SESSION-KEY:{}", self.attributes()?))
    }

    fn attributes(&self) -> Result<String> {
        let method = match self.method {
            HlsMethod::Aes128 => "AES-128",
            HlsMethod::SampleAes => "SAMPLE-AES",
        };
        let mut out = format!("METHOD={method},URI=\"{}\"", quoted(&self.uri, "URI")?);
        if let Some(iv) = self.iv {
            out.push_str(&format!(",IV=0x{}", super::hex(&iv)));
        }
        if let Some(k) = self.key_id {
            out.push_str(&format!(",KEYID=0x{}", k.hex()));
        }
        if let Some(format) = &self.keyformat {
            out.push_str(&format!(",KEYFORMAT=\"{}\",KEYFORMATVERSIONS=\"1\"", quoted(format, "KEYFORMAT")?));
        }
        Ok(out)
    }
}

/// An HLS quoted-string may not hold a double quote, CR or LF (RFC 8216, 4.2).
fn quoted<'a>(text: &'a str, attribute: &str) -> Result<&'a str> {
    if text.contains(['"', '\r', '\n']) {
        return Err(FormatError::new(format!(
            "the HLS {attribute} '{}' holds a quote or line break; percent-encode it",
            text.escape_debug()
        )));
    }
    Ok(text)
}

/// Smooth's `<Protection>` element (for the client manifest's `SmoothStreamingMedia`): the
/// PlayReady header of `key_id` (`cenc`, the only scheme Smooth carries) in base64.
pub fn smooth_protection(key_id: KeyId, license_url: Option<&str>) -> Result<String> {
    let object = pssh::playready_object(&pssh::playready_header(key_id, Scheme::Cenc, license_url))?;
    Ok(format!(
        "<Protection><ProtectionHeader SystemID=\"{}\">{}</ProtectionHeader></Protection>",
        pssh::system_uuid(&pssh::PLAYREADY_SYSTEM_ID),
        STANDARD.encode(object)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kid() -> KeyId {
        KeyId::parse("10000000-1000-1000-1000-100000000001").unwrap()
    }

    #[test]
    fn dash_content_protection_names_the_scheme_key_id_and_each_system() {
        let drms = [
            Drm::ClearKey { license_url: "/keys/clearkey?kid=1&x=2".to_owned() },
            Drm::Widevine,
            Drm::PlayReady { license_url: Some("https://pr.example/rightsmanager.asmx".to_owned()) },
        ];
        let text = dash_content_protection(kid(), Scheme::Cenc, &drms).unwrap();
        // Each element stands alone: wrapped in one root, it parses, its namespaces declared.
        let wrapped = format!("<AdaptationSet>{text}</AdaptationSet>");
        let doc = roxmltree::Document::parse(&wrapped).unwrap();
        let elements: Vec<_> = doc.root_element().children().filter(|n| n.is_element()).collect();
        let schemes: Vec<_> = elements.iter().map(|e| e.attribute("schemeIdUri").unwrap()).collect();
        assert_eq!(
            schemes,
            [
                "urn:mpeg:dash:mp4protection:2011",
                "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e",
                "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",
                "urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95"
            ]
        );
        assert_eq!(elements[0].attribute("value"), Some("cenc"));
        assert_eq!(elements[0].attribute((CENC_NS, "default_KID")), Some("10000000-1000-1000-1000-100000000001"));
        let laurl = elements[1].descendants().find(|n| n.has_tag_name("laurl")).unwrap();
        assert_eq!(laurl.text(), Some("/keys/clearkey?kid=1&x=2"));
        for (e, system) in
            elements[1..].iter().zip([pssh::COMMON_SYSTEM_ID, pssh::WIDEVINE_SYSTEM_ID, pssh::PLAYREADY_SYSTEM_ID])
        {
            let b64 = e.descendants().find(|n| n.has_tag_name((CENC_NS, "pssh"))).unwrap().text().unwrap();
            let b = STANDARD.decode(b64).unwrap();
            assert_eq!(&b[4..8], b"pssh");
            assert_eq!(b[12..28], system);
        }
        assert_eq!(init_pssh_boxes(kid(), Scheme::Cenc, &drms).unwrap().len(), 3);
    }

    #[test]
    fn hls_key_lines_carry_method_uri_iv_keyid_and_keyformat() {
        let mut iv = [0u8; 16];
        iv[15] = 7;
        assert_eq!(
            HlsKey::aes128("key?kid=1", Some(iv)).ext_x_key().unwrap(),
            "#EXT-X-KEY:METHOD=AES-128,URI=\"key?kid=1\",IV=0x00000000000000000000000000000007"
        );
        assert_eq!(HlsKey::sample_aes("k", None).ext_x_key().unwrap(), "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"k\"");
        let wv = HlsKey::widevine(kid()).ext_x_session_key().unwrap();
        assert!(wv.starts_with("#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"data:text/plain;base64,"), "{wv}");
        assert!(wv.ends_with(
            ",KEYID=0x10000000100010001000100000000001,KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\",KEYFORMATVERSIONS=\"1\""
        ));
        let pr = HlsKey::playready(kid(), None).unwrap().ext_x_key().unwrap();
        assert!(pr.contains("KEYFORMAT=\"com.microsoft.playready\""), "{pr}");
        let parsed = m3u8_rs::parse_media_playlist_res(
            format!(
                "#EXTM3U\n#EXT-X-TARGETDURATION:2\n{}\n#EXTINF:2,\na.ts\n",
                HlsKey::aes128("k", None).ext_x_key().unwrap()
            )
            .as_bytes(),
        )
        .unwrap();
        let key = parsed.segments[0].key.as_ref().unwrap();
        assert_eq!(key.uri.as_deref(), Some("k"));
        assert!(HlsKey::aes128("a\"b", None).ext_x_key().is_err(), "a quote cannot be in a quoted-string");
        assert!(HlsKey::aes128("a\nb", None).ext_x_key().is_err());
    }

    #[test]
    fn smooth_protection_carries_the_playready_header() {
        let text = smooth_protection(kid(), Some("https://pr.example/?a&b")).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let header = doc.descendants().find(|n| n.has_tag_name("ProtectionHeader")).unwrap();
        assert_eq!(header.attribute("SystemID"), Some("9a04f079-9840-4286-ab92-e65be0885f95"));
        let object = STANDARD.decode(header.text().unwrap()).unwrap();
        let units: Vec<u16> = object[10..].chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        let xml = String::from_utf16(&units).unwrap();
        assert!(xml.contains("<KID>AAAAEAAQABAQABAAAAAAAQ==</KID>") && xml.contains("?a&amp;b"), "{xml}");
    }
}
