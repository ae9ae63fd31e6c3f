//! Loading a plugin library and calling through its vtable.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mirrorcast_plugin_sdk::abi::{self, status, Buffer, InitFn, PluginV1, Slice};
use mirrorcast_plugin_sdk::{Reply, Request, ABI_VERSION, INIT_SYMBOL};
use mirrorcast_store::{Error as StoreError, ErrorKind};

use crate::error::Error;
use crate::store::PluginStore;

/// A loaded plugin library. Cheap to clone; the library stays loaded while
/// any clone, or any store opened from it, is alive.
#[derive(Debug, Clone)]
pub struct PluginLibrary {
    pub(crate) inner: Arc<Loaded>,
}

#[derive(Debug)]
pub(crate) struct Loaded {
    vtable: PluginV1,
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    // Dropped after `Drop::drop` has called `release`: fields drop after it.
    _library: libloading::Library,
}

// SAFETY: the vtable is a set of function pointers and the plugin's private
// pointer; the ABI requires plugins to be callable from any thread.
unsafe impl Send for Loaded {}
// SAFETY: as above; the host never mutates the vtable after loading.
unsafe impl Sync for Loaded {}

impl Drop for Loaded {
    fn drop(&mut self) {
        // SAFETY: called once, after every store from this library was closed
        // (each holds an Arc to it), before the library is unloaded.
        unsafe { (self.vtable.release)(self.vtable.private_data) };
    }
}

/// Loads the plugin at `path`, checking that it is one and speaks our ABI.
pub fn load(path: &Path) -> Result<PluginLibrary, Error> {
    let path = path.to_path_buf();
    // SAFETY: loading runs the library's initialisers; that is what loading a
    // plugin means, and the user named this file.
    let library = unsafe { libloading::Library::new(&path) }.map_err(|e| {
        let detail = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
        Error::NotALibrary { path: path.clone(), reason: format!("{e}{detail}") }
    })?;
    let mut vtable = abi::empty_v1();
    let code = {
        // SAFETY: the symbol is typed as the SDK declares it.
        let init: libloading::Symbol<InitFn> =
            unsafe { library.get(INIT_SYMBOL) }.map_err(|_| Error::NotAPlugin { path: path.clone() })?;
        // SAFETY: `vtable` is a valid, writable PluginV1.
        unsafe { init(ABI_VERSION, &mut vtable) }
    };
    match code {
        status::OK
            if vtable.abi_version == ABI_VERSION && vtable.struct_size as usize >= std::mem::size_of::<PluginV1>() => {}
        status::OK | status::ABI_MISMATCH => {
            return Err(Error::AbiMismatch {
                path,
                plugin: vtable.abi_version,
                host: ABI_VERSION,
                sdk: env!("CARGO_PKG_VERSION"),
            })
        }
        code => return Err(Error::InitFailed { path, code }),
    }
    // SAFETY: the plugin keeps its name alive while it is loaded.
    let name = String::from_utf8_lossy(unsafe { vtable.name.as_bytes() }).into_owned();
    tracing::debug!(plugin = %name, path = %path.display(), "plugin loaded");
    Ok(PluginLibrary { inner: Arc::new(Loaded { vtable, name, path, _library: library }) })
}

impl PluginLibrary {
    /// The name the plugin declares, which data centers refer to it by.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The file it was loaded from, for messages.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Opens a store from the plugin with `config`.
    pub fn open(&self, config: &str) -> Result<PluginStore, StoreError> {
        let mut handle: *mut c_void = std::ptr::null_mut();
        let mut error = Buffer::EMPTY;
        let v = &self.inner.vtable;
        // SAFETY: pointers are valid for the call; `config` outlives it.
        let code = unsafe { (v.open)(v.private_data, Slice::of(config.as_bytes()), &mut handle, &mut error) };
        let message = self.inner.take(error);
        if code != status::OK || handle.is_null() {
            let text = String::from_utf8_lossy(&message);
            return Err(StoreError::new(
                kind(code),
                format!("plugin '{}' could not open '{config}': {text}", self.inner.name),
            ));
        }
        Ok(PluginStore::new(self.inner.clone(), handle))
    }
}

fn kind(code: i32) -> ErrorKind {
    mirrorcast_plugin_sdk::export::kind_of(code)
}

impl Loaded {
    /// Copies a plugin buffer into our memory and gives it back to the plugin.
    fn take(&self, buffer: Buffer) -> Vec<u8> {
        if buffer.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: the plugin made `buffer` and it stays valid until freed below.
        let copy = unsafe { Slice { ptr: buffer.ptr, len: buffer.len }.as_bytes() }.to_vec();
        // SAFETY: returned exactly once to the plugin that made it.
        unsafe { (self.vtable.free_buffer)(self.vtable.private_data, buffer) };
        copy
    }

    /// One synchronous call; run it off the async runtime.
    pub(crate) fn call(
        &self,
        handle: *mut c_void,
        request: &Request,
        body: &[u8],
    ) -> Result<(Reply, Vec<u8>), StoreError> {
        let json = serde_json::to_vec(request).map_err(|e| StoreError::new(ErrorKind::Other, e.to_string()))?;
        let (mut reply, mut out) = (Buffer::EMPTY, Buffer::EMPTY);
        let v = &self.vtable;
        // SAFETY: `handle` is open (the caller's store holds it), slices outlive the call.
        let code = unsafe { (v.call)(v.private_data, handle, Slice::of(&json), Slice::of(body), &mut reply, &mut out) };
        let (reply, out) = (self.take(reply), self.take(out));
        if code != status::OK {
            let text = String::from_utf8_lossy(&reply);
            return Err(StoreError::new(kind(code), format!("plugin '{}': {text}", self.name)));
        }
        let reply: Reply = serde_json::from_slice(&reply).map_err(|e| {
            StoreError::new(ErrorKind::Corrupt, format!("plugin '{}' sent a malformed reply: {e}", self.name))
        })?;
        Ok((reply, out))
    }

    pub(crate) fn close(&self, handle: *mut c_void) {
        // SAFETY: called once per handle, when its store is dropped.
        unsafe { (self.vtable.close)(self.vtable.private_data, handle) };
    }
}
