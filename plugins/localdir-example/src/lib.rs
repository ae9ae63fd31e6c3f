//! An example plugin: a data center in a local directory. The whole plugin is
//! this file: a type implementing `Plugin`, and one macro call.

use mirrorcast_plugin_sdk::mirrorcast_store::Result;
use mirrorcast_plugin_sdk::{export_plugin, Blocking, Plugin, PluginStore};

/// Configuration: the directory's path.
#[derive(Debug)]
pub struct LocalDir;

impl Plugin for LocalDir {
    const NAME: &'static str = "localdir";

    fn open(config: &str) -> Result<Box<dyn PluginStore>> {
        let store = mirrorcast_object_store::ObjectStoreBackend::local(std::path::Path::new(config))?;
        Ok(Box::new(Blocking::new(store)?))
    }
}

export_plugin!(LocalDir);
