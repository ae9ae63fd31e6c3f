//! A plugin built for ABI version 99: loading it must fail cleanly.

use mirrorcast_plugin_sdk::mirrorcast_store::{Error, Result};
use mirrorcast_plugin_sdk::{export_plugin, Plugin, PluginStore};

/// A plugin that declares ABI version 99, so the host's version check has something to refuse.
#[derive(Debug)]
pub struct FromTheFuture;

impl Plugin for FromTheFuture {
    const NAME: &'static str = "future";

    fn open(_: &str) -> Result<Box<dyn PluginStore>> {
        Err(Error::unsupported("never opened"))
    }
}

export_plugin!(FromTheFuture, abi = 99);
