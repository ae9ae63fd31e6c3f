//! A string that must never be printed: account keys, SAS tokens, bearer tokens.

use std::fmt;

/// Holds a secret; `Debug` and `Display` show `[REDACTED]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value` so that it is never printed.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for signing or for building a request. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Replaces the value of every `sig=` query parameter in `text` with `REDACTED`,
/// so a URL can be logged or shown.
pub fn redact_sas(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = find_sig(rest) {
        let (head, tail) = rest.split_at(pos + 4);
        out.push_str(head);
        out.push_str("REDACTED");
        let end = tail.find(['&', ' ', '"', '\'', '<', '>', '\n']).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn find_sig(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("sig=") {
        let at = from + i;
        if at == 0 || matches!(lower.as_bytes()[at - 1], b'?' | b'&' | b';' | b' ') {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn redact_sas_hides_every_signature() {
        let url = "https://a.blob/c/b?sv=2020&sig=abc%2Fdef&sp=r and ?sig=zzz";
        let r = redact_sas(url);
        assert_eq!(r, "https://a.blob/c/b?sv=2020&sig=REDACTED&sp=r and ?sig=REDACTED");
        assert_eq!(redact_sas("no signature here; design=1"), "no signature here; design=1");
    }
}
