//! `asset …` resolved: every check that needs no storage, made before anything
//! is read or written, into the typed task the command runs.

use std::path::PathBuf;
use std::sync::Arc;

use mirrorcast_core::adopt::not_adoptable;
use mirrorcast_core::id::AssetId;
use mirrorcast_core::model::AssetOptions;
use mirrorcast_core::store::Limits;
use mirrorcast_core::Error;

use super::AssetCommand;
use crate::output::Format;
use crate::upload;

/// One `asset` subcommand, checked. `dc` is the data center's name, resolved when the task runs.
pub enum AssetTask {
    Create {
        dc: String,
        name: String,
        options: AssetOptions,
    },
    List {
        dc: String,
        format: Format,
    },
    Show {
        dc: String,
        id: AssetId,
        format: Format,
    },
    Upload(Upload),
    Files {
        dc: String,
        id: AssetId,
    },
    /// Named containers are all asset-<guid> ones; `all` lists them when the task runs.
    Adopt {
        dc: String,
        containers: Vec<String>,
        all: bool,
    },
    DeleteAll {
        dc: String,
        yes: bool,
    },
    Delete {
        dc: String,
        id: AssetId,
    },
}

/// `asset upload`: the files found under the path, and how to send them.
pub struct Upload {
    pub dc: String,
    pub id: AssetId,
    /// (local path, blob name, size), as `upload::plan` found them.
    pub files: Vec<(PathBuf, String, u64)>,
    pub concurrency: usize,
    pub block_size: usize,
    pub limits: Arc<Limits>,
}

impl AssetCommand {
    /// `json`: the global `--json`, which `--output` formats defer to.
    pub fn resolve(self, json: bool) -> anyhow::Result<AssetTask> {
        Ok(match self {
            AssetCommand::Create { dc, name, options } => {
                let options: AssetOptions = options.parse()?;
                if name.trim().is_empty() {
                    return Err(Error::invalid_input("an asset needs a non-empty --name").into());
                }
                if name.chars().any(char::is_control) {
                    return Err(Error::invalid_input(
                        "--name holds control characters (newline, tab, escape…): give a printable name",
                    )
                    .into());
                }
                AssetTask::Create { dc: dc.dc, name, options }
            }
            AssetCommand::List { dc, output } => AssetTask::List { dc: dc.dc, format: Format::parse(json, &output)? },
            AssetCommand::Show { dc, asset, output } => {
                let id = AssetId::parse_any(&asset)?;
                AssetTask::Show { dc: dc.dc, id, format: Format::parse(json, &output)? }
            }
            AssetCommand::Upload { dc, asset, path, concurrency, block_size_mib, caps } => {
                let id = AssetId::parse_any(&asset)?;
                if !(1..=4000).contains(&block_size_mib) || concurrency == 0 {
                    return Err(
                        Error::invalid_input("--block-size-mib must be 1..=4000 and --concurrency at least 1").into()
                    );
                }
                let limits = caps.limits()?;
                let files = upload::plan(&path).map_err(|e| Error::invalid_input(format!("{e:#}")))?;
                AssetTask::Upload(Upload {
                    dc: dc.dc,
                    id,
                    files,
                    concurrency,
                    block_size: block_size_mib * 1024 * 1024,
                    limits,
                })
            }
            AssetCommand::Files { dc, asset } => AssetTask::Files { dc: dc.dc, id: AssetId::parse_any(&asset)? },
            AssetCommand::Adopt { dc, containers, all } => {
                if let Some(why) = containers.iter().find_map(|c| not_adoptable(c)) {
                    return Err(Error::invalid_input(format!("{why}; nothing was adopted")).into());
                }
                AssetTask::Adopt { dc: dc.dc, containers, all }
            }
            AssetCommand::Delete { dc, asset: None, all: true, yes } => AssetTask::DeleteAll { dc: dc.dc, yes },
            AssetCommand::Delete { dc, asset, .. } => {
                let Some(asset) = asset else {
                    return Err(Error::invalid_input("name an asset to delete, or give --all").into());
                };
                AssetTask::Delete { dc: dc.dc, id: AssetId::parse_any(&asset)? }
            }
        })
    }
}
