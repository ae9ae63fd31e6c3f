//! The grants a killed run left behind: their records in B name the side and
//! the containers their stored policy may be on.

use std::collections::BTreeSet;

use super::batch::GrantSide;
use super::{policy_id_for, remove_stored_policy, Grants, COPY_SAS_TAG};
use crate::error::Result;
use crate::id::AssetId;
use crate::model::{Locator, LocatorType};

/// For a grant record (a copy SAS locator): which side's containers its
/// stored policy may be on (`source` or `target`), and those containers.
/// A record is input: only asset containers (`asset-<guid>`) are taken from it.
pub fn grant_record_target(locator: &Locator) -> Option<(&str, Vec<&str>)> {
    let rest = locator.path.strip_prefix(COPY_SAS_TAG)?;
    let (side, rest) = rest.split_once(':')?;
    let containers = rest.split_once(" on ").map_or(rest, |(c, _)| c);
    let containers: Vec<&str> =
        containers.split(',').map(str::trim).filter(|c| AssetId::from_container_name(c).is_some()).collect();
    matches!(side, "source" | "target").then_some((side, containers))
}

impl Grants<'_> {
    /// Revokes the grants of the selected assets that a killed run left
    /// behind: the stored policies their records name (on every container a
    /// record names), then the records.
    pub(crate) async fn sweep(&self, selected: &BTreeSet<AssetId>, target_locators: &[&Locator]) -> Result<()> {
        let containers: BTreeSet<String> = selected.iter().map(|id| id.container_name()).collect();
        for &l in target_locators {
            if l.locator_type != LocatorType::Sas || !l.path.starts_with(COPY_SAS_TAG) {
                continue;
            }
            let named = grant_record_target(l);
            let ours = selected.contains(&l.asset_id)
                || named.as_ref().is_some_and(|(_, cs)| cs.iter().any(|c| containers.contains(*c)));
            if !ours {
                continue;
            }
            let side = match named.as_ref().map(|(s, _)| *s) {
                Some("source") => GrantSide::Source,
                _ => GrantSide::Target,
            };
            let store = self.store(side);
            tracing::info!(record = %l.id, side = side.word(), "revoking a copy grant a previous run left behind");
            // A record of an older version (one per side's own catalog) names no container: no policy.
            if store.capability().stored_access_policies {
                for container in named.map(|(_, cs)| cs).unwrap_or_default() {
                    remove_stored_policy(store.as_ref(), container, &policy_id_for(&l.id)).await?;
                }
            }
            self.target.delete_locator(&l.id).await?;
        }
        Ok(())
    }
}
