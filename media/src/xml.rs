//! Small XML helpers for the writers (the readers use roxmltree).

/// `text` escaped for an attribute value or element content.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Parses `text` as XML; an error names the document as `what` (e.g. "the .ism").
pub(crate) fn parse<'a>(text: &'a str, what: &str) -> crate::Result<roxmltree::Document<'a>> {
    roxmltree::Document::parse(text).map_err(|e| crate::FormatError::new(format!("{what} is not an XML document: {e}")))
}

/// The attribute `name` of `node` parsed as a number, or `None` if absent.
pub(crate) fn num_attr<T: std::str::FromStr>(node: roxmltree::Node<'_, '_>, name: &str) -> crate::Result<Option<T>> {
    match node.attribute(name) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            crate::FormatError::new(format!("<{}> attribute {name}=\"{v}\" is not a number", node.tag_name().name()))
        }),
    }
}
