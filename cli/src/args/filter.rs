//! `filter …`: the clap arguments and their checks, made before anything is read or
//! written. A filter given by flags is written into the v3 JSON shape and read back
//! through the one reader a `--file` goes through, so both are checked alike.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mirrorcast_core::id::AssetId;
use mirrorcast_core::model::filter::{check_name, Filter};
use mirrorcast_core::Error;
use serde_json::{json, Map, Value};

use super::Dc;

/// Where a filter lives: an asset's (`--asset`) or the data center's own (account filters).
#[derive(Debug, Args)]
pub(crate) struct FilterPlace {
    #[command(flatten)]
    pub dc: Dc,
    /// An asset filter of this asset (id, GUID or container name); without it, an account filter.
    #[arg(long)]
    pub asset: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum FilterCommand {
    /// Create a dynamic manifest filter (Media Services v3 shape), from flags or a JSON file.
    Create {
        #[command(flatten)]
        place: FilterPlace,
        /// The filter's name (letters, digits, '-', '_'); a --file may name it instead.
        name: Option<String>,
        /// A v3 filter in JSON (what `az ams asset-filter show` prints); no other flag with it.
        #[arg(long)]
        file: Option<PathBuf>,
        /// presentationTimeRange.startTimestamp, in --timescale units.
        #[arg(long)]
        start: Option<String>,
        /// presentationTimeRange.endTimestamp, in --timescale units.
        #[arg(long)]
        end: Option<String>,
        /// Units per second of --start and --end (default 10000000: 100 ns).
        #[arg(long)]
        timescale: Option<String>,
        /// firstQuality.bitrate: the bitrate an HLS master offers first.
        #[arg(long)]
        first_quality: Option<String>,
        /// A track selection (repeatable; selections are ORed): conditions joined by ','
        /// (ANDed), each PROPERTY=VALUE or PROPERTY!=VALUE on Type, Name, Language, FourCC,
        /// Bitrate (a range low-high), e.g. "Type=Audio,Language=en".
        #[arg(long = "track")]
        tracks: Vec<String>,
    },
    /// List the filters of an asset (--asset) or the account filters.
    List {
        #[command(flatten)]
        place: FilterPlace,
    },
    /// Print one filter in the v3 JSON shape.
    Show {
        #[command(flatten)]
        place: FilterPlace,
        name: String,
    },
    /// Import the filters of a v3 export (`az ams asset-filter list`, `az ams account-filter list`,
    /// or the ARM list): each checked alone, a bad one rejected naming its field; asset filters
    /// go to --asset, account filters to the data center.
    Import {
        #[command(flatten)]
        place: FilterPlace,
        /// The export file (JSON).
        file: PathBuf,
        /// Check and report, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete a filter.
    Delete {
        #[command(flatten)]
        place: FilterPlace,
        name: String,
    },
}

/// A `filter` subcommand, checked. `dc` is the data center's name, resolved when the task runs.
pub(crate) enum FilterTask {
    Create { dc: String, asset: Option<AssetId>, filter: Filter },
    List { dc: String, asset: Option<AssetId> },
    Show { dc: String, asset: Option<AssetId>, name: String },
    Delete { dc: String, asset: Option<AssetId>, name: String },
    Import { dc: String, asset: Option<AssetId>, text: String, dry_run: bool },
}

impl FilterPlace {
    fn resolve(self) -> anyhow::Result<(String, Option<AssetId>)> {
        Ok((self.dc.dc, self.asset.as_deref().map(AssetId::parse_any).transpose()?))
    }
}

impl FilterCommand {
    pub(crate) fn resolve(self) -> anyhow::Result<FilterTask> {
        Ok(match self {
            FilterCommand::Create { place, name, file, start, end, timescale, first_quality, tracks } => {
                let (dc, asset) = place.resolve()?;
                let flags = start.is_some()
                    || end.is_some()
                    || timescale.is_some()
                    || first_quality.is_some()
                    || !tracks.is_empty();
                let filter = match file {
                    Some(_) if flags => {
                        return Err(Error::invalid_input(
                            "--file holds the whole filter: give no --start, --end, --timescale, --first-quality or --track with it",
                        )
                        .into())
                    }
                    Some(path) => {
                        let text = std::fs::read_to_string(&path).map_err(|e| {
                            Error::invalid_input(format!("cannot read filter file {}: {e}", path.display()))
                        })?;
                        let filter = Filter::from_json(&text, name.as_deref())
                            .map_err(|e| e.context(format!("filter file {}", path.display())))?;
                        if name.as_ref().is_some_and(|n| n != &filter.name) {
                            return Err(Error::invalid_input(format!(
                                "the file names the filter '{}', the command '{}'",
                                filter.name,
                                name.unwrap_or_default()
                            ))
                            .into());
                        }
                        filter
                    }
                    None => {
                        let name = name.ok_or_else(|| Error::invalid_input("name the filter (or give a --file)"))?;
                        from_flags(&name, start, end, timescale, first_quality, &tracks)?
                    }
                };
                FilterTask::Create { dc, asset, filter }
            }
            FilterCommand::List { place } => {
                let (dc, asset) = place.resolve()?;
                FilterTask::List { dc, asset }
            }
            FilterCommand::Show { place, name } => {
                check_name(&name)?;
                let (dc, asset) = place.resolve()?;
                FilterTask::Show { dc, asset, name }
            }
            FilterCommand::Import { place, file, dry_run } => {
                let (dc, asset) = place.resolve()?;
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| Error::invalid_input(format!("cannot read filter export {}: {e}", file.display())))?;
                FilterTask::Import { dc, asset, text, dry_run }
            }
            FilterCommand::Delete { place, name } => {
                check_name(&name)?;
                let (dc, asset) = place.resolve()?;
                FilterTask::Delete { dc, asset, name }
            }
        })
    }
}

/// A number flag as JSON: digits are a number (the reader bounds it), anything else text
/// the reader refuses by the field's name.
fn number(text: &str) -> Value {
    match text.trim().parse::<u64>() {
        Ok(n) => json!(n),
        Err(_) => json!(text),
    }
}

fn from_flags(
    name: &str,
    start: Option<String>,
    end: Option<String>,
    timescale: Option<String>,
    first_quality: Option<String>,
    tracks: &[String],
) -> anyhow::Result<Filter> {
    let mut doc = Map::new();
    doc.insert("name".into(), json!(name));
    let mut range = Map::new();
    for (key, v) in [("startTimestamp", start), ("endTimestamp", end), ("timescale", timescale)] {
        if let Some(v) = v {
            range.insert(key.into(), number(&v));
        }
    }
    if !range.is_empty() {
        doc.insert("presentationTimeRange".into(), Value::Object(range));
    }
    if let Some(q) = first_quality {
        doc.insert("firstQuality".into(), json!({ "bitrate": number(&q) }));
    }
    let mut selections = Vec::new();
    for track in tracks {
        let mut conditions = Vec::new();
        for condition in track.split(',') {
            let (property, operation, value) = match condition.split_once("!=") {
                Some((p, v)) => (p, "NotEqual", v),
                None => match condition.split_once('=') {
                    Some((p, v)) => (p, "Equal", v),
                    None => {
                        return Err(Error::invalid_input(format!(
                            "--track condition '{condition}' is not PROPERTY=VALUE or PROPERTY!=VALUE"
                        ))
                        .into())
                    }
                },
            };
            conditions.push(json!({ "property": property.trim(), "operation": operation, "value": value.trim() }));
        }
        selections.push(json!({ "trackSelections": conditions }));
    }
    if !selections.is_empty() {
        doc.insert("tracks".into(), Value::Array(selections));
    }
    Ok(Filter::from_value(&Value::Object(doc), None)?)
}
