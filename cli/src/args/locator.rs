//! `locator …` resolved: ids, type, permissions and validity checked before
//! anything is read or written.

use mirrorcast_core::id::{AssetId, LocatorId};
use mirrorcast_core::model::{LocatorType, Permissions};
use mirrorcast_core::Error;

use super::LocatorCommand;
use crate::output::Format;

/// One `locator` subcommand, checked. `dc` is the data center's name, resolved when the task runs.
pub(crate) enum LocatorTask {
    Create(CreateLocator),
    List { dc: String, asset: Option<AssetId>, format: Format },
    Delete { dc: String, id: LocatorId },
    Urls { dc: String, asset: AssetId },
}

pub(crate) struct CreateLocator {
    pub dc: String,
    pub asset: AssetId,
    pub locator_type: LocatorType,
    /// The id asked for, else a new one.
    pub id: LocatorId,
    /// Used by a SAS locator only.
    pub permissions: Permissions,
    /// Validity: 1..=36500 days (default 365 for origin, 1 for sas), starting
    /// `backdate` (at most a day) in the past.
    pub days: u64,
    pub backdate: chrono::Duration,
    pub reveal: bool,
    /// Filters bound to an origin locator (names checked here, their records when it runs).
    pub filters: Vec<String>,
    /// `--streaming-policy` and what it binds; `None`: clear, as before.
    pub protection: Option<LocatorProtection>,
}

/// A locator's streaming policy, content key policy and the keys given for it.
pub(crate) struct LocatorProtection {
    pub streaming_policy: String,
    pub content_key_policy: Option<String>,
    pub content_keys: Vec<uuid::Uuid>,
}

impl LocatorCommand {
    /// `json`: the global `--json`, which `--output` formats defer to.
    pub(crate) fn resolve(self, json: bool) -> anyhow::Result<LocatorTask> {
        Ok(match self {
            LocatorCommand::Create {
                dc,
                asset,
                locator_type,
                id,
                days,
                backdate,
                backdate_minutes,
                permissions,
                reveal,
                filters,
                streaming_policy,
                content_key_policy,
                content_keys,
            } => {
                let asset = AssetId::parse_any(&asset)?;
                let locator_type: LocatorType = locator_type.parse()?;
                let id = id.as_deref().map(LocatorId::parse).transpose()?.unwrap_or_default();
                let permissions: Permissions = permissions.parse()?;
                let days = days.unwrap_or(if locator_type == LocatorType::Sas { 1 } else { 365 });
                // --backdate and --backdate-minutes are bounded by their parsers.
                if days == 0 || days > 36_500 {
                    return Err(Error::invalid_input("--days must be 1..=36500").into());
                }
                let backdate = backdate_minutes.map_or(backdate, |m| std::time::Duration::from_secs(m as u64 * 60));
                let backdate = chrono::Duration::from_std(backdate)?;
                if !filters.is_empty() && locator_type != LocatorType::OnDemandOrigin {
                    return Err(
                        Error::invalid_input("--filter binds filters to an origin (streaming) locator only").into()
                    );
                }
                if filters.len() > mirrorcast_core::delivery::MAX_NAMES {
                    return Err(Error::invalid_input(format!(
                        "--filter given {} times; a locator binds at most {}",
                        filters.len(),
                        mirrorcast_core::delivery::MAX_NAMES
                    ))
                    .into());
                }
                for name in &filters {
                    mirrorcast_core::model::filter::check_name(name)?;
                }
                let protection = match streaming_policy {
                    None => None,
                    Some(_) if locator_type == LocatorType::Sas => {
                        return Err(Error::invalid_input(
                            "--streaming-policy applies to origin locators; a SAS locator serves files as stored",
                        )
                        .into())
                    }
                    Some(name) => {
                        use mirrorcast_core::protection::{keys::parse_key_id, names::check_name};
                        check_name(&name, "streaming policy")?;
                        if let Some(p) = &content_key_policy {
                            check_name(p, "content key policy")?;
                        }
                        let content_keys = content_keys.iter().map(|k| parse_key_id(k)).collect::<Result<_, _>>()?;
                        Some(LocatorProtection { streaming_policy: name, content_key_policy, content_keys })
                    }
                };
                LocatorTask::Create(CreateLocator {
                    dc: dc.dc,
                    asset,
                    locator_type,
                    id,
                    permissions,
                    days,
                    backdate,
                    reveal,
                    filters,
                    protection,
                })
            }
            LocatorCommand::List { dc, asset, output } => {
                let asset = asset.as_deref().map(AssetId::parse_any).transpose()?;
                LocatorTask::List { dc: dc.dc, asset, format: Format::parse(json, &output)? }
            }
            LocatorCommand::Delete { dc, locator } => {
                LocatorTask::Delete { dc: dc.dc, id: LocatorId::parse(&locator)? }
            }
            LocatorCommand::Urls { dc, asset } => LocatorTask::Urls { dc: dc.dc, asset: AssetId::parse_any(&asset)? },
        })
    }
}
