//! Container ACLs: the `SignedIdentifiers` document of Get/Set Container ACL
//! (stored access policies, which SAS tokens name with `si=`).

use chrono::{DateTime, SecondsFormat, Utc};
use mirrorcast_store::Permissions;
use mirrorcast_store::StoredPolicy;
use mirrorcast_store::{Error, ErrorKind, Result};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct SignedIdentifiers {
    #[serde(rename = "SignedIdentifier", default)]
    items: Vec<SignedIdentifier>,
}

#[derive(Debug, Deserialize)]
struct SignedIdentifier {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "AccessPolicy", default)]
    policy: Option<Policy>,
}

#[derive(Debug, Default, Deserialize)]
struct Policy {
    #[serde(rename = "Start", default)]
    start: Option<String>,
    #[serde(rename = "Expiry", default)]
    expiry: Option<String>,
    #[serde(rename = "Permission", default)]
    permission: Option<String>,
}

/// The permissions in a SAS `sp` or ACL `Permission` value; letters this
/// crate has no use for (tags, move, execute…) are ignored.
pub(crate) fn permissions_from_letters(letters: &str) -> Permissions {
    let known: String = letters.chars().filter(|c| "racwdl".contains(*c)).collect();
    known.parse().unwrap_or(Permissions::NONE)
}

fn time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.filter(|s| !s.trim().is_empty())
        .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
        .map(|t| t.with_timezone(&Utc))
}

pub(crate) fn parse(body: &str) -> Result<Vec<StoredPolicy>> {
    if body.trim().is_empty() {
        return Ok(Vec::new());
    }
    let doc: SignedIdentifiers = quick_xml::de::from_str(body).map_err(|e| {
        Error::new(ErrorKind::Other, format!("the service sent a container ACL that cannot be read: {e}"))
    })?;
    Ok(doc
        .items
        .into_iter()
        .map(|i| {
            let p = i.policy.unwrap_or_default();
            StoredPolicy {
                id: i.id,
                start: time(p.start.as_deref()),
                expiry: time(p.expiry.as_deref()),
                permissions: permissions_from_letters(p.permission.as_deref().unwrap_or("")),
            }
        })
        .collect())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub(crate) fn render(policies: &[StoredPolicy]) -> String {
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers>");
    for p in policies {
        out.push_str(&format!("<SignedIdentifier><Id>{}</Id><AccessPolicy>", escape(&p.id)));
        if let Some(s) = p.start {
            out.push_str(&format!("<Start>{}</Start>", fmt(s)));
        }
        if let Some(e) = p.expiry {
            out.push_str(&format!("<Expiry>{}</Expiry>", fmt(e)));
        }
        out.push_str(&format!(
            "<Permission>{}</Permission></AccessPolicy></SignedIdentifier>",
            p.permissions.sas_letters()
        ));
    }
    out.push_str("</SignedIdentifiers>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_identifiers_round_trip() {
        let t = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let policies = vec![
            StoredPolicy {
                id: "a&b".into(),
                start: Some(t),
                expiry: Some(t),
                permissions: Permissions::READ | Permissions::LIST,
            },
            StoredPolicy { id: "w".into(), start: None, expiry: None, permissions: Permissions::WRITE },
        ];
        assert_eq!(parse(&render(&policies)).unwrap(), policies);
        assert!(parse("").unwrap().is_empty());
        let azure = "<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers><SignedIdentifier><Id>x</Id><AccessPolicy><Start>2030-01-01T00:00:00.0000000Z</Start><Expiry>2030-01-01T00:00:00.0000000Z</Expiry><Permission>rwdlt</Permission></AccessPolicy></SignedIdentifier></SignedIdentifiers>";
        let read = parse(azure).unwrap();
        assert_eq!(
            read[0].permissions,
            Permissions::READ | Permissions::WRITE | Permissions::DELETE | Permissions::LIST
        );
        assert_eq!(read[0].expiry, Some(t));
    }
}
