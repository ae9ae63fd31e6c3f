//! The XML documents of the Blob REST API that we read: listings and errors.

use std::collections::BTreeMap;

use mirrorcast_core::store::{BlobKind, BlobMeta, BlobProperties};
use mirrorcast_core::{Error, ErrorKind, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct BlobList {
    #[serde(rename = "Blobs", default)]
    blobs: Blobs,
    #[serde(rename = "NextMarker", default)]
    next_marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Blobs {
    #[serde(rename = "Blob", default)]
    blob: Vec<BlobItem>,
}

#[derive(Debug, Deserialize)]
struct BlobItem {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Properties")]
    properties: Props,
    #[serde(rename = "Metadata", default)]
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
struct Props {
    #[serde(rename = "Last-Modified", default)]
    last_modified: Option<String>,
    #[serde(rename = "Etag")]
    etag: String,
    #[serde(rename = "Content-Length")]
    content_length: u64,
    #[serde(rename = "Content-Type", default)]
    content_type: Option<String>,
    #[serde(rename = "Content-Encoding", default)]
    content_encoding: Option<String>,
    #[serde(rename = "Content-Language", default)]
    content_language: Option<String>,
    #[serde(rename = "Content-MD5", default)]
    content_md5: Option<String>,
    #[serde(rename = "Content-Disposition", default)]
    content_disposition: Option<String>,
    #[serde(rename = "Cache-Control", default)]
    cache_control: Option<String>,
    #[serde(rename = "BlobType", default)]
    blob_type: Option<String>,
}

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

pub(crate) fn parse_blob_list(body: &str) -> Result<(Vec<BlobMeta>, Option<String>)> {
    let list: BlobList = quick_xml::de::from_str(body).map_err(|e| malformed("blob", e))?;
    let blobs = list
        .blobs
        .blob
        .into_iter()
        .map(|b| {
            let p = b.properties;
            BlobMeta {
                name: b.name,
                size: p.content_length,
                // Listings give ETags bare, headers quoted: keep the header form.
                etag: if p.etag.starts_with('"') { p.etag } else { format!("\"{}\"", p.etag) },
                last_modified: p.last_modified.as_deref().and_then(parse_http_date),
                kind: blob_kind(p.blob_type.as_deref()),
                properties: BlobProperties {
                    content_type: non_empty(p.content_type),
                    content_encoding: non_empty(p.content_encoding),
                    content_language: non_empty(p.content_language),
                    content_disposition: non_empty(p.content_disposition),
                    cache_control: non_empty(p.cache_control),
                    content_md5: non_empty(p.content_md5),
                },
                metadata: b.metadata.unwrap_or_default(),
            }
        })
        .collect();
    Ok((blobs, non_empty(list.next_marker)))
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
    fn error_documents_give_code_and_message() {
        let e = parse_error("<?xml version=\"1.0\"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message></Error>");
        assert_eq!(e.code.as_deref(), Some("BlobNotFound"));
        assert!(parse_error("not xml").code.is_none());
    }
}
