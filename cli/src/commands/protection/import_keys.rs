//! `content-key import`: the keys of a Media Services export, each stored
//! wrapped under the data center's KEK with its id, so licences and tokens
//! that name those ids keep working. A key the export does not hold is named:
//! it can only be re-keyed (`content-key create`), which means new licences.

use std::path::Path;
use std::process::ExitCode;

use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::protection::ams_keys::{keys_from_export, ExportedKey};
use mirrorcast_core::protection::{ContentKey, KeyEncryptionKey};
use mirrorcast_core::{Error, ErrorKind};
use serde::Serialize;

use crate::context::Context;
use crate::output;

/// The largest export read (a list of keys is small; this bounds a wrong file).
const MAX_EXPORT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Serialize)]
struct Line {
    id: String,
    #[serde(rename = "type")]
    key_type: &'static str,
    /// `imported`, `same` (held already, same key), `no-value`, `differs`, `refused`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

async fn import_one(catalog: &Catalog, kek: &dyn KeyEncryptionKey, key: ExportedKey) -> Line {
    let line = |outcome, detail: Option<String>| Line {
        id: key.id.hyphenated().to_string(),
        key_type: key.key_type.name(),
        outcome,
        detail,
    };
    let Some(value) = &key.value else {
        return line(
            "no-value",
            Some("the export does not hold this key's value: re-key with `mirrorcast content-key create` (licences and players holding the old key will not decrypt the new one)".into()),
        );
    };
    match catalog.get_content_key(&key.id).await {
        Ok(held) => match held.open(kek).await {
            Ok(v) if &v == value && held.key_type == key.key_type => line("same", None),
            Ok(_) => line("differs", Some("held here with another key or type: not overwritten".into())),
            Err(e) => line("refused", Some(e.message().to_owned())),
        },
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let sealed = ContentKey::seal(key.id, key.key_type, key.policy_name.clone(), value, kek).await;
            match sealed {
                Ok(record) => match catalog.create_content_key(&record).await {
                    Ok(()) => line("imported", None),
                    Err(e) => line("refused", Some(e.message().to_owned())),
                },
                Err(e) => line("refused", Some(e.message().to_owned())),
            }
        }
        Err(e) => line("refused", Some(e.message().to_owned())),
    }
}

pub(crate) async fn run(ctx: &Context<'_>, dc: &str, path: &Path) -> anyhow::Result<ExitCode> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::invalid_input(format!("cannot read export '{}': {e}", path.display())))?;
    if meta.len() > MAX_EXPORT_BYTES {
        return Err(Error::invalid_input(format!(
            "export '{}' is {} bytes; a content key export is at most {MAX_EXPORT_BYTES}",
            path.display(),
            meta.len()
        ))
        .into());
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| Error::invalid_input(format!("cannot read export '{}': {e}", path.display())))?,
    );
    // serde_json's errors quote no input, only positions: no key reaches a message.
    let document: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
        Error::invalid_input(format!("export '{}' is not JSON ({e}): nothing was imported", path.display()))
    })?;
    let (keys, problems) = keys_from_export(&document);
    drop(document);
    if keys.is_empty() && problems.is_empty() {
        return Err(Error::invalid_input(format!(
            "export '{}' holds no content keys: give `az ams streaming-locator list-content-keys` output",
            path.display()
        ))
        .into());
    }
    let dc = ctx.dc(dc)?;
    let kek = dc.kek.require("importing content keys").await?;
    let catalog = dc.catalog();
    let mut lines = Vec::new();
    for key in keys {
        lines.push(import_one(&catalog, kek.as_ref(), key).await);
    }
    let failed = !problems.is_empty() || lines.iter().any(|l| !matches!(l.outcome, "imported" | "same"));
    if ctx.json {
        output::json(&serde_json::json!({ "keys": lines, "problems": problems }))?;
    } else {
        for l in &lines {
            outln!(
                "{} {} {}{}",
                l.id,
                l.key_type,
                l.outcome,
                l.detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
            );
        }
        for p in &problems {
            outln!("not read: {p}");
        }
    }
    Ok(if failed { ExitCode::from(crate::exit::FAILURE) } else { ExitCode::SUCCESS })
}
