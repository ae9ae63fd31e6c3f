//! The viewer's bearer token (pure): what a token-restricted content key policy asks of a key or
//! licence request, sent as `Authorization: Bearer <token>`. It is read from a file or the
//! environment, never from the command line (where process lists show it), and never shown: its
//! `Debug` is redacted and [`BearerToken::scrub`] takes it out of any text the drill reports.

use mirrorcast_core::Error;
use reqwest::header::HeaderValue;

/// The environment variable a token may come from.
pub const TOKEN_ENV: &str = "MIRRORCAST_DRILL_TOKEN";

/// Longest token read (a JWT with a few claims is well under 2 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A bearer token, checked: one line of visible ASCII, at most [`MAX_TOKEN_BYTES`].
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken([REDACTED])")
    }
}

impl BearerToken {
    /// The token `text` holds (surrounding whitespace dropped), or why it is none; `from` names
    /// where it came from (`--token-file t.jwt`). The error never quotes the text.
    pub fn parse(text: &str, from: &str) -> Result<BearerToken, Error> {
        let token = text.trim();
        if token.is_empty() {
            return Err(Error::invalid_input(format!("{from} holds no token")));
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Error::invalid_input(format!("{from} holds more than {MAX_TOKEN_BYTES} bytes: not a token")));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid_input(format!(
                "{from} is not one token: it holds spaces, line breaks or non-ASCII characters"
            )));
        }
        // A JWT pasted with its scheme: the header is written here.
        let bare = token.strip_prefix("Bearer=").unwrap_or(token);
        Ok(BearerToken(bare.to_owned()))
    }

    /// The `Authorization` header's value, marked sensitive (kept out of HTTP client logs).
    pub fn header_value(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0)).expect("visible ASCII checked in parse");
        value.set_sensitive(true);
        value
    }

    /// The token's length in bytes (how much more of a body to read so that it is seen whole).
    pub fn byte_len(&self) -> usize {
        self.0.len()
    }

    /// `text` with every occurrence of the token replaced: what a server says back (a refusal's
    /// reason) is reported only through here.
    pub fn scrub(&self, text: &str) -> String {
        text.replace(&self.0, "[token]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ2aWV3ZXIifQ.c2lnbmF0dXJl";

    #[test]
    fn a_token_is_one_trimmed_line_and_is_never_shown() {
        let token = BearerToken::parse(&format!("  {JWT}\n"), "--token-file t").unwrap();
        assert_eq!(token.header_value().to_str().unwrap(), format!("Bearer {JWT}"));
        assert!(token.header_value().is_sensitive());
        assert_eq!(format!("{token:?}"), "BearerToken([REDACTED])");
        assert_eq!(token.scrub(&format!("bad token {JWT}!")), "bad token [token]!");
        assert_eq!(BearerToken::parse(&format!("Bearer={JWT}"), "env").unwrap(), token, "Media Services' form");
    }

    #[test]
    fn what_is_not_a_token_is_refused_without_quoting_it() {
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        for bad in ["", " \n", "two words", "a\nb", "tok\u{e9}n", "nul\u{0}", long.as_str()] {
            let err = BearerToken::parse(bad, "--token-file t.jwt").unwrap_err().to_string();
            assert!(err.contains("--token-file t.jwt"), "{err}");
            assert!(bad.trim().is_empty() || !err.contains(bad.trim()), "{err}");
        }
    }
}
