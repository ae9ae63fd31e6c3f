//! Plugins by name: those loaded explicitly, then those found in plugin directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::Error;
use crate::library::{load, PluginLibrary};

/// Finds plugins by name, first among those loaded explicitly, then in the plugin
/// directories; what it loads stays loaded while the registry lives.
#[derive(Debug, Default)]
pub struct Registry {
    loaded: Mutex<BTreeMap<String, PluginLibrary>>,
    dirs: Vec<PathBuf>,
}

impl Registry {
    /// A registry that searches `dirs` for plugins not loaded explicitly.
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        Registry { loaded: Default::default(), dirs }
    }

    /// Loads `path` now (`--plugin PATH`); an error names the file.
    pub fn load(&self, path: &Path) -> Result<PluginLibrary, Error> {
        let lib = load(path)?;
        self.loaded.lock().expect("registry lock").insert(lib.name().to_owned(), lib.clone());
        Ok(lib)
    }

    /// The plugin called `name`, loading it from the plugin directories if needed.
    pub fn get(&self, name: &str) -> Result<PluginLibrary, Error> {
        if let Some(lib) = self.loaded.lock().expect("registry lock").get(name) {
            return Ok(lib.clone());
        }
        for dir in &self.dirs {
            for file in [format!("lib{name}.so"), format!("libmirrorcast_plugin_{name}.so"), format!("{name}.so")] {
                let candidate = dir.join(file);
                if candidate.is_file() {
                    let lib = self.load(&candidate)?;
                    if lib.name() == name {
                        return Ok(lib);
                    }
                }
            }
        }
        Err(Error::UnknownPlugin {
            name: name.to_owned(),
            searched: self.dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
        })
    }
}
