//! `streaming-policy list|show|create|delete`: Media Services' predefined
//! policies by name, and custom ones as records.

use std::process::ExitCode;

use mirrorcast_core::protection::streaming_policy::{DrmSignal, ProtocolScheme, Scheme};
use mirrorcast_core::protection::StreamingPolicy;
use mirrorcast_core::Error;

use crate::args::protection::StreamingPolicyCommand;
use crate::context::Context;
use crate::output;

fn row(p: &StreamingPolicy) -> Vec<String> {
    let protocols: Vec<String> =
        p.protocols.iter().map(|s| format!("{}={}", kebab(&s.protocol), kebab(&s.scheme))).collect();
    let drm: Vec<String> = p.drm.iter().map(|d| format!("{}:{}", kebab(&d.scheme), kebab(&d.system))).collect();
    vec![
        p.name.clone(),
        protocols.join(" "),
        if drm.is_empty() { "-".into() } else { drm.join(" ") },
        p.default_content_key_policy_name.clone().unwrap_or_else(|| "-".into()),
    ]
}

/// A value's serde name (`smooth-streaming`, `play-ready`).
fn kebab<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

const HEADERS: [&str; 4] = ["NAME", "PROTOCOLS", "DRM", "CONTENT KEY POLICY"];

pub(crate) async fn run(ctx: &Context<'_>, command: StreamingPolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        StreamingPolicyCommand::List { dc } => {
            let listed = ctx.dc(&dc.dc)?.catalog().list_streaming_policies().await?;
            return super::print_listed(ctx, &listed.problems, &listed.records, &HEADERS, row);
        }
        StreamingPolicyCommand::Show { dc, name } => {
            let policy = ctx.dc(&dc.dc)?.catalog().get_streaming_policy(&name).await?;
            if ctx.json {
                output::json(&policy)?;
            } else {
                output::table(&HEADERS, &[row(&policy)]);
                for d in policy.drm.iter().filter(|d| d.license_url_template.is_some()) {
                    outln!("licence URL ({}): {}", kebab(&d.system), d.license_url_template.as_deref().unwrap_or(""));
                }
                if let Some(t) = &policy.envelope_key_url_template {
                    outln!("envelope key URL: {t}");
                }
            }
        }
        StreamingPolicyCommand::Create { dc, name, protocol, drm, envelope_key_url, default_content_key_policy } => {
            let protocols = protocol
                .iter()
                .map(|p| {
                    let (protocol, scheme) = p.split_once('=').ok_or_else(|| {
                        Error::invalid_input(format!("--protocol '{p}': give PROTOCOL=SCHEME, e.g. dash=cenc"))
                    })?;
                    Ok(ProtocolScheme { protocol: protocol.parse()?, scheme: scheme.parse()? })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            let drm = drm
                .iter()
                .map(|d| {
                    let (head, url) = match d.split_once('=') {
                        Some((h, u)) => (h, Some(u.to_owned())),
                        None => (d.as_str(), None),
                    };
                    let (scheme, system) = head.split_once(':').ok_or_else(|| {
                        Error::invalid_input(format!("--drm '{d}': give SCHEME:SYSTEM[=URL], e.g. cenc:clear-key"))
                    })?;
                    let scheme: Scheme = scheme.parse()?;
                    Ok(DrmSignal { scheme, system: system.parse()?, license_url_template: url })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            let policy = StreamingPolicy {
                name,
                default_content_key_policy_name: default_content_key_policy,
                protocols,
                drm,
                envelope_key_url_template: envelope_key_url,
            };
            let dc = ctx.dc(&dc.dc)?;
            let catalog = dc.catalog();
            if let Some(p) = &policy.default_content_key_policy_name {
                catalog.get_content_key_policy(p).await?;
            }
            catalog.create_streaming_policy(&policy).await?;
            if ctx.json {
                output::json(&policy)?;
            } else {
                outln!("{}", policy.name);
            }
        }
        StreamingPolicyCommand::Delete { dc, name } => {
            ctx.dc(&dc.dc)?.catalog().delete_streaming_policy(&name).await?;
            if ctx.json {
                output::json(&serde_json::json!({ "deleted": name }))?;
            } else {
                outln!("deleted streaming policy {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
