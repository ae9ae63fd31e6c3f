//! What a credential or a signed URL may do: read, add, create, write,
//! delete, list.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A set of permissions; letters as in SAS tokens: `r`ead, `a`dd, `c`reate,
/// `w`rite, `d`elete, `l`ist.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Permissions(u8);

impl Permissions {
    /// No permission at all.
    pub const NONE: Permissions = Permissions(0);
    /// Read blobs and their metadata (`r`).
    pub const READ: Permissions = Permissions(1);
    /// Add blocks to a blob (`a`).
    pub const ADD: Permissions = Permissions(2);
    /// Create new blobs (`c`).
    pub const CREATE: Permissions = Permissions(4);
    /// Write or overwrite blobs (`w`).
    pub const WRITE: Permissions = Permissions(8);
    /// Delete blobs (`d`).
    pub const DELETE: Permissions = Permissions(16);
    /// List blobs (`l`).
    pub const LIST: Permissions = Permissions(32);

    /// In the order a SAS `sp` parameter wants them.
    const LETTERS: [(char, Permissions); 6] = [
        ('r', Self::READ),
        ('a', Self::ADD),
        ('c', Self::CREATE),
        ('w', Self::WRITE),
        ('d', Self::DELETE),
        ('l', Self::LIST),
    ];

    /// Every permission of either set.
    pub const fn union(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }

    /// Whether every permission of `other` is in this set.
    pub fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set reads (and may list) but can change nothing.
    pub fn is_read_only(self) -> bool {
        self.contains(Self::READ) && (self.0 & !(Self::READ.0 | Self::LIST.0)) == 0
    }

    /// The `sp` value of a SAS token.
    pub fn sas_letters(self) -> String {
        Self::LETTERS.iter().filter(|(_, p)| self.contains(*p)).map(|(c, _)| *c).collect()
    }
}

impl std::ops::BitOr for Permissions {
    type Output = Permissions;
    fn bitor(self, rhs: Permissions) -> Permissions {
        self.union(rhs)
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sas_letters())
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permissions({})", self.sas_letters())
    }
}

impl FromStr for Permissions {
    type Err = Error;
    /// Letters (`rl`), words (`read,list`) or Media Services' bits (`9`: Read 1 + List 8).
    fn from_str(s: &str) -> Result<Self> {
        if !s.is_empty() && s.trim().chars().all(|c| c.is_ascii_digit()) {
            let bits = s.trim().parse::<i64>().map_err(|_| Self::bad(s))?;
            return Permissions::from_v2_bits(bits).map_err(Error::invalid_input);
        }
        let mut out = Permissions::NONE;
        let words: Vec<&str> = s.split([',', ' ', '|']).filter(|w| !w.is_empty()).collect();
        let is_words = words.len() > 1 || words.first().is_some_and(|w| w.len() > 1 && Self::word(w).is_some());
        if is_words {
            for w in words {
                out = out | Self::word(w).ok_or_else(|| Self::bad(s))?;
            }
        } else {
            for c in s.chars() {
                let p = Self::LETTERS.iter().find(|(l, _)| *l == c.to_ascii_lowercase()).ok_or_else(|| Self::bad(s))?;
                out = out | p.1;
            }
        }
        Ok(out)
    }
}

impl Permissions {
    fn word(w: &str) -> Option<Permissions> {
        Some(match w.to_ascii_lowercase().as_str() {
            "read" => Self::READ,
            "add" => Self::ADD,
            "create" => Self::CREATE,
            "write" => Self::WRITE,
            "delete" => Self::DELETE,
            "list" => Self::LIST,
            _ => return None,
        })
    }

    fn bad(s: &str) -> Error {
        Error::invalid_input(format!(
            "'{s}' is not a permission set: use letters of 'racwdl' or words read,add,create,write,delete,list"
        ))
    }
}

impl From<Permissions> for String {
    fn from(p: Permissions) -> String {
        p.sas_letters()
    }
}

impl TryFrom<String> for Permissions {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl Permissions {
    /// Media Services v2 `Permissions` bits (Read 1, Write 2, Delete 4,
    /// List 8), as its exports and API write them.
    pub fn from_v2_bits(bits: i64) -> Result<Permissions, String> {
        if !(1..=15).contains(&bits) {
            return Err(format!("unknown Permissions {bits}: expected a sum of Read 1, Write 2, Delete 4, List 8"));
        }
        let mut p = Permissions::NONE;
        for (bit, perm) in
            [(1, Permissions::READ), (2, Permissions::WRITE), (4, Permissions::DELETE), (8, Permissions::LIST)]
        {
            if bits & bit != 0 {
                p = p | perm;
            }
        }
        Ok(p)
    }

    /// These permissions as Media Services v2 bits; add and create count as Write.
    pub fn to_v2_bits(self) -> u8 {
        let mut bits = 0;
        if self.contains(Permissions::READ) {
            bits |= 1;
        }
        if self.contains(Permissions::WRITE) || self.contains(Permissions::ADD) || self.contains(Permissions::CREATE) {
            bits |= 2;
        }
        if self.contains(Permissions::DELETE) {
            bits |= 4;
        }
        if self.contains(Permissions::LIST) {
            bits |= 8;
        }
        bits
    }
}
