//! From an error to an exit code and a one-line message.

use std::process::ExitCode;

use mirrorcast_core::ErrorKind;

use crate::datacenter::ConfigError;

pub(crate) const FAILURE: u8 = 1;
pub(crate) const USAGE: u8 = 2;

/// 2 for what the user must fix (input, configuration, credentials), else 1.
pub(crate) fn code_for(e: &anyhow::Error) -> ExitCode {
    for cause in e.chain() {
        if cause.downcast_ref::<ConfigError>().is_some()
            || cause.downcast_ref::<mirrorcast_azure_blob::Error>().is_some()
            || cause.downcast_ref::<mirrorcast_plugin::Error>().is_some()
        {
            return ExitCode::from(USAGE);
        }
        // A store's error reaches here as it is, or wrapped in core's: one kind either way.
        let kind = cause
            .downcast_ref::<mirrorcast_core::Error>()
            .map(mirrorcast_core::Error::kind)
            .or_else(|| cause.downcast_ref::<mirrorcast_core::store::Error>().map(mirrorcast_core::store::Error::kind));
        if let Some(kind) = kind {
            return match kind {
                ErrorKind::InvalidInput | ErrorKind::Authentication | ErrorKind::PermissionDenied => {
                    ExitCode::from(USAGE)
                }
                _ => ExitCode::from(FAILURE),
            };
        }
    }
    ExitCode::from(FAILURE)
}

/// clap's message (error, details, tips) on one line, without its usage
/// block and `--help` hint.
pub(crate) fn clap_one_line(rendered: &str) -> String {
    let parts: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:"))
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .collect();
    parts.join(" ").trim_start_matches("error: ").to_owned()
}

/// The error and its causes on one line, without repeating a cause that the
/// message above it already quotes.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    // Newlines join the causes; other control characters (from names written
    // by someone else) are shown escaped, never sent to the terminal.
    crate::output::printable(&out.replace(['\n', '\r'], " "))
}

#[cfg(test)]
mod tests {
    use std::process::ExitCode;

    use mirrorcast_core::{store, ErrorKind};

    use super::{code_for, FAILURE, USAGE};

    #[test]
    fn a_store_error_gets_the_exit_code_of_its_kind_bare_or_wrapped_in_cores() {
        for (kind, code) in
            [(ErrorKind::PermissionDenied, USAGE), (ErrorKind::InvalidInput, USAGE), (ErrorKind::NotFound, FAILURE)]
        {
            let bare = anyhow::Error::new(store::Error::new(kind, "refused")).context("reading the records");
            let wrapped = anyhow::Error::new(mirrorcast_core::Error::from(store::Error::new(kind, "refused")));
            assert_eq!(code_for(&bare), ExitCode::from(code), "{kind} from a store");
            assert_eq!(code_for(&wrapped), ExitCode::from(code), "{kind} through core");
        }
    }

    #[test]
    fn clap_errors_fit_on_one_line() {
        let rendered = "error: the following required arguments were not provided:\n  --from <FROM>\n\nUsage: mirrorcast replicate --from <FROM>\n\nFor more information, try '--help'.\n";
        assert_eq!(super::clap_one_line(rendered), "the following required arguments were not provided: --from <FROM>");
    }
}
