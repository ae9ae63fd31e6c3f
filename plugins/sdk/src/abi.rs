//! The C ABI, version 1. Layout is fixed: fields are only ever appended, and
//! `struct_size` tells the host how much of the struct a plugin filled in.

use std::ffi::c_void;

/// Bytes owned by the plugin, handed to the host; returned with `free_buffer`.
#[repr(C)]
#[derive(Debug)]
pub struct Buffer {
    /// Start of the allocation; null for an empty buffer.
    pub ptr: *mut u8,
    /// Bytes in use, the ones the host reads.
    pub len: usize,
    /// Bytes allocated; the plugin needs it to free the buffer.
    pub cap: usize,
}

impl Buffer {
    /// No bytes and no allocation: what the host passes for the plugin to fill in.
    pub const EMPTY: Buffer = Buffer { ptr: std::ptr::null_mut(), len: 0, cap: 0 };

    /// Gives up a vector to the other side of the boundary.
    pub fn from_vec(v: Vec<u8>) -> Buffer {
        let mut v = std::mem::ManuallyDrop::new(v);
        Buffer { ptr: v.as_mut_ptr(), len: v.len(), cap: v.capacity() }
    }

    /// Takes back a vector made by [`Buffer::from_vec`] in the same library.
    ///
    /// # Safety
    /// `self` must come from `from_vec` of this very library and not be used again.
    pub unsafe fn into_vec(self) -> Vec<u8> {
        if self.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: the caller passes a buffer made by `from_vec` here, exactly once.
        unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) }
    }
}

/// Bytes borrowed for the duration of one call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Slice {
    /// First byte; may be null when `len` is 0.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl Slice {
    /// Borrows `bytes`; the slice must not outlive them.
    pub fn of(bytes: &[u8]) -> Slice {
        Slice { ptr: bytes.as_ptr(), len: bytes.len() }
    }

    /// The borrowed bytes (empty for a null pointer).
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes for the lifetime `'a`.
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.ptr.is_null() || self.len == 0 {
            return &[];
        }
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Status codes: 0 is success; positive codes are error kinds; negative codes are ABI-level failures.
/// Each positive code stands for one `mirrorcast_core::ErrorKind`, so the host
/// rebuilds the error kind (and with it the retry decision) the plugin had.
pub mod status {
    /// The call succeeded; its outputs are filled in.
    pub const OK: i32 = 0;
    /// `ErrorKind::NotFound`: no such container or blob.
    pub const NOT_FOUND: i32 = 1;
    /// `ErrorKind::AlreadyExists`: the name is taken.
    pub const ALREADY_EXISTS: i32 = 2;
    /// `ErrorKind::PreconditionFailed`: an `IfMatch` or `IfNotExists` condition did not hold.
    pub const PRECONDITION_FAILED: i32 = 3;
    /// `ErrorKind::Authentication`: the store rejected the credentials.
    pub const AUTHENTICATION: i32 = 4;
    /// `ErrorKind::PermissionDenied`: the credentials lack the right.
    pub const PERMISSION_DENIED: i32 = 5;
    /// `ErrorKind::InvalidInput`: the request or configuration is wrong; retrying will not help.
    pub const INVALID_INPUT: i32 = 6;
    /// `ErrorKind::Unsupported`: the store cannot do this operation.
    pub const UNSUPPORTED: i32 = 7;
    /// `ErrorKind::Throttled`: the store asked to slow down; worth retrying later.
    pub const THROTTLED: i32 = 8;
    /// `ErrorKind::Transient`: a passing failure; worth retrying.
    pub const TRANSIENT: i32 = 9;
    /// `ErrorKind::Corrupt`: stored or returned data failed a check.
    pub const CORRUPT: i32 = 10;
    /// `ErrorKind::Io`: a local I/O failure in the plugin.
    pub const IO: i32 = 11;
    /// Any other error kind, including kinds newer than this ABI.
    pub const OTHER: i32 = 12;
    /// The plugin panicked; the message says where.
    pub const PANIC: i32 = -1;
    /// The host asked for an ABI version the plugin does not speak; `abi_version` says which it does.
    pub const ABI_MISMATCH: i32 = -2;
}

/// `mirrorcast_plugin_init(requested_abi, out) -> status`: fills `out` if the
/// plugin speaks `requested_abi`; else sets only `out.abi_version` and returns
/// [`status::ABI_MISMATCH`].
pub type InitFn = unsafe extern "C" fn(requested_abi: u32, out: *mut PluginV1) -> i32;

/// The vtable of ABI version 1.
#[repr(C)]
#[derive(Debug)]
pub struct PluginV1 {
    /// The ABI version the plugin speaks; set even when it refuses the requested one.
    pub abi_version: u32,
    /// `size_of::<PluginV1>()` as the plugin was built; the host refuses a smaller one.
    pub struct_size: u32,
    /// The plugin's own state; passed back to every function.
    pub private_data: *mut c_void,
    /// The plugin's name, UTF-8, owned by the plugin for as long as it is loaded.
    pub name: Slice,
    /// Opens a store from a UTF-8 configuration string; on error, `error` holds a UTF-8 message.
    pub open:
        unsafe extern "C" fn(private: *mut c_void, config: Slice, store: *mut *mut c_void, error: *mut Buffer) -> i32,
    /// One operation: `request` is UTF-8 JSON, `body` the payload; on success `reply`
    /// holds UTF-8 JSON and `out_body` bytes; on error `reply` holds a UTF-8 message.
    pub call: unsafe extern "C" fn(
        private: *mut c_void,
        store: *mut c_void,
        request: Slice,
        body: Slice,
        reply: *mut Buffer,
        out_body: *mut Buffer,
    ) -> i32,
    /// Closes a store opened by `open`.
    pub close: unsafe extern "C" fn(private: *mut c_void, store: *mut c_void),
    /// Frees a buffer the plugin handed out.
    pub free_buffer: unsafe extern "C" fn(private: *mut c_void, buffer: Buffer),
    /// Releases the plugin; called once, before the library is unloaded.
    pub release: unsafe extern "C" fn(private: *mut c_void),
}

/// An empty vtable to pass to `init`.
pub fn empty_v1() -> PluginV1 {
    unsafe extern "C" fn open(_: *mut c_void, _: Slice, _: *mut *mut c_void, _: *mut Buffer) -> i32 {
        status::UNSUPPORTED
    }
    unsafe extern "C" fn call(
        _: *mut c_void,
        _: *mut c_void,
        _: Slice,
        _: Slice,
        _: *mut Buffer,
        _: *mut Buffer,
    ) -> i32 {
        status::UNSUPPORTED
    }
    unsafe extern "C" fn close(_: *mut c_void, _: *mut c_void) {}
    unsafe extern "C" fn free_buffer(_: *mut c_void, _: Buffer) {}
    unsafe extern "C" fn release(_: *mut c_void) {}
    PluginV1 {
        abi_version: 0,
        struct_size: 0,
        private_data: std::ptr::null_mut(),
        name: Slice { ptr: std::ptr::null(), len: 0 },
        open,
        call,
        close,
        free_buffer,
        release,
    }
}
