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
pub(crate) enum AssetTask {
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
pub(crate) struct Upload {
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
    pub(crate) fn resolve(self, json: bool) -> anyhow::Result<AssetTask> {
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::args::{Cli, Command};

    fn resolve(args: &[&str]) -> anyhow::Result<super::AssetTask> {
        let cli = Cli::try_parse_from(["mirrorcast", "asset"].iter().chain(args)).unwrap();
        let Command::Asset(command) = cli.command else { unreachable!("parsed as asset") };
        command.resolve(cli.json)
    }

    fn error(args: &[&str]) -> String {
        resolve(args).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn asset_arguments_are_refused_by_name_before_the_data_center_is_opened() {
        assert_eq!(error(&["create", "--dc", "a", "--name", "  "]), "an asset needs a non-empty --name");
        assert!(error(&["create", "--dc", "a", "--name", "a\u{1b}b"]).starts_with("--name holds control characters"));
        assert!(error(&["list", "--dc", "a", "--output", "xml"]).starts_with("unknown --output 'xml'"));
        assert!(error(&["show", "--dc", "a", "nope"]).contains("'nope' is not a valid asset id"));
        assert!(error(&["adopt", "--dc", "a", "not-a-container"]).ends_with("; nothing was adopted"));
        assert!(error(&["upload", "--dc", "a", "3fa85f64-5717-4562-b3fc-2c963f66afa6", "/nonexistent/x"])
            .starts_with("cannot read '/nonexistent/x'"));
        assert!(matches!(
            resolve(&["delete", "--dc", "a", "--all", "--yes"]),
            Ok(super::AssetTask::DeleteAll { yes: true, .. })
        ));
    }
}
