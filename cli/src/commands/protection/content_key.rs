//! `content-key create|list|show|delete|export`. A key is made from the OS
//! RNG, wrapped under the data center's KEK at once, and shown only by
//! `export --reveal`.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use mirrorcast_core::protection::keys::parse_key_id;
use mirrorcast_core::protection::{ContentKey, ContentKeyType, ContentKeyValue};
use mirrorcast_core::Error;
use serde::Serialize;

use crate::args::protection::ContentKeyCommand;
use crate::context::Context;
use crate::output;

/// A key record as shown: what it is, never the key (wrapped or not).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyView {
    id: uuid::Uuid,
    #[serde(rename = "type")]
    key_type: ContentKeyType,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_name: Option<String>,
    created: DateTime<Utc>,
    /// The fingerprint of the KEK it is wrapped under (not secret).
    kek: String,
}

impl From<&ContentKey> for KeyView {
    fn from(k: &ContentKey) -> Self {
        KeyView {
            id: k.id,
            key_type: k.key_type,
            policy_name: k.policy_name.clone(),
            created: k.created,
            kek: k.wrapped.kek.clone(),
        }
    }
}

fn row(k: &KeyView) -> Vec<String> {
    vec![
        k.id.to_string(),
        k.key_type.name().to_owned(),
        k.policy_name.clone().unwrap_or_else(|| "-".into()),
        k.created.format("%Y-%m-%d %H:%M:%S").to_string(),
        k.kek.clone(),
    ]
}

const HEADERS: [&str; 5] = ["KEY ID", "TYPE", "POLICY", "CREATED", "KEK"];

pub(crate) async fn run(ctx: &Context<'_>, command: ContentKeyCommand) -> anyhow::Result<ExitCode> {
    match command {
        ContentKeyCommand::Create { dc, key_type, id, policy } => {
            let key_type: ContentKeyType = key_type.parse()?;
            let id = id.as_deref().map(parse_key_id).transpose()?.unwrap_or_else(uuid::Uuid::new_v4);
            let dc = ctx.dc(&dc.dc)?;
            let kek = dc.kek.require("creating a content key").await?;
            let catalog = dc.catalog();
            if let Some(p) = &policy {
                catalog.get_content_key_policy(p).await?;
            }
            let key = ContentKey::seal(id, key_type, policy, &ContentKeyValue::generate(), kek.as_ref()).await?;
            catalog.create_content_key(&key).await?;
            if ctx.json {
                output::json(&KeyView::from(&key))?;
            } else {
                outln!("{}", key.id);
            }
        }
        ContentKeyCommand::List { dc } => {
            let listed = ctx.dc(&dc.dc)?.catalog().list_content_keys().await?;
            let views: Vec<KeyView> = listed.records.iter().map(KeyView::from).collect();
            return super::print_listed(ctx, &listed.problems, &views, &HEADERS, row);
        }
        ContentKeyCommand::Show { dc, id } => {
            let id = parse_key_id(&id)?;
            let key = ctx.dc(&dc.dc)?.catalog().get_content_key(&id).await?;
            let view = KeyView::from(&key);
            if ctx.json {
                output::json(&view)?;
            } else {
                output::table(&HEADERS, &[row(&view)]);
            }
        }
        ContentKeyCommand::Delete { dc, id } => {
            let id = parse_key_id(&id)?;
            ctx.dc(&dc.dc)?.catalog().delete_content_key(&id).await?;
            if ctx.json {
                output::json(&serde_json::json!({ "deleted": id }))?;
            } else {
                outln!("deleted content key {id}");
            }
        }
        ContentKeyCommand::Import { dc, path } => return super::import_keys::run(ctx, &dc.dc, &path).await,
        ContentKeyCommand::Export { dc, id, reveal } => {
            let id = parse_key_id(&id)?;
            if !reveal {
                return Err(Error::invalid_input(format!(
                    "content-key export prints content key {id} in the clear: add --reveal if that is what you mean"
                ))
                .into());
            }
            let dc = ctx.dc(&dc.dc)?;
            let kek = dc.kek.require("exporting a content key").await?;
            let key = dc.catalog().get_content_key(&id).await?;
            let value = key.open(kek.as_ref()).await?;
            errln!(
                "mirrorcast: warning: content key {id} is printed in the clear: anyone who sees it can decrypt what it protects; keep it out of logs, tickets and shell history"
            );
            let (hex, b64) = (value.reveal_hex(), value.reveal_base64());
            if ctx.json {
                output::json(&serde_json::json!({
                    "id": id, "type": key.key_type, "keyHex": hex.as_str(), "keyBase64": b64.as_str()
                }))?;
            } else {
                outln!("{id} {} {} {}", key.key_type.name(), hex.as_str(), b64.as_str());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
