//! The `cbcs` scheme's sample encryption (ISO/IEC 23001-7, 10.4): AES-128-CBC from a constant IV.
//! Video: in each subsample's protected run, the chain restarts at the constant IV, then
//! `crypt` blocks are encrypted and `skip` left clear, over and over (1:9); a last group shorter
//! than `crypt` blocks, and a partial last block, stay clear. Other tracks: whole-block full-sample
//! (every complete block of the sample, the partial last block clear).

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit};

use super::subsamples::Subsample;

/// The video pattern: 1 block encrypted in every 10.
pub const VIDEO_PATTERN: Pattern = Pattern { crypt: 1, skip: 9 };

/// An encryption pattern in 16-byte blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    /// Blocks encrypted.
    pub crypt: u8,
    /// Blocks left clear after them.
    pub skip: u8,
}

/// Which way [`crypt_sample`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Plain to cipher text.
    Encrypt,
    /// Cipher to plain text (tests, checks).
    Decrypt,
}

/// Encrypts or decrypts `sample` in place: each protected run in `pattern`, or, with no
/// subsamples, every complete block of the sample. The runs must cover the sample.
/// `cipher` is the key's expanded schedule, made once per segment rather than per sample.
pub fn crypt_sample(
    cipher: &aes::Aes128,
    iv: &[u8; 16],
    sample: &mut [u8],
    subsamples: &[Subsample],
    pattern: Pattern,
    direction: Direction,
) {
    if subsamples.is_empty() {
        let whole = sample.len() - sample.len() % 16;
        chain(cipher, iv, sample[..whole].chunks_exact_mut(16), direction);
        return;
    }
    let (crypt, period) = (pattern.crypt as usize * 16, (pattern.crypt as usize + pattern.skip as usize) * 16);
    let mut at = 0usize;
    for run in subsamples {
        at += run.clear as usize;
        let end = (at + run.protected as usize).min(sample.len());
        let protected = &mut sample[at.min(end)..end];
        // The blocks of every full crypt group, chained as one CBC run across the skipped blocks.
        let blocks = protected
            .chunks_mut(period.max(16))
            .filter(|group| group.len() >= crypt)
            .flat_map(|group| group[..crypt].chunks_exact_mut(16));
        chain(cipher, iv, blocks, direction);
        at = end;
    }
}

fn chain<'a>(cipher: &aes::Aes128, iv: &[u8; 16], blocks: impl Iterator<Item = &'a mut [u8]>, direction: Direction) {
    match direction {
        Direction::Encrypt => {
            let mut c = cbc::Encryptor::<aes::Aes128>::inner_iv_init(cipher.clone(), iv.into());
            blocks.for_each(|b| c.encrypt_block_mut(b.into()));
        }
        Direction::Decrypt => {
            let mut c = cbc::Decryptor::<aes::Aes128>::inner_iv_init(cipher.clone(), iv.into());
            blocks.for_each(|b| c.decrypt_block_mut(b.into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::KeyInit;

    #[test]
    fn the_pattern_encrypts_one_block_in_ten_and_leaves_the_tail_clear() {
        let (key, iv) = (aes::Aes128::new(&[3u8; 16].into()), [4u8; 16]);
        let plain: Vec<u8> = (0..400u32).map(|i| i as u8).collect();
        let runs = [Subsample { clear: 5, protected: 395 }];
        let mut s = plain.clone();
        crypt_sample(&key, &iv, &mut s, &runs, VIDEO_PATTERN, Direction::Encrypt);
        let block = |v: &[u8], b: usize| v[5 + b * 16..5 + b * 16 + 16].to_vec();
        let changed: Vec<usize> = (0..24).filter(|&b| block(&s, b) != block(&plain, b)).collect();
        assert_eq!(changed, [0, 10, 20], "blocks 0, 10, 20 of the protected run");
        assert_eq!(s[..5], plain[..5]);
        assert_eq!(s[5 + 384..], plain[5 + 384..], "the partial last block stays clear");
        crypt_sample(&key, &iv, &mut s, &runs, VIDEO_PATTERN, Direction::Decrypt);
        assert_eq!(s, plain);
    }

    #[test]
    fn full_sample_encryption_leaves_only_the_partial_block_clear() {
        let (key, iv) = (aes::Aes128::new(&[3u8; 16].into()), [4u8; 16]);
        let plain = vec![0u8; 40];
        let mut s = plain.clone();
        crypt_sample(&key, &iv, &mut s, &[], VIDEO_PATTERN, Direction::Encrypt);
        assert_ne!(s[..16], plain[..16]);
        assert_ne!(s[16..32], plain[16..32]);
        assert_eq!(s[32..], plain[32..]);
        crypt_sample(&key, &iv, &mut s, &[], VIDEO_PATTERN, Direction::Decrypt);
        assert_eq!(s, plain);
    }
}
