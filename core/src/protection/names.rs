//! Names of content key policies and streaming policies: Media Services'
//! resource names (letters, digits, '-', '_'), compared without case, so one
//! is also a safe catalog path.

use crate::error::{Error, Result};

/// Longest policy name (the limit the locator's delivery terms keep).
pub const NAME_CHARS: usize = crate::delivery::NAME_CHARS;

/// Checks a policy name: 1..=128 of letters, digits, '-', '_' (as Media Services allowed).
pub fn check_name(name: &str, what: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > NAME_CHARS
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::invalid_input(format!(
            "'{}' is not a {what} name: use 1 to {NAME_CHARS} letters, digits, '-' and '_'",
            name.chars().take(64).collect::<String>()
        )));
    }
    Ok(())
}

/// The catalog path segment of a name: names are compared without case.
pub fn path_segment(name: &str) -> String {
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_are_plain_and_bounded() {
        assert!(check_name("Policy_1-a", "x").is_ok());
        for bad in ["", "a/b", "..", "a b", "é", &"p".repeat(NAME_CHARS + 1)] {
            assert!(check_name(bad, "x").is_err(), "{bad:?}");
        }
        assert_eq!(path_segment("MyPolicy"), "mypolicy");
    }
}
