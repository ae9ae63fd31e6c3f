//! The one place the origin opens content keys: a content key record unwrapped under the data
//! center's KEK, once, and kept in memory for key delivery and encrypted packaging alike. A key is
//! held as a [`media::ContentKey`], zeroed when its last holder drops it; neither it nor an error
//! here shows a key byte (an error names the key id and the KEK's fingerprint).

use std::sync::Arc;

use mirrorcast_core::protection::{ContentKey, ContentKeyType, KeyEncryptionKey};
use mirrorcast_media::encryption::{self as media, KeyId};
use quick_cache::sync::Cache;
use uuid::Uuid;

/// How many opened keys are kept.
const OPENED_KEYS: usize = 4096;

/// Why a content key was not opened.
#[derive(Debug)]
pub(crate) enum NotOpened {
    /// This origin was given no key-encryption key.
    NoKek,
    /// The record does not open under this origin's KEK (another KEK, a damaged record).
    Unwrap(mirrorcast_core::Error),
}

/// A record as opened: its id, type and wrapped value. A re-keyed record (a new wrapped value)
/// is another slot, so it is opened anew and its old key is never served for it.
type Slot = (Uuid, ContentKeyType, String);

/// The data center's KEK and the content keys opened under it.
pub(crate) struct ContentKeys {
    kek: Option<Arc<dyn KeyEncryptionKey>>,
    opened: Cache<Slot, Arc<media::ContentKey>>,
}

impl std::fmt::Debug for ContentKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kek = self.kek.as_deref().map(|k| k.fingerprint());
        f.debug_struct("ContentKeys").field("kek", &kek).field("opened", &self.opened.len()).finish()
    }
}

impl ContentKeys {
    pub(crate) fn new(kek: Option<Arc<dyn KeyEncryptionKey>>) -> ContentKeys {
        ContentKeys { kek, opened: Cache::new(OPENED_KEYS) }
    }

    /// The KEK, for what else it opens (a token policy's HS256 secrets); `None` without one.
    pub(crate) fn kek(&self) -> Option<&dyn KeyEncryptionKey> {
        self.kek.as_deref()
    }

    /// The key `record` holds, opened under the KEK (or as opened before for the same record).
    pub(crate) async fn open(&self, record: &ContentKey) -> Result<Arc<media::ContentKey>, NotOpened> {
        let kek = self.kek.as_deref().ok_or(NotOpened::NoKek)?;
        let slot = (record.id, record.key_type, record.wrapped.ciphertext.clone());
        if let Some(key) = self.opened.get(&slot) {
            return Ok(key);
        }
        let value = record.open(kek).await.map_err(NotOpened::Unwrap)?;
        let key = Arc::new(media::ContentKey::new(KeyId(*record.id.as_bytes()), *value.expose()));
        self.opened.insert(slot, key.clone());
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use mirrorcast_core::protection::{ContentKeyValue, LocalKek, Wrapped};

    use super::*;

    /// A KEK that counts what it unwraps.
    #[derive(Debug)]
    struct Counting {
        kek: LocalKek,
        unwraps: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl KeyEncryptionKey for Counting {
        fn fingerprint(&self) -> &str {
            self.kek.fingerprint()
        }
        async fn wrap(&self, secret: &[u8], context: &str) -> mirrorcast_core::Result<Wrapped> {
            self.kek.wrap(secret, context).await
        }
        async fn unwrap(
            &self,
            wrapped: &Wrapped,
            context: &str,
        ) -> mirrorcast_core::Result<zeroize::Zeroizing<Vec<u8>>> {
            self.unwraps.fetch_add(1, Ordering::SeqCst);
            self.kek.unwrap(wrapped, context).await
        }
    }

    async fn record(kek: &dyn KeyEncryptionKey, id: Uuid, value: [u8; 16]) -> ContentKey {
        ContentKey::seal(id, ContentKeyType::Cenc, None, &ContentKeyValue::from_bytes(value), kek).await.unwrap()
    }

    #[tokio::test]
    async fn a_record_is_opened_once_and_a_rekeyed_one_anew() {
        let counting = Arc::new(Counting { kek: LocalKek::from_bytes([7; 32]), unwraps: AtomicUsize::new(0) });
        let keys = ContentKeys::new(Some(counting.clone()));
        let id = Uuid::from_u128(0x1234);
        let first = record(counting.as_ref(), id, [0xa1; 16]).await;
        let a = keys.open(&first).await.unwrap();
        let again = keys.open(&first).await.unwrap();
        assert!(Arc::ptr_eq(&a, &again), "the same record is served from memory");
        assert_eq!(counting.unwraps.load(Ordering::SeqCst), 1);
        assert_eq!(a.key_id(), KeyId(*id.as_bytes()));

        let rekeyed = record(counting.as_ref(), id, [0xb2; 16]).await;
        let b = keys.open(&rekeyed).await.unwrap();
        assert_eq!(counting.unwraps.load(Ordering::SeqCst), 2, "a new wrapped value is opened anew");
        assert_ne!(a.check_value(), b.check_value(), "the new key, not the one opened before");
        assert_eq!(b.key(), &[0xb2; 16]);
    }

    #[tokio::test]
    async fn no_kek_or_another_kek_opens_nothing_and_shows_no_key() {
        let theirs = LocalKek::from_bytes([9; 32]);
        let record = record(&theirs, Uuid::from_u128(0x99), [0xc3; 16]).await;
        assert!(matches!(ContentKeys::new(None).open(&record).await, Err(NotOpened::NoKek)));
        let ours = ContentKeys::new(Some(Arc::new(LocalKek::from_bytes([8; 32]))));
        let err = ours.open(&record).await.unwrap_err();
        let shown = format!("{err:?} {ours:?}");
        assert!(matches!(err, NotOpened::Unwrap(_)), "{shown}");
        assert!(!shown.to_lowercase().contains(&"c3".repeat(4)), "{shown}");
        let mine = ContentKeys::new(Some(Arc::new(theirs)));
        let opened = mine.open(&record).await.unwrap();
        let shown = format!("{opened:?} {mine:?}");
        assert!(!shown.to_lowercase().contains(&"c3".repeat(4)) && !shown.contains("195"), "{shown}");
    }
}
