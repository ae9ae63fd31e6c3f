//! `content-key`, `content-key-policy` and `streaming-policy`: one module each.

mod bind;
mod content_key;
mod content_key_policy;
mod import_keys;
mod streaming_policy;

pub(crate) use bind::{bind_locator, unbind};
pub(crate) use content_key::run as content_key;
pub(crate) use content_key_policy::run as content_key_policy;
pub(crate) use streaming_policy::run as streaming_policy;

/// Prints a listing (JSON, or a table of `row`s) after naming each bad record
/// skipped; exit 1 when there was one.
fn print_listed<V: serde::Serialize>(
    ctx: &crate::context::Context<'_>,
    problems: &[mirrorcast_core::catalog::RecordProblem],
    views: &[V],
    headers: &[&str],
    row: impl Fn(&V) -> Vec<String>,
) -> anyhow::Result<std::process::ExitCode> {
    for p in problems {
        errln!("mirrorcast: skipped a bad record: {}", p.message);
    }
    if ctx.json {
        crate::output::json(views)?;
    } else {
        crate::output::table(headers, &views.iter().map(row).collect::<Vec<_>>());
    }
    Ok(if problems.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(crate::exit::FAILURE)
    })
}
