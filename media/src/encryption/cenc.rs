//! The `cenc` scheme's sample encryption: AES-128-CTR, the 8-byte IV in the counter block's high
//! half and a 64-bit block counter in its low half (ISO/IEC 23001-7, 10.1), one keystream running
//! over the protected runs of a sample in order. Decryption is the same operation.

use aes::cipher::{InnerIvInit, StreamCipher};

use super::subsamples::Subsample;

type Aes128Ctr = ctr::Ctr64BE<aes::Aes128>;

/// Encrypts (or decrypts) `sample` in place: its protected runs, or all of it when `subsamples` is empty.
/// The runs must cover the sample (as [`super::subsamples::nal_subsamples`] makes them).
/// `cipher` is the key's expanded schedule, made once per segment rather than per sample.
pub fn crypt_sample(cipher: &aes::Aes128, iv: [u8; 8], sample: &mut [u8], subsamples: &[Subsample]) {
    let mut counter = [0u8; 16];
    counter[..8].copy_from_slice(&iv);
    let mut cipher = Aes128Ctr::from_core(ctr::CtrCore::inner_iv_init(cipher.clone(), &counter.into()));
    if subsamples.is_empty() {
        cipher.apply_keystream(sample);
        return;
    }
    let mut at = 0usize;
    for run in subsamples {
        at += run.clear as usize;
        let end = (at + run.protected as usize).min(sample.len());
        cipher.apply_keystream(&mut sample[at.min(end)..end]);
        at = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::{KeyInit, KeyIvInit};

    /// NIST SP 800-38A F.5.1 (CTR-AES128): the counter block f0f1…feff is IV f0…f7 and counter f8…ff,
    /// so the first block here uses IV f0…f7 with the counter started at f8f9fafbfcfdfeff.
    #[test]
    fn ctr_keystream_matches_the_nist_vector() {
        let key: [u8; 16] = super::super::hex_bytes("2b7e151628aed2a6abf7158809cf4f3c").unwrap().try_into().unwrap();
        let counter = super::super::hex_bytes("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").unwrap();
        let mut block = super::super::hex_bytes("6bc1bee22e409f96e93d7e117393172a").unwrap();
        let mut cipher = Aes128Ctr::new((&key).into(), counter.as_slice().into());
        cipher.apply_keystream(&mut block);
        assert_eq!(super::super::hex(&block), "874d6191b620e3261bef6864990db6ce");
    }

    #[test]
    fn clear_runs_stay_clear_and_the_keystream_runs_on_across_protected_runs() {
        let key = aes::Aes128::new(&[9u8; 16].into());
        let plain: Vec<u8> = (0..100u8).collect();
        let runs = [Subsample { clear: 10, protected: 32 }, Subsample { clear: 26, protected: 32 }];
        let mut s = plain.clone();
        crypt_sample(&key, [1; 8], &mut s, &runs);
        assert_eq!(s[..10], plain[..10]);
        assert_eq!(s[42..68], plain[42..68]);
        // The same bytes as the protected runs encrypted as one stream.
        let mut joined = [&plain[10..42], &plain[68..100]].concat();
        crypt_sample(&key, [1; 8], &mut joined, &[]);
        assert_eq!(joined, [&s[10..42], &s[68..100]].concat());
        crypt_sample(&key, [1; 8], &mut s, &runs);
        assert_eq!(s, plain, "decryption is the same operation");
    }
}
