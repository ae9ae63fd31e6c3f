//! Smooth Streaming manifests: the SMIL server manifest and the client manifest.

pub fn server_manifest(text: &str) -> Result<Vec<String>, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not a SMIL document: {e}"))?;
    if doc.root_element().tag_name().name() != "smil" {
        return Err(format!("root element is <{}>, not <smil>", doc.root_element().tag_name().name()));
    }
    let mut out = Vec::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        match node.tag_name().name() {
            "video" | "audio" | "textstream" | "ref" => {
                if let Some(src) = node.attribute("src") {
                    out.push(src.to_owned());
                }
            }
            "meta" if node.attribute("name") == Some("clientManifestRelativePath") => {
                if let Some(c) = node.attribute("content") {
                    out.push(c.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

pub fn client_manifest(text: &str) -> Result<Vec<String>, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not an XML document: {e}"))?;
    if doc.root_element().tag_name().name() != "SmoothStreamingMedia" {
        return Err(format!("root element is <{}>, not <SmoothStreamingMedia>", doc.root_element().tag_name().name()));
    }
    Ok(Vec::new())
}
