//! `encode` resolved: the preset, the source and the output's name checked
//! before ffmpeg is looked for or anything is written.

use std::path::PathBuf;

use mirrorcast_core::id::AssetId;
use mirrorcast_core::Error;
use mirrorcast_encode::Preset;

use super::EncodeArgs;
use crate::upload;

pub(crate) struct Encode {
    pub dc: String,
    pub preset: Preset,
    pub source: Source,
    /// The output asset's name (default: the source's name without its extension).
    pub name: Option<String>,
    pub publish: bool,
}

/// What is encoded.
pub(crate) enum Source {
    /// A local mezzanine file, uploaded as an asset first: (path, blob name, size).
    File(PathBuf, String, u64),
    /// An asset already in the data center.
    Asset(AssetId),
}

impl EncodeArgs {
    pub(crate) fn resolve(self) -> anyhow::Result<Encode> {
        let preset = Preset::parse(&self.preset)?;
        let file = match &self.file {
            Some(path) => {
                let mut files = upload::plan(path).map_err(|e| Error::invalid_input(format!("{e:#}")))?;
                if files.len() != 1 {
                    return Err(Error::invalid_input(format!(
                        "'{}' is a folder: encode takes one file",
                        path.display()
                    ))
                    .into());
                }
                files.pop()
            }
            None => None,
        };
        let asset = self.asset.as_deref().map(AssetId::parse_any).transpose()?;
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(Error::invalid_input("--name must not be empty").into());
        }
        let source = match (asset, file) {
            (Some(id), _) => Source::Asset(id),
            (None, Some((path, name, size))) => Source::File(path, name, size),
            // clap requires one of them; said, not a panic, should that change.
            (None, None) => return Err(Error::invalid_input("give a file to encode, or --asset").into()),
        };
        Ok(Encode { dc: self.dc.dc, preset, source, name: self.name, publish: self.publish })
    }
}
