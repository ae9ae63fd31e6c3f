//! `content-key`, `content-key-policy` and `streaming-policy`: one module each.

mod bind;
mod content_key;
mod content_key_policy;
mod streaming_policy;

pub(crate) use bind::{bind_locator, unbind};
pub(crate) use content_key::run as content_key;
pub(crate) use content_key_policy::run as content_key_policy;
pub(crate) use streaming_policy::run as streaming_policy;
