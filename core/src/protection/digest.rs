//! Secrets compared without being shown: HMAC-SHA256 under a key made for
//! one run (OS RNG) and dropped with it, so a printed or logged digest says
//! nothing about the secret outside that run and cannot be tested against guesses later.

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// A keyed hash whose key lives as long as this value.
pub struct KeyedHash {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHash([REDACTED])")
    }
}

impl KeyedHash {
    /// A hash under a new random key.
    pub fn random() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut key[..]);
        KeyedHash { key }
    }

    /// The keyed hash of `secret`, hex.
    pub fn of(&self, secret: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key[..]).expect("HMAC takes any key length");
        mac.update(secret);
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_secrets_hash_equal_within_a_run_and_differently_across_runs() {
        let (one, two) = (KeyedHash::random(), KeyedHash::random());
        assert_eq!(one.of(b"k"), one.of(b"k"));
        assert_ne!(one.of(b"k"), one.of(b"l"));
        assert_ne!(one.of(b"k"), two.of(b"k"));
    }
}
