//! Media Services' numbers for the model's enums (v2 REST `Options`, access policy
//! `Permissions` bits, locator `Type`): the model reads them wherever it reads names
//! (`"4".parse::<AssetOptions>()`), and an export's reader and writer use them.

use super::{AssetOptions, LocatorType, Permissions};

/// `Options`: 0 None, 1 StorageEncrypted, 2 CommonEncryptionProtected,
/// 4 EnvelopeEncryptionProtected.
pub fn options_from_code(n: i64) -> Result<AssetOptions, String> {
    match n {
        0 => Ok(AssetOptions::None),
        1 => Ok(AssetOptions::StorageEncrypted),
        2 => Ok(AssetOptions::CommonEncryptionProtected),
        4 => Ok(AssetOptions::EnvelopeEncryptionProtected),
        _ => Err(format!("unknown asset Options {n}: expected 0 (None), 1, 2 or 4")),
    }
}

/// An asset's `Options` number.
pub fn options_code(options: AssetOptions) -> u8 {
    match options {
        AssetOptions::None => 0,
        AssetOptions::StorageEncrypted => 1,
        AssetOptions::CommonEncryptionProtected => 2,
        AssetOptions::EnvelopeEncryptionProtected => 4,
    }
}

/// `Permissions` bits: Read 1, Write 2, Delete 4, List 8 (the store's `Permissions` reads them).
pub fn permissions_from_bits(bits: i64) -> Result<Permissions, String> {
    Permissions::from_v2_bits(bits)
}

/// mirrorcast's permissions as Media Services bits; add and create count as Write.
pub fn permissions_bits(p: Permissions) -> u8 {
    p.to_v2_bits()
}

/// A locator's `Type`: 1 SAS, 2 OnDemandOrigin.
pub fn locator_type_from_code(n: i64) -> Result<LocatorType, String> {
    match n {
        1 => Ok(LocatorType::Sas),
        2 => Ok(LocatorType::OnDemandOrigin),
        _ => Err(format!("unknown locator Type {n}: expected 1 (SAS) or 2 (OnDemandOrigin)")),
    }
}

/// A locator's `Type` number.
pub fn locator_type_code(t: LocatorType) -> u8 {
    match t {
        LocatorType::Sas => 1,
        LocatorType::OnDemandOrigin => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_enums_map_both_ways() {
        for bits in 1..=15 {
            assert_eq!(permissions_bits(permissions_from_bits(bits).unwrap()) as i64, bits);
        }
        assert!(
            permissions_from_bits(0).is_err()
                && permissions_from_bits(-1).is_err()
                && permissions_from_bits(16).is_err()
        );
        for n in [0, 1, 2, 4] {
            assert_eq!(options_code(options_from_code(n).unwrap()) as i64, n);
        }
        assert_eq!(locator_type_code(locator_type_from_code(2).unwrap()), 2);
        assert!(locator_type_from_code(0).is_err());
    }
}
