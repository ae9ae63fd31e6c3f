//! Where the origin answers key requests. The manifests name these paths
//! absolute on the origin's own host (never a host name), so that a front or a
//! CDN in front of A and B fails key delivery over together with the segments.

/// W3C ClearKey licence requests (POST, the EME JSON request; the answer is a JWK set).
pub const CLEARKEY_LICENSE_PATH: &str = "/keys/clearkey";

/// The prefix of AES-128 (HLS envelope and SAMPLE-AES) key requests; see [`aes128_key_path`].
pub const AES128_KEY_PREFIX: &str = "/keys/aes128/";

/// The path an `EXT-X-KEY` URI names for the content key `key_id` (a UUID in
/// its hyphenated lower-case form); a GET answers the 16 key bytes.
pub fn aes128_key_path(key_id: &uuid::Uuid) -> String {
    format!("{AES128_KEY_PREFIX}{}", key_id.hyphenated())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aes128_key_path_names_the_key_id_under_its_prefix() {
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(aes128_key_path(&id), "/keys/aes128/01234567-89ab-cdef-0123-456789abcdef");
        assert!(aes128_key_path(&id).starts_with(AES128_KEY_PREFIX));
    }
}
