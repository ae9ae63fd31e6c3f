//! Content protection records: content keys, content key policies and
//! streaming policies (the pure model; the catalog stores them, see
//! `catalog::protection`). Keys and token secrets exist in a record only
//! wrapped under the data center's key-encryption key ([`kek`]).

pub mod ams_keys;
pub mod digest;
pub mod kek;
pub mod kek_command;
pub mod keys;
pub mod names;
pub mod needs;
pub mod policy;
pub mod streaming_policy;

pub use digest::KeyedHash;
pub use kek::{KeyEncryptionKey, LocalKek, Wrapped};
pub use kek_command::CommandKek;
pub use keys::{ContentKey, ContentKeyType, ContentKeyValue};
pub use needs::Needs;
pub use policy::{ContentKeyPolicy, Restriction, TokenKey, TokenRestriction};
pub use streaming_policy::StreamingPolicy;
