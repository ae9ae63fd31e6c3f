//! `pssh` boxes (ISO/IEC 23001-7, 8.1) for the DRM systems a stream signals: W3C Common
//! (ClearKey: the key ids, no data), Widevine (its protobuf `WidevinePsshData` with the key ids)
//! and PlayReady (a PlayReady Object holding a PlayReady Header: v4.0.0.0 for `cenc`, v4.3.0.0
//! with `AESCBC` for `cbcs`; the KID as a little-endian GUID in base64, the licence URL).

use base64::Engine;

use super::{KeyId, Scheme};
use crate::bmff::write_full_box;
use crate::{FormatError, Result};

/// W3C Common PSSH box format (used by ClearKey): 1077efec-c0b2-4d02-ace3-3c1e52e2fb4b.
pub const COMMON_SYSTEM_ID: [u8; 16] =
    [0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b];
/// Widevine: edef8ba9-79d6-4ace-a3c8-27dcd51d21ed.
pub const WIDEVINE_SYSTEM_ID: [u8; 16] =
    [0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce, 0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed];
/// PlayReady: 9a04f079-9840-4286-ab92-e65be0885f95.
pub const PLAYREADY_SYSTEM_ID: [u8; 16] =
    [0x9a, 0x04, 0xf0, 0x79, 0x98, 0x40, 0x42, 0x86, 0xab, 0x92, 0xe6, 0x5b, 0xe0, 0x88, 0x5f, 0x95];
/// W3C ClearKey's DASH scheme: e2719d58-a985-b3c9-781a-b030af78d30e.
pub const CLEARKEY_SYSTEM_ID: [u8; 16] =
    [0xe2, 0x71, 0x9d, 0x58, 0xa9, 0x85, 0xb3, 0xc9, 0x78, 0x1a, 0xb0, 0x30, 0xaf, 0x78, 0xd3, 0x0e];

/// A system id as a UUID, lower case.
pub fn system_uuid(system_id: &[u8; 16]) -> String {
    KeyId(*system_id).uuid()
}

/// A `pssh` box: version 1 listing `key_ids` when given, version 0 without; `data` the system's own.
pub fn pssh_box(system_id: &[u8; 16], key_ids: &[KeyId], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + key_ids.len() * 16 + data.len());
    let version = u8::from(!key_ids.is_empty());
    write_full_box(&mut out, b"pssh", version, 0, |b| {
        b.extend_from_slice(system_id);
        if version == 1 {
            b.extend_from_slice(&(key_ids.len() as u32).to_be_bytes());
            key_ids.iter().for_each(|k| b.extend_from_slice(&k.0));
        }
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(data);
    });
    out
}

/// The W3C Common `pssh` (what ClearKey players read): version 1 with the key ids, no data.
pub fn common_pssh(key_ids: &[KeyId]) -> Vec<u8> {
    pssh_box(&COMMON_SYSTEM_ID, key_ids, &[])
}

/// Widevine's `pssh` data, a `WidevinePsshData` protobuf: `key_ids` (field 2), `content_id`
/// (field 4) when given, `protection_scheme` (field 9, the scheme's fourcc as a number).
pub fn widevine_pssh_data(key_ids: &[KeyId], content_id: Option<&[u8]>, scheme: Scheme) -> Vec<u8> {
    let mut out = Vec::new();
    for k in key_ids {
        out.push(0x12);
        out.push(16);
        out.extend_from_slice(&k.0);
    }
    if let Some(id) = content_id {
        out.push(0x22);
        varint(&mut out, id.len() as u64);
        out.extend_from_slice(id);
    }
    out.push(0x48);
    varint(&mut out, u32::from_be_bytes(scheme.fourcc()) as u64);
    out
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The Widevine `pssh` box (version 0; the key ids are in its data).
pub fn widevine_pssh(key_ids: &[KeyId], content_id: Option<&[u8]>, scheme: Scheme) -> Vec<u8> {
    pssh_box(&WIDEVINE_SYSTEM_ID, &[], &widevine_pssh_data(key_ids, content_id, scheme))
}

/// A key id as PlayReady writes it: the GUID's first three fields little-endian, in base64.
pub fn playready_kid(key_id: KeyId) -> String {
    let k = key_id.0;
    let guid = [k[3], k[2], k[1], k[0], k[5], k[4], k[7], k[6], k[8], k[9], k[10], k[11], k[12], k[13], k[14], k[15]];
    base64::engine::general_purpose::STANDARD.encode(guid)
}

/// Bytes of the header XML a PlayReady Object may hold (its record length is 16 bits; the
/// whole object is limited to 15 KiB by the specification).
const MAX_PLAYREADY_HEADER: usize = 15 * 1024;

/// The PlayReady Header (`WRMHEADER`) XML for `key_id`: version 4.0.0.0 (`AESCTR`, `cenc`) or
/// 4.3.0.0 (`AESCBC`, `cbcs`), with the licence acquisition URL when given.
pub fn playready_header(key_id: KeyId, scheme: Scheme, la_url: Option<&str>) -> String {
    let kid = playready_kid(key_id);
    let la_url = la_url.map(|u| format!("<LA_URL>{}</LA_URL>", crate::xml::escape(u))).unwrap_or_default();
    let ns = "http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader";
    match scheme {
        Scheme::Cenc => format!(
            "<WRMHEADER xmlns=\"{ns}\" version=\"4.0.0.0\"><DATA><PROTECTINFO><KEYLEN>16</KEYLEN>\
             <ALGID>AESCTR</ALGID></PROTECTINFO><KID>{kid}</KID>{la_url}</DATA></WRMHEADER>"
        ),
        Scheme::Cbcs => format!(
            "<WRMHEADER xmlns=\"{ns}\" version=\"4.3.0.0\"><DATA><PROTECTINFO><KIDS>\
             <KID ALGID=\"AESCBC\" VALUE=\"{kid}\"></KID></KIDS></PROTECTINFO>{la_url}</DATA></WRMHEADER>"
        ),
    }
}

/// The PlayReady Object around a header: its length, one record of type 1 (the rights
/// management header) in UTF-16LE, all little-endian.
pub fn playready_object(header: &str) -> Result<Vec<u8>> {
    let xml: Vec<u8> = header.encode_utf16().flat_map(u16::to_le_bytes).collect();
    if xml.len() > MAX_PLAYREADY_HEADER {
        return Err(FormatError::new(format!(
            "a PlayReady header of {} bytes; at most {MAX_PLAYREADY_HEADER} fit a PlayReady Object (shorten the LA_URL)",
            xml.len()
        )));
    }
    let mut out = Vec::with_capacity(xml.len() + 10);
    out.extend_from_slice(&((xml.len() + 10) as u32).to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&(xml.len() as u16).to_le_bytes());
    out.extend_from_slice(&xml);
    Ok(out)
}

/// The PlayReady `pssh` box (version 1 naming the key id, the PlayReady Object as its data).
pub fn playready_pssh(key_id: KeyId, scheme: Scheme, la_url: Option<&str>) -> Result<Vec<u8>> {
    Ok(pssh_box(&PLAYREADY_SYSTEM_ID, &[key_id], &playready_object(&playready_header(key_id, scheme, la_url))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bmff::{whole, Reader};

    fn kid() -> KeyId {
        KeyId::parse("10000000-1000-1000-1000-100000000001").unwrap()
    }

    /// A pssh box read back: system id, key ids, data.
    fn read(raw: &[u8]) -> ([u8; 16], Vec<KeyId>, Vec<u8>) {
        let b = whole(raw).unwrap();
        assert_eq!(&b.kind, b"pssh");
        let mut c = Reader::new(b.body);
        let (version, _) = c.version_flags().unwrap();
        let system: [u8; 16] = c.take(16).unwrap().try_into().unwrap();
        let mut kids = Vec::new();
        if version == 1 {
            for _ in 0..c.u32().unwrap() {
                kids.push(KeyId(c.take(16).unwrap().try_into().unwrap()));
            }
        }
        let n = c.u32().unwrap() as usize;
        let data = c.take(n).unwrap().to_vec();
        assert!(c.rest().is_empty());
        (system, kids, data)
    }

    #[test]
    fn the_common_pssh_lists_the_key_ids_under_the_w3c_system_id() {
        let (system, kids, data) = read(&common_pssh(&[kid()]));
        assert_eq!(system_uuid(&system), "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b");
        assert_eq!((kids, data), (vec![kid()], vec![]));
    }

    #[test]
    fn the_widevine_pssh_holds_a_protobuf_with_the_key_id_and_scheme() {
        let (system, kids, data) = read(&widevine_pssh(&[kid()], Some(b"asset-1"), Scheme::Cbcs));
        assert_eq!(system_uuid(&system), "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed");
        assert!(kids.is_empty());
        let mut want = vec![0x12, 16];
        want.extend(kid().0);
        want.extend([0x22, 7]);
        want.extend(b"asset-1");
        // 'cbcs' = 0x63626373 as a varint.
        want.extend([0x48, 0xf3, 0xc6, 0x89, 0x9b, 0x06]);
        assert_eq!(data, want);
    }

    #[test]
    fn the_playready_pssh_holds_a_header_with_the_little_endian_kid_and_the_la_url() {
        // 10000000-1000-1000-1000-100000000001 as a GUID: 00000010 0010 0010 then 1000100000000001.
        assert_eq!(playready_kid(kid()), "AAAAEAAQABAQABAAAAAAAQ==");
        let raw = playready_pssh(kid(), Scheme::Cenc, Some("https://lic.example/pr?a=1&b=2")).unwrap();
        let (system, kids, data) = read(&raw);
        assert_eq!(system_uuid(&system), "9a04f079-9840-4286-ab92-e65be0885f95");
        assert_eq!(kids, [kid()]);
        assert_eq!(u32::from_le_bytes(data[..4].try_into().unwrap()) as usize, data.len());
        assert_eq!(&data[4..8], &[1, 0, 1, 0], "one record, of type 1");
        let len = u16::from_le_bytes(data[8..10].try_into().unwrap()) as usize;
        assert_eq!(len, data.len() - 10);
        let units: Vec<u16> = data[10..].chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        let xml = String::from_utf16(&units).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!((root.tag_name().name(), root.attribute("version")), ("WRMHEADER", Some("4.0.0.0")));
        let text = |name: &str| doc.descendants().find(|n| n.has_tag_name(name)).and_then(|n| n.text());
        assert_eq!(text("KID"), Some("AAAAEAAQABAQABAAAAAAAQ=="));
        assert_eq!(text("ALGID"), Some("AESCTR"));
        assert_eq!(text("LA_URL"), Some("https://lic.example/pr?a=1&b=2"), "escaped in the XML, whole when read");

        let cbcs = playready_header(kid(), Scheme::Cbcs, None);
        let doc = roxmltree::Document::parse(&cbcs).unwrap();
        assert_eq!(doc.root_element().attribute("version"), Some("4.3.0.0"));
        let k = doc.descendants().find(|n| n.has_tag_name("KID")).unwrap();
        assert_eq!((k.attribute("ALGID"), k.attribute("VALUE")), (Some("AESCBC"), Some("AAAAEAAQABAQABAAAAAAAQ==")));
        assert!(playready_pssh(kid(), Scheme::Cenc, Some(&"x".repeat(20_000))).is_err(), "too long for the object");
    }
}
