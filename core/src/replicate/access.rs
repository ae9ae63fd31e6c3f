//! What each side's credential allows, checked against what a run needs
//! before anything is read or written.

use chrono::Utc;

use super::grants::{SOURCE_NEEDS, TARGET_NEEDS};
use super::{Side, SideAccess};
use crate::error::{Error, ErrorKind, Result};
use crate::model::Permissions;
use crate::store::Access;

/// A source SAS without read or list, an expired SAS, or a read-only target
/// is refused; otherwise, what each side's credential allows, for the report.
pub(crate) fn check_access(source: &Side<'_>, target: &Side<'_>, dry_run: bool) -> Result<Vec<SideAccess>> {
    let sides = [
        (source.name, "source", source.catalog.store().access(), SOURCE_NEEDS),
        (target.name, "target", target.catalog.store().access(), TARGET_NEEDS),
    ];
    let mut out = Vec::new();
    for (name, role, access, needed) in sides {
        // The source is only read; so is the target in a dry run.
        let writes = role == "target" && !dry_run;
        check_side(name, role, &access, if writes { needed } else { SOURCE_NEEDS }, writes)?;
        out.push(SideAccess {
            data_center: name.to_owned(),
            role: role.to_owned(),
            credential: access.credential.clone(),
            permissions: access.permissions.map(|p| p.sas_letters()),
            needed: needed.sas_letters(),
            expiry: access.expiry,
            read_only: access.read_only,
        });
    }
    Ok(out)
}

fn check_side(name: &str, role: &str, access: &Access, needed: Permissions, writes: bool) -> Result<()> {
    let credential = if access.credential == "sas" { "SAS" } else { access.credential.as_str() };
    if writes && access.read_only {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "data center '{name}' ({role}) is reached at a read-only secondary endpoint, and replicate writes there: give its primary endpoint"
            ),
        ));
    }
    if let Some(expiry) = access.expiry.filter(|e| *e <= Utc::now()) {
        return Err(Error::new(
            ErrorKind::Authentication,
            format!(
                "data center '{name}' ({role}): its {credential} expired at {}; issue a new one",
                expiry.format("%Y-%m-%d %H:%M:%SZ")
            ),
        ));
    }
    if let Some(granted) = access.permissions {
        if !granted.contains(needed) {
            let missing: Vec<&str> = [
                (Permissions::READ, "read"),
                (Permissions::CREATE, "create"),
                (Permissions::WRITE, "write"),
                (Permissions::DELETE, "delete"),
                (Permissions::LIST, "list"),
            ]
            .into_iter()
            .filter(|(p, _)| needed.contains(*p) && !granted.contains(*p))
            .map(|(_, w)| w)
            .collect();
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "data center '{name}' ({role}): its {credential} grants '{}' but replicate needs '{}' there: missing {}",
                    granted.sas_letters(),
                    needed.sas_letters(),
                    missing.join(" and ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_sas_without_list_or_expired_is_refused_naming_the_data_center() {
        let mut sas = Access::unrestricted("sas");
        sas.permissions = Some(Permissions::READ);
        let e = check_side("a", "source", &sas, SOURCE_NEEDS, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("'a'") && e.to_string().contains("missing list"), "{e}");
        sas.permissions = Some(SOURCE_NEEDS);
        check_side("a", "source", &sas, SOURCE_NEEDS, true).unwrap();
        sas.expiry = Some(Utc::now() - Duration::minutes(1));
        let e = check_side("a", "source", &sas, SOURCE_NEEDS, true).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
        let mut secondary = Access::unrestricted("account key");
        secondary.read_only = true;
        check_side("a", "source", &secondary, SOURCE_NEEDS, false).unwrap();
        let e = check_side("b", "target", &secondary, TARGET_NEEDS, true).unwrap_err();
        assert!(e.to_string().contains("read-only secondary"), "{e}");
    }
}
