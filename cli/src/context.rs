//! What every command needs besides its own arguments: the global flags, the
//! loaded plugins, and data centers resolved from them.

use std::path::Path;

use mirrorcast_plugin::Registry;

use crate::datacenter::{self, DataCenter};

/// Built once by the dispatcher from the global flags, lent to the command it runs.
pub(crate) struct Context<'a> {
    pub json: bool,
    pub config: Option<&'a Path>,
    pub plugins: &'a Registry,
    pub settings: datacenter::Settings,
}

impl Context<'_> {
    pub(crate) fn dc(&self, name: &str) -> anyhow::Result<DataCenter> {
        Ok(datacenter::resolve_with(name, self.config, self.plugins, &self.settings)?)
    }
}
