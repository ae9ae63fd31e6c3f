//! The primary file of an asset: its one server manifest (`.ism`) at the container root.

use crate::error::{Error, Result};

/// Whether `name` is a server manifest at the container root (`*.ism`, any case).
pub fn is_server_manifest(name: &str) -> bool {
    !name.contains('/') && name.to_ascii_lowercase().ends_with(".ism")
}

/// The primary file among `names`: exactly one `.ism` at the root, or an
/// error naming what was found.
pub fn select_primary<'a, I>(names: I) -> Result<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let candidates: Vec<&str> = names.into_iter().filter(|n| is_server_manifest(n)).collect();
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::invalid_input("no primary file: the asset has no .ism server manifest at its container root")),
        many => Err(Error::invalid_input(format!(
            "ambiguous primary file: the asset has {} .ism server manifests at its root ({}); keep exactly one",
            many.len(),
            many.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_root_ism_is_primary() {
        let names = ["a_1280x720_3000.mp4", "Big Buck.ism", "Big Buck.ismc", "sub/x.ism"];
        assert_eq!(select_primary(names).unwrap(), "Big Buck.ism");
    }

    #[test]
    fn none_or_several_is_an_error_naming_them() {
        let err = select_primary(["a.mp4"]).unwrap_err();
        assert!(err.to_string().contains("no .ism"), "{err}");
        let err = select_primary(["a.ism", "b.ISM"]).unwrap_err();
        assert!(err.to_string().contains("a.ism, b.ISM"), "{err}");
    }
}
