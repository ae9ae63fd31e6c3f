//! The XML documents of the Blob REST API that we read: listings and errors.

use mirrorcast_store::{BlobKind, BlobMeta, BlobProperties, Error, ErrorKind, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct ContainerList {
    #[serde(rename = "Containers", default)]
    containers: Containers,
    #[serde(rename = "NextMarker", default)]
    next_marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Containers {
    #[serde(rename = "Container", default)]
    container: Vec<ContainerItem>,
}

#[derive(Debug, Deserialize)]
struct ContainerItem {
    #[serde(rename = "Name")]
    name: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ServiceError {
    #[serde(rename = "Code", default)]
    pub code: Option<String>,
    #[serde(rename = "Message", default)]
    pub message: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.is_empty())
}

pub(crate) fn blob_kind(s: Option<&str>) -> BlobKind {
    match s {
        Some("PageBlob") => BlobKind::Page,
        Some("AppendBlob") => BlobKind::Append,
        _ => BlobKind::Block,
    }
}

fn malformed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Corrupt, format!("the service sent a malformed {what} listing: {e}"))
}

/// An element of a listing, kept whole: serde's XML reader trims text, and a
/// blob name may begin or end with spaces.
#[derive(Debug, Default)]
struct Element {
    name: String,
    encoded: bool,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.clone()).filter(|t| !t.is_empty())
    }
}

/// Reads a document into a tree of elements, text exactly as sent.
fn parse_tree(body: &str) -> std::result::Result<Element, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body);
    let mut stack: Vec<Element> = vec![Element::default()];
    let open = |e: &quick_xml::events::BytesStart<'_>| -> std::result::Result<Element, String> {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let mut encoded = false;
        for a in e.attributes() {
            let a = a.map_err(|e| e.to_string())?;
            if a.key.local_name().as_ref() == b"Encoded" {
                encoded = a.unescape_value().map_err(|e| e.to_string())?.eq_ignore_ascii_case("true");
            }
        }
        Ok(Element { name, encoded, ..Default::default() })
    };
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => stack.push(open(&e)?),
            Event::Empty(e) => {
                let el = open(&e)?;
                stack.last_mut().ok_or("unbalanced elements")?.children.push(el);
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced elements")?;
                stack.last_mut().ok_or("unbalanced elements")?.children.push(el);
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| e.to_string())?;
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&String::from_utf8_lossy(&t.into_inner()));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut root = stack.pop().ok_or("unbalanced elements")?;
    if !stack.is_empty() {
        return Err("the document ended inside an element".into());
    }
    root.children.pop().ok_or_else(|| "the document is empty".to_owned())
}

/// A blob name as listed: Azure percent-encodes (and marks `Encoded="true"`)
/// names holding characters XML cannot carry.
fn blob_name(el: &Element) -> std::result::Result<String, String> {
    if !el.encoded {
        return Ok(el.text.clone());
    }
    percent_encoding::percent_decode_str(&el.text)
        .decode_utf8()
        .map(|n| n.into_owned())
        .map_err(|_| format!("encoded blob name '{}' is not UTF-8", el.text))
}

pub(crate) fn parse_blob_list(body: &str) -> Result<(Vec<BlobMeta>, Option<String>)> {
    let root = parse_tree(body).map_err(|e| malformed("blob", e))?;
    let mut blobs = Vec::new();
    for b in root.child("Blobs").map(|b| b.children.as_slice()).unwrap_or_default() {
        if b.name != "Blob" {
            continue;
        }
        let name = blob_name(b.child("Name").ok_or_else(|| malformed("blob", "a blob without a Name"))?)
            .map_err(|e| malformed("blob", e))?;
        let empty = Element::default();
        let p = b.child("Properties").unwrap_or(&empty);
        let etag = p.text_of("Etag").ok_or_else(|| malformed("blob", format!("blob '{name}' has no Etag")))?;
        let size = p
            .text_of("Content-Length")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| malformed("blob", format!("blob '{name}' has no valid Content-Length")))?;
        let metadata = b
            .child("Metadata")
            .map(|m| m.children.iter().map(|kv| (kv.name.clone(), kv.text.clone())).collect())
            .unwrap_or_default();
        blobs.push(BlobMeta {
            size,
            // Listings give ETags bare, headers quoted: keep the header form.
            etag: if etag.starts_with('"') { etag } else { format!("\"{etag}\"") },
            last_modified: p.text_of("Last-Modified").as_deref().and_then(parse_http_date),
            kind: blob_kind(p.text_of("BlobType").as_deref()),
            properties: BlobProperties {
                content_type: p.text_of("Content-Type"),
                content_encoding: p.text_of("Content-Encoding"),
                content_language: p.text_of("Content-Language"),
                content_disposition: p.text_of("Content-Disposition"),
                cache_control: p.text_of("Cache-Control"),
                content_md5: p.text_of("Content-MD5"),
            },
            metadata,
            name,
        });
    }
    Ok((blobs, root.text_of("NextMarker")))
}

pub(crate) fn parse_container_list(body: &str) -> Result<(Vec<String>, Option<String>)> {
    let list: ContainerList = quick_xml::de::from_str(body).map_err(|e| malformed("container", e))?;
    Ok((list.containers.container.into_iter().map(|c| c.name).collect(), non_empty(list.next_marker)))
}

pub(crate) fn parse_error(body: &str) -> ServiceError {
    quick_xml::de::from_str(body).unwrap_or_default()
}

pub(crate) fn parse_http_date(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    httpdate::parse_http_date(s).ok().map(chrono::DateTime::<chrono::Utc>::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_listing_with_metadata_and_empty_properties() {
        let body = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="c">
  <Prefix/><MaxResults>2</MaxResults>
  <Blobs>
    <Blob><Name>Big Buck.ism</Name><Properties><Last-Modified>Tue, 24 Nov 2026 06:00:00 GMT</Last-Modified><Etag>"0x1"</Etag>
      <Content-Length>42</Content-Length><Content-Type>application/xml</Content-Type><Content-Encoding/><Content-MD5>abc=</Content-MD5>
      <BlobType>BlockBlob</BlobType></Properties><Metadata><origin>a</origin></Metadata></Blob>
    <Blob><Name>disk.vhd</Name><Properties><Etag>0x2</Etag><Content-Length>512</Content-Length><BlobType>PageBlob</BlobType></Properties><Metadata/></Blob>
  </Blobs>
  <NextMarker>marker2</NextMarker>
</EnumerationResults>"#;
        let (blobs, next) = parse_blob_list(body).unwrap();
        assert_eq!(next.as_deref(), Some("marker2"));
        assert_eq!(blobs.len(), 2);
        assert_eq!(blobs[0].name, "Big Buck.ism");
        assert_eq!(blobs[0].size, 42);
        assert_eq!(blobs[0].properties.content_encoding, None);
        assert_eq!(blobs[0].properties.content_md5.as_deref(), Some("abc="));
        assert_eq!(blobs[0].metadata.get("origin").map(String::as_str), Some("a"));
        assert!(blobs[0].last_modified.is_some());
        assert_eq!(blobs[1].kind, BlobKind::Page);
        assert!(blobs[1].metadata.is_empty());
    }

    #[test]
    fn blob_names_keep_their_spaces_and_encoded_names_are_decoded() {
        let body = r#"<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs>
<Blob><Name>  lead and trail  </Name><Properties><Etag>0x1</Etag><Content-Length>1</Content-Length></Properties></Blob>
<Blob><Name Encoded="true">ctl%01x%20</Name><Properties><Etag>0x2</Etag><Content-Length>2</Content-Length></Properties></Blob>
<Blob><Name>a&amp;b&lt;c&gt;&#x9;</Name><Properties><Etag>0x3</Etag><Content-Length>3</Content-Length></Properties></Blob>
<Blob><Name Encoded="false">100%25</Name><Properties><Etag>0x4</Etag><Content-Length>4</Content-Length></Properties></Blob>
</Blobs><NextMarker /></EnumerationResults>"#;
        let (blobs, next) = parse_blob_list(body).unwrap();
        let names: Vec<&str> = blobs.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["  lead and trail  ", "ctl\u{1}x ", "a&b<c>\t", "100%25"]);
        assert_eq!(next, None);
    }

    #[test]
    fn a_listing_that_is_not_xml_is_an_error() {
        assert!(parse_blob_list("<EnumerationResults><Blobs><Blob>").is_err());
        assert!(parse_blob_list("<EnumerationResults><Blobs><Blob><Name>x</Name></Blob></Blobs></EnumerationResults>")
            .is_err());
    }

    #[test]
    fn error_documents_give_code_and_message() {
        let e = parse_error("<?xml version=\"1.0\"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message></Error>");
        assert_eq!(e.code.as_deref(), Some("BlobNotFound"));
        assert!(parse_error("not xml").code.is_none());
    }
}
