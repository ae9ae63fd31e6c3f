//! What [`crate::export_plugin!`] expands to: the vtable functions, generic
//! over the plugin, each catching panics so none crosses the boundary.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use mirrorcast_store::{Error, ErrorKind};

use crate::abi::{status, Buffer, PluginV1, Slice};
use crate::protocol::Request;
use crate::{Plugin, PluginStore};

/// Exports `$plugin` (a type implementing [`crate::Plugin`]) as this library's plugin.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        $crate::export_plugin!($plugin, abi = $crate::ABI_VERSION);
    };
    ($plugin:ty, abi = $abi:expr) => {
        /// The plugin's entry point; see `mirrorcast_plugin_sdk::abi::InitFn`.
        ///
        /// # Safety
        /// `out` must point to a writable `PluginV1`.
        #[no_mangle]
        pub unsafe extern "C" fn mirrorcast_plugin_init(requested: u32, out: *mut $crate::abi::PluginV1) -> i32 {
            // SAFETY: forwarded from the host, which passes a valid pointer.
            unsafe { $crate::export::init::<$plugin>(requested, out, $abi) }
        }
    };
}

pub fn code_of(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::NotFound => status::NOT_FOUND,
        ErrorKind::AlreadyExists => status::ALREADY_EXISTS,
        ErrorKind::PreconditionFailed => status::PRECONDITION_FAILED,
        ErrorKind::Authentication => status::AUTHENTICATION,
        ErrorKind::PermissionDenied => status::PERMISSION_DENIED,
        ErrorKind::InvalidInput => status::INVALID_INPUT,
        ErrorKind::Unsupported => status::UNSUPPORTED,
        ErrorKind::Throttled => status::THROTTLED,
        ErrorKind::Transient => status::TRANSIENT,
        ErrorKind::Corrupt => status::CORRUPT,
        ErrorKind::Io => status::IO,
        _ => status::OTHER,
    }
}

pub fn kind_of(code: i32) -> ErrorKind {
    match code {
        status::NOT_FOUND => ErrorKind::NotFound,
        status::ALREADY_EXISTS => ErrorKind::AlreadyExists,
        status::PRECONDITION_FAILED => ErrorKind::PreconditionFailed,
        status::AUTHENTICATION => ErrorKind::Authentication,
        status::PERMISSION_DENIED => ErrorKind::PermissionDenied,
        status::INVALID_INPUT => ErrorKind::InvalidInput,
        status::UNSUPPORTED => ErrorKind::Unsupported,
        status::THROTTLED => ErrorKind::Throttled,
        status::TRANSIENT => ErrorKind::Transient,
        status::CORRUPT => ErrorKind::Corrupt,
        status::IO => ErrorKind::Io,
        _ => ErrorKind::Other,
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("the plugin panicked: {what}")
}

/// Fills `out` for ABI `abi` if the host asked for it.
///
/// # Safety
/// `out` must be null or point to a writable `PluginV1`.
pub unsafe fn init<P: Plugin>(requested: u32, out: *mut PluginV1, abi: u32) -> i32 {
    if out.is_null() {
        return status::INVALID_INPUT;
    }
    let result = catch_unwind(|| {
        let mut v = crate::abi::empty_v1();
        v.abi_version = abi;
        if requested != abi {
            return (v, status::ABI_MISMATCH);
        }
        v.struct_size = std::mem::size_of::<PluginV1>() as u32;
        v.name = Slice::of(P::NAME.as_bytes());
        v.open = open::<P>;
        v.call = call;
        v.close = close;
        v.free_buffer = free_buffer;
        v.release = release;
        (v, status::OK)
    });
    match result {
        Ok((v, code)) => {
            // SAFETY: checked non-null above; the host owns the memory.
            unsafe { out.write(v) };
            code
        }
        Err(_) => status::PANIC,
    }
}

type Store = Box<dyn PluginStore>;

unsafe extern "C" fn open<P: Plugin>(
    _: *mut c_void,
    config: Slice,
    store: *mut *mut c_void,
    error: *mut Buffer,
) -> i32 {
    let result = catch_unwind(|| {
        // SAFETY: the host lends `config` for this call.
        let config = std::str::from_utf8(unsafe { config.as_bytes() })
            .map_err(|_| Error::invalid_input("configuration is not UTF-8"))?;
        P::open(config)
    });
    let (code, message) = match result {
        Ok(Ok(s)) => {
            let boxed: Box<Store> = Box::new(s);
            // SAFETY: the host passes a writable out-pointer.
            unsafe { store.write(Box::into_raw(boxed).cast()) };
            return status::OK;
        }
        Ok(Err(e)) => (code_of(e.kind()), e.to_string()),
        Err(p) => (status::PANIC, panic_message(p)),
    };
    if !error.is_null() {
        // SAFETY: checked non-null; the host frees it with `free_buffer`.
        unsafe { error.write(Buffer::from_vec(message.into_bytes())) };
    }
    code
}

unsafe extern "C" fn call(
    _: *mut c_void,
    store: *mut c_void,
    request: Slice,
    body: Slice,
    reply: *mut Buffer,
    out_body: *mut Buffer,
) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `store` came from `open` and is not closed while calls run (the host holds it).
        let store: &Store = unsafe { &*(store as *const Store) };
        // SAFETY: both slices are lent by the host for this call.
        let (request, body) = unsafe { (request.as_bytes(), body.as_bytes()) };
        let request: Request =
            serde_json::from_slice(request).map_err(|e| Error::invalid_input(format!("malformed request: {e}")))?;
        store.call(request, body)
    }));
    let (code, text, bytes) = match result {
        Ok(Ok((r, bytes))) => match serde_json::to_vec(&r) {
            Ok(json) => (status::OK, json, bytes),
            Err(e) => (status::OTHER, e.to_string().into_bytes(), Vec::new()),
        },
        Ok(Err(e)) => (code_of(e.kind()), e.to_string().into_bytes(), Vec::new()),
        Err(p) => (status::PANIC, panic_message(p).into_bytes(), Vec::new()),
    };
    // SAFETY: the host passes writable out-pointers and frees both with `free_buffer`.
    unsafe {
        reply.write(Buffer::from_vec(text));
        out_body.write(Buffer::from_vec(bytes));
    }
    code
}

unsafe extern "C" fn close(_: *mut c_void, store: *mut c_void) {
    if store.is_null() {
        return;
    }
    let _ = catch_unwind(|| {
        // SAFETY: `store` came from `open` and is closed once.
        drop(unsafe { Box::from_raw(store as *mut Store) });
    });
}

unsafe extern "C" fn free_buffer(_: *mut c_void, buffer: Buffer) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: every buffer the host returns was made by `Buffer::from_vec` here.
        drop(unsafe { buffer.into_vec() });
    }));
}

unsafe extern "C" fn release(_: *mut c_void) {}
