//! From an error to an exit code and a one-line message.

use std::process::ExitCode;

use mirrorcast_core::ErrorKind;

use crate::datacenter::ConfigError;

pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;

/// 2 for what the user must fix (input, configuration, credentials), else 1.
pub fn code_for(e: &anyhow::Error) -> ExitCode {
    for cause in e.chain() {
        if cause.downcast_ref::<ConfigError>().is_some()
            || cause.downcast_ref::<mirrorcast_azure_blob::Error>().is_some()
            || cause.downcast_ref::<mirrorcast_plugin::Error>().is_some()
        {
            return ExitCode::from(USAGE);
        }
        if let Some(core) = cause.downcast_ref::<mirrorcast_core::Error>() {
            return match core.kind() {
                ErrorKind::InvalidInput | ErrorKind::Authentication | ErrorKind::PermissionDenied => {
                    ExitCode::from(USAGE)
                }
                _ => ExitCode::from(FAILURE),
            };
        }
    }
    ExitCode::from(FAILURE)
}

/// The error and its causes on one line, without repeating a cause that the
/// message above it already quotes.
pub fn one_line(e: &anyhow::Error) -> String {
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
    out.replace(['\n', '\r'], " ")
}
