//! TTML / IMSC1 sidecars (pure): checked before the origin offers one (bounded, well-formed,
//! a `<tt>` root in the TTML namespace); served as stored, for DASH only (HLS carries WebVTT).

use crate::xml::parse;
use crate::{FormatError, Result};

/// A larger sidecar is refused.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
const TTML_NS: &str = "http://www.w3.org/ns/ttml";

/// Whether `bytes` is a TTML document the origin may offer: at most [`MAX_BYTES`], UTF-8,
/// well-formed XML whose root is `<tt>` in the TTML namespace; the error says which fails.
pub fn check(bytes: &[u8]) -> Result<()> {
    if bytes.len() > MAX_BYTES {
        return Err(FormatError::new(format!("TTML of {} bytes: more than {MAX_BYTES}", bytes.len())));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| FormatError::new("TTML is not UTF-8"))?;
    let doc = parse(text.strip_prefix('\u{feff}').unwrap_or(text), "the TTML")?;
    let root = doc.root_element();
    if !root.has_tag_name((TTML_NS, "tt")) {
        return Err(FormatError::new(format!(
            "the TTML's root is <{}>, not <tt> of {TTML_NS}",
            root.tag_name().name()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ttml_document_is_checked_before_it_is_offered() {
        let good = r#"<?xml version="1.0" encoding="utf-8"?><tt xmlns="http://www.w3.org/ns/ttml" xml:lang="en"><body><div><p begin="00:00:01.000" end="00:00:02.000">Hi</p></div></body></tt>"#;
        check(good.as_bytes()).unwrap();
        assert!(check(b"<tt>").unwrap_err().to_string().contains("not an XML document"));
        assert!(check(b"<tt/>").unwrap_err().to_string().contains("not <tt>"));
        assert!(check(b"<html xmlns=\"http://www.w3.org/ns/ttml\"/>").unwrap_err().to_string().contains("<html>"));
        assert!(check(&[0xff]).unwrap_err().to_string().contains("UTF-8"));
        assert!(check(&vec![b' '; MAX_BYTES + 1]).unwrap_err().to_string().contains("bytes"));
        let bomb = format!(
            "<!DOCTYPE tt [<!ENTITY a \"{}\">]><tt xmlns=\"{TTML_NS}\">{}</tt>",
            "x".repeat(100),
            "&a;".repeat(10)
        );
        let _ = check(bomb.as_bytes()); // roxmltree bounds entity expansion: an answer, never a panic
    }
}
