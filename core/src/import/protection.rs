//! The protection records of an export written into a catalog, one record at
//! a time (each is one blob, written whole or not at all): content key
//! policies, then streaming policies, then keys, each sealed under the data
//! center's KEK. A record that exists with the same terms is `exists`; with
//! other terms it is left as it is. A key the export does not hold is
//! reported as `missing`, with what re-keying means. No line quotes a secret.

use chrono::Utc;

use super::{ImportAction, ImportLine, Note, RecordId};
use crate::ams::protection::{ImportKey, ImportPolicy, ImportStreaming, KeyHeld, ProtectionExport};
use crate::ams::RecordKind;
use crate::catalog::Catalog;
use crate::error::{ErrorKind, Result};
use crate::protection::kek::{LocalKek, KEK_LEN};
use crate::protection::streaming_policy::{find_predefined, is_reserved};
use crate::protection::{ContentKey, ContentKeyPolicy, KeyEncryptionKey, KeyedHash};

/// What re-keying means, for every key the export does not hold.
pub const REKEY: &str = "re-key with `mirrorcast content-key create` and a new locator: licences already issued for this key id do not decrypt content under the new key (players fetch new ones; persistent/offline licences stop working), and a DRM service that holds the old key needs the new one (`content-key export --cpix`)";

/// Imports `export`'s protection records into `catalog`, sealing under `kek`
/// (`None`: records holding secrets are refused, the others imported); with
/// `dry_run` nothing is written.
pub async fn import_protection<'a>(
    catalog: &Catalog,
    kek: Option<&dyn KeyEncryptionKey>,
    export: &'a ProtectionExport,
    dry_run: bool,
) -> Result<Vec<ImportLine<'a>>> {
    let mut lines = Vec::new();
    for p in &export.policies {
        lines.push(policy(catalog, kek, p, dry_run).await?);
    }
    for s in &export.streaming {
        lines.push(streaming(catalog, s, dry_run).await?);
    }
    for k in &export.keys {
        lines.push(key(catalog, kek, k, dry_run).await?);
    }
    Ok(lines)
}

fn line<'a>(
    kind: RecordKind,
    id: &'a str,
    source: &'a str,
    action: ImportAction,
    message: Option<String>,
) -> ImportLine<'a> {
    ImportLine { kind, id: Some(RecordId::Text(id)), action, source, message: message.map(Note::Text) }
}

/// `message` and the notes of what was not kept, as one note.
fn with_notes(message: Option<String>, notes: &[String]) -> Option<String> {
    let kept = (!notes.is_empty()).then(|| format!("not kept: {}", notes.join("; ")));
    match (message, kept) {
        (Some(m), Some(k)) => Some(format!("{m}; {k}")),
        (m, k) => m.or(k),
    }
}

/// The write's outcome as an action, or the error that stops the import (storage, not the record).
fn written(result: Result<()>) -> Result<(ImportAction, Option<String>)> {
    match result {
        Ok(()) => Ok((ImportAction::Created, None)),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            Ok((ImportAction::Conflict, Some("written by someone else meanwhile; left as it is".into())))
        }
        Err(e) if matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::Corrupt) => {
            Ok((ImportAction::Invalid, Some(e.message().to_owned())))
        }
        Err(e) => Err(e),
    }
}

async fn policy<'a>(
    catalog: &Catalog,
    kek: Option<&dyn KeyEncryptionKey>,
    p: &'a ImportPolicy,
    dry_run: bool,
) -> Result<ImportLine<'a>> {
    let done = |action, message: Option<String>| {
        line(RecordKind::ContentKeyPolicy, &p.name, &p.source, action, with_notes(message, &p.notes))
    };
    let sealed = match p.seal(kek, Utc::now()).await {
        Ok(s) => s,
        Err(e) => return Ok(done(ImportAction::Invalid, Some(e.message().to_owned()))),
    };
    match catalog.get_content_key_policy(&p.name).await {
        Ok(held) => Ok(match same_policy(&held.value, &sealed, kek).await {
            Ok(true) => done(ImportAction::Exists, None),
            Ok(false) => done(ImportAction::Conflict, Some("exists with other terms; left as it is".into())),
            Err(why) => done(ImportAction::Conflict, Some(why)),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if dry_run {
                return Ok(done(ImportAction::Create, None));
            }
            let (action, message) = written(catalog.create_content_key_policy(&sealed).await)?;
            Ok(done(action, message))
        }
        Err(e) if e.kind() == ErrorKind::Corrupt || e.kind() == ErrorKind::InvalidInput => {
            Ok(done(ImportAction::Conflict, Some(format!("exists, but {}; left as it is", e.message()))))
        }
        Err(e) => Err(e),
    }
}

/// Whether two policies state the same terms: HS256 keys compared by a keyed hash, never shown.
async fn same_policy(
    held: &ContentKeyPolicy,
    new: &ContentKeyPolicy,
    kek: Option<&dyn KeyEncryptionKey>,
) -> std::result::Result<bool, String> {
    // Without secrets on either side no key is opened: any KEK serves to compare.
    let unused = LocalKek::from_bytes([0; KEK_LEN]);
    let kek: &dyn KeyEncryptionKey = match kek {
        Some(k) => k,
        None if !held.has_secrets() && !new.has_secrets() => &unused,
        None => return Err("exists; its token keys cannot be compared without the data center's KEK".into()),
    };
    let hash = KeyedHash::random();
    let (a, b) = (held.comparable(kek, &hash).await, new.comparable(kek, &hash).await);
    match (a, b) {
        (Ok(a), Ok(b)) => Ok(a == b),
        (Err(e), _) | (_, Err(e)) => Err(format!("exists; comparing it failed: {}", e.message())),
    }
}

async fn streaming<'a>(catalog: &Catalog, s: &'a ImportStreaming, dry_run: bool) -> Result<ImportLine<'a>> {
    let p = &s.policy;
    let done = |action, message: Option<String>| {
        line(RecordKind::StreamingPolicy, &p.name, &s.source, action, with_notes(message, &s.notes))
    };
    if is_reserved(&p.name) {
        let message = match find_predefined(&p.name) {
            Some(_) => "Media Services' predefined policy: mirrorcast has it built in".to_owned(),
            None => "in the Predefined_ namespace Media Services reserved, but not one mirrorcast knows: recreate it under another name with `streaming-policy create`".to_owned(),
        };
        let action = if find_predefined(&p.name).is_some() { ImportAction::Skipped } else { ImportAction::Invalid };
        return Ok(line(RecordKind::StreamingPolicy, &p.name, &s.source, action, Some(message)));
    }
    match catalog.get_custom_streaming_policy(&p.name).await {
        Ok(held) => Ok(
            if held.value.name.eq_ignore_ascii_case(&p.name)
                && StreamingPolicyTerms::of(&held.value) == StreamingPolicyTerms::of(p)
            {
                done(ImportAction::Exists, None)
            } else {
                done(ImportAction::Conflict, Some("exists with other terms; left as it is".into()))
            },
        ),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if dry_run {
                return Ok(done(ImportAction::Create, None));
            }
            let (action, message) = written(catalog.create_streaming_policy(p).await)?;
            Ok(done(action, message))
        }
        Err(e) if e.kind() == ErrorKind::Corrupt || e.kind() == ErrorKind::InvalidInput => {
            Ok(done(ImportAction::Conflict, Some(format!("exists, but {}; left as it is", e.message()))))
        }
        Err(e) => Err(e),
    }
}

/// A streaming policy's terms, its name's case aside.
#[derive(PartialEq)]
struct StreamingPolicyTerms(serde_json::Value);

impl StreamingPolicyTerms {
    fn of(p: &crate::protection::StreamingPolicy) -> Self {
        let mut v = serde_json::to_value(p).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("name");
        }
        StreamingPolicyTerms(v)
    }
}

/// What giving a v2 key anew under its own id means: its locators (bound to the id) are then served.
fn same_id_rekey(k: &ImportKey) -> String {
    use crate::protection::ContentKeyType;
    let id = &k.id_text;
    let type_name = k.key_type.name();
    let effect = match k.key_type {
        ContentKeyType::Envelope => "players fetch it from mirrorcast's key delivery (/keys/aes128/<kid>), so they just work",
        _ => "licences the old DRM service issued for this key id stop matching the content: players need licences carrying the new key (give it to the DRM service: `content-key export --cpix`)",
    };
    format!(
        "Its locators are imported bound to this key id and refused until it is here: give the key (`mirrorcast content-key import` of JSON listing it with its value, as `list-content-keys` prints) or a new one under the same id (`mirrorcast content-key create --type {type_name} --id {id}`): with a new key {effect}"
    )
}

async fn key<'a>(
    catalog: &Catalog,
    kek: Option<&dyn KeyEncryptionKey>,
    k: &'a ImportKey,
    dry_run: bool,
) -> Result<ImportLine<'a>> {
    let done = |action, message: Option<String>| line(RecordKind::ContentKey, &k.id_text, &k.source, action, message);
    let value = match &k.held {
        KeyHeld::Clear(v) => v,
        KeyHeld::Absent => {
            let why = format!(
                "the export holds this key's id but not its value (add `az ams streaming-locator list-content-keys` output for its locator, or {REKEY})"
            );
            return Ok(done(ImportAction::Missing, Some(why)));
        }
        KeyHeld::Encrypted { protection_key_id } => {
            let why = format!(
                "v2 holds this key encrypted with Media Services' protection key{} (a certificate whose private key no export holds): not importable; `az ams streaming-locator list-content-keys` prints the same key id in the clear — import that, or {REKEY}",
                if protection_key_id.is_empty() { String::new() } else { format!(" {protection_key_id}") }
            );
            let why = format!("{why}. {}", same_id_rekey(k));
            return Ok(done(ImportAction::Missing, Some(why)));
        }
    };
    let Some(kek) = kek else {
        return Ok(done(
            ImportAction::Invalid,
            Some("a content key is stored only wrapped: give the data center's KEK (MIRRORCAST_KEK_<NAME>, or kek_env / kek_file in [dc.<name>])".into()),
        ));
    };
    match catalog.get_content_key(&k.id).await {
        Ok(held) => Ok(match held.open(kek).await {
            Ok(v) if &v == value && held.key_type == k.key_type => done(ImportAction::Exists, None),
            Ok(_) => done(ImportAction::Conflict, Some("held here with another key or type; left as it is".into())),
            Err(e) => done(ImportAction::Conflict, Some(format!("held here, but {}; left as it is", e.message()))),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let record = match ContentKey::seal(k.id, k.key_type, k.policy_name.clone(), value, kek).await {
                Ok(r) => r,
                Err(e) => return Ok(done(ImportAction::Invalid, Some(e.message().to_owned()))),
            };
            if dry_run {
                return Ok(done(ImportAction::Create, None));
            }
            let (action, message) = written(catalog.create_content_key(&record).await)?;
            Ok(done(action, message))
        }
        Err(e) if e.kind() == ErrorKind::Corrupt || e.kind() == ErrorKind::InvalidInput => {
            Ok(done(ImportAction::Conflict, Some(format!("exists, but {}; left as it is", e.message()))))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::Value;

    use super::*;
    use crate::ams::read_export;
    use crate::store::InMemoryStore;

    fn export() -> crate::ams::Export {
        let files = [
            "content-key-policies.json",
            "content-key-policy-TokenedClearKey.secrets.json",
            "content-key-policy-LegacySwt.secrets.json",
            "streaming-policies.json",
            "streaming-locators.json",
            "locator-aes-content-keys.json",
        ];
        let docs: Vec<(String, Value)> = files
            .iter()
            .map(|f| {
                let path = format!("{}/../tests/data/ams/v3-protected/{f}", env!("CARGO_MANIFEST_DIR"));
                (f.to_string(), serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
            })
            .collect();
        read_export(&docs).unwrap()
    }

    fn actions(lines: &[ImportLine<'_>]) -> Vec<(String, ImportAction)> {
        lines.iter().map(|l| (l.id.as_ref().unwrap().to_string(), l.action)).collect()
    }

    #[tokio::test]
    async fn each_record_is_written_once_sealed_and_found_again_and_without_a_kek_only_secrets_are_refused() {
        let export = export();
        let kek = LocalKek::from_bytes([7; KEK_LEN]);
        let catalog = Catalog::new(Arc::new(InMemoryStore::new()));
        let plan = import_protection(&catalog, Some(&kek), &export.protection, true).await.unwrap();
        assert!(catalog.list_content_keys().await.unwrap().records.is_empty(), "a dry run writes nothing");
        let done = import_protection(&catalog, Some(&kek), &export.protection, false).await.unwrap();
        use ImportAction::*;
        let want = [
            ("TokenedClearKey", Created),
            ("MultiDrm", Created),
            ("LegacySwt", Created),
            ("Predefined_ClearKey", Skipped),
            ("CencClearKey", Created),
            ("c0ffee00-1111-4222-8333-444455556666", Created),
            ("d0ffee00-1111-4222-8333-444455556666", Created),
            ("e0ffee00-1111-4222-8333-444455556666", Missing),
        ];
        let want: Vec<(String, ImportAction)> = want.iter().map(|(n, a)| (n.to_string(), *a)).collect();
        assert_eq!(actions(&done), want);
        let planned: Vec<ImportAction> = plan.iter().map(|l| l.action).collect();
        assert_eq!(planned, want.iter().map(|(_, a)| if *a == Created { Create } else { *a }).collect::<Vec<_>>());
        let missing = done[7].message.as_ref().unwrap().to_string();
        assert!(missing.contains("content-key create") && missing.contains("licences already issued"), "{missing}");
        let key = catalog.get_content_key(&"c0ffee00-1111-4222-8333-444455556666".parse().unwrap()).await.unwrap();
        assert_eq!(key.open(&kek).await.unwrap().reveal_base64().as_str(), "m4677o6p7d7LZCinBJ7Vbw==");

        let again = import_protection(&catalog, Some(&kek), &export.protection, false).await.unwrap();
        let exists: Vec<ImportAction> = again.iter().map(|l| l.action).collect();
        assert_eq!(exists, [Exists, Exists, Exists, Skipped, Exists, Exists, Exists, Missing]);

        let bare = Catalog::new(Arc::new(InMemoryStore::new()));
        let no_kek = import_protection(&bare, None, &export.protection, false).await.unwrap();
        let got: Vec<ImportAction> = no_kek.iter().map(|l| l.action).collect();
        assert_eq!(got, [Invalid, Created, Invalid, Skipped, Created, Invalid, Invalid, Missing]);
        assert!(no_kek[0].message.as_ref().unwrap().to_string().contains("KEK"));
        let text = format!("{:?}", no_kek);
        assert!(!text.contains("m4677o6p7d7LZCinBJ7Vbw") && !text.contains("4pjy6urTE+VWrmLIEWS1"));
    }

    #[tokio::test]
    async fn a_v2_envelope_key_is_missing_and_its_line_says_how_to_give_it_under_its_id_and_what_that_means() {
        let files = [
            "Assets.json",
            "AccessPolicies.json",
            "Locators.json",
            "ContentKeys.json",
            "ContentKeyAuthorizationPolicies.json",
            "AssetDeliveryPolicies.json",
        ];
        let docs: Vec<(String, Value)> = files
            .iter()
            .map(|f| {
                let path = format!("{}/../tests/data/ams/v2-envelope/{f}", env!("CARGO_MANIFEST_DIR"));
                (f.to_string(), serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
            })
            .collect();
        let export = read_export(&docs).unwrap();
        let catalog = Catalog::new(Arc::new(InMemoryStore::new()));
        let lines = import_protection(&catalog, None, &export.protection, false).await.unwrap();
        use ImportAction::*;
        let want =
            [("open-envelope", Created), ("envelope-hls", Created), ("e4f5a6b7-c8d9-4e0f-9a1b-2c3d4e5f6a7b", Missing)];
        let want: Vec<(String, ImportAction)> = want.iter().map(|(n, a)| (n.to_string(), *a)).collect();
        assert_eq!(actions(&lines), want);
        let missing = lines[2].message.as_ref().unwrap().to_string();
        assert!(
            missing.contains("content-key create --type envelope --id e4f5a6b7-c8d9-4e0f-9a1b-2c3d4e5f6a7b"),
            "{missing}"
        );
        assert!(missing.contains("just work"), "{missing}");
        assert!(!missing.contains("c2VjcmV0"), "the encrypted key is never quoted");
    }
}
