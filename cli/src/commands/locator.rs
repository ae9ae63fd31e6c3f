use std::process::ExitCode;

use chrono::{Duration, Utc};
use mirrorcast_core::delivery::Servable;
use mirrorcast_core::id::{AssetId, LocatorId};
use mirrorcast_core::model::{AssetOptions, Locator, LocatorType};
use mirrorcast_core::primary::is_server_manifest;
use mirrorcast_core::streaming::StreamingUrls;
use mirrorcast_core::{Error, ErrorKind};
use serde::Serialize;

use crate::args::locator::{CreateLocator, LocatorTask};
use crate::args::LocatorCommand;
use crate::context::Context;
use crate::output::{self, Format};

#[derive(Debug, Serialize)]
struct LocatorUrls {
    locator: LocatorId,
    expiration: chrono::DateTime<Utc>,
    /// The root `.ism` the streaming URLs name; absent when the asset has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_file: Option<String>,
    /// Smooth, HLS and DASH: only for an asset whose primary file is a server manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    urls: Option<StreamingUrls>,
    /// Without a `.ism` the origin streams nothing: the files' progressive download URLs instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<FileUrl>,
    /// Why there are no streaming URLs (one line, also printed as a note).
    #[serde(skip_serializing_if = "Option::is_none")]
    no_streaming_because: Option<String>,
    /// What an origin serves of it (`stream+download`, `download only`, `stream only`,
    /// `protected: not served`), and why when it serves nothing.
    serves: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_served_because: Option<String>,
}

/// A file of the asset as the origin serves it for progressive download.
#[derive(Debug, Serialize)]
struct FileUrl {
    name: String,
    url: String,
}

/// What an origin serves of locator `l` of an asset with `options`: a label, and why
/// some of its URLs are refused (a protected stream is never served in the clear; a
/// download-only locator's streaming URLs are refused).
fn serves(l: &Locator, options: AssetOptions) -> (&'static str, Option<String>) {
    let servable = l.delivery.servable(options);
    match &servable {
        Servable::Protected(why) => {
            (servable.label(), Some(format!("protected stream ({why}): encryption is not implemented")))
        }
        Servable::DownloadOnly => {
            (servable.label(), Some("download only: its streaming URLs are refused (403)".to_owned()))
        }
        _ => (servable.label(), None),
    }
}

pub(crate) async fn run(ctx: &Context<'_>, command: LocatorCommand) -> anyhow::Result<ExitCode> {
    // Every argument is checked before anything is written.
    match command.resolve(ctx.json)? {
        LocatorTask::Create(task) => create(ctx, task).await?,
        LocatorTask::List { dc, asset, format } => list(ctx, &dc, asset.as_ref(), format).await?,
        LocatorTask::Delete { dc, id } => delete(ctx, &dc, &id).await?,
        LocatorTask::Urls { dc, asset } => urls(ctx, &dc, &asset).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn create(ctx: &Context<'_>, task: CreateLocator) -> anyhow::Result<()> {
    let CreateLocator { dc, asset, locator_type, id, permissions, days, backdate, reveal, filters, protection } = task;
    let dc = ctx.dc(&dc)?;
    let catalog = dc.catalog();
    let start = Utc::now() - backdate;
    let expiration = start + Duration::days(days as i64);
    let record = catalog.get_asset(&asset).await?.value;
    match locator_type {
        LocatorType::OnDemandOrigin => {
            // Each bound name must mean a filter now (the asset's own, or the account's).
            for name in &filters {
                catalog.resolve_filter(&asset, name).await?;
            }
            let (mut delivery, created) = match &protection {
                Some(p) => super::protection::bind_locator(&dc, &catalog, p).await?,
                None => Default::default(),
            };
            delivery.filters = filters;
            let made = catalog.create_origin_locator_with(&asset, id, start, expiration, &dc.origin, delivery).await;
            if made.is_err() {
                super::protection::unbind(&catalog, &created).await;
            }
            let locator = made?;
            dc.note_relative_urls();
            let playable = locator_urls(&record, &dc.origin, &locator);
            if ctx.json {
                // As `locator urls` gives it: streaming URLs, or the files and why there is no stream.
                output::json(&serde_json::json!({ "locator": locator, "urls": playable }))?;
            } else {
                outln!("{}", locator.id);
                print_urls(&playable, "");
                if let Some(why) = &playable.no_streaming_because {
                    errln!("note: {why}");
                }
            }
        }
        LocatorType::Sas => {
            let minutes = (days * 24 * 60) as i64;
            let policy = catalog.policy_for("SAS policy", minutes as u64, permissions).await?;
            let url = dc.store.signed_url(&record.asset.container, None, permissions, expiration).await?;
            let locator = Locator {
                id,
                locator_type,
                asset_id: asset,
                policy_id: policy.id,
                start_time: Some(start),
                expiration,
                path: url.without_query().to_owned(),
                delivery: Default::default(),
            };
            catalog.create_locator(&locator).await?;
            let shown = if reveal { url.expose().to_owned() } else { url.to_string() };
            if ctx.json {
                output::json(&serde_json::json!({ "locator": locator, "url": shown }))?;
            } else {
                outln!("{}\n{shown}", locator.id);
            }
        }
    }
    Ok(())
}

async fn list(ctx: &Context<'_>, dc: &str, asset: Option<&AssetId>, format: Format) -> anyhow::Result<()> {
    let dc = ctx.dc(dc)?;
    let catalog = dc.catalog();
    let locators = catalog.list_locators(asset).await?;
    // The assets' options (a protected asset's locators serve nothing): one asset's record,
    // or every asset from one listing, not a read per locator's asset.
    let options: std::collections::HashMap<AssetId, AssetOptions> = match asset {
        Some(id) => match catalog.get_asset(id).await {
            Ok(record) => [(*id, record.value.asset.options)].into(),
            Err(e) if e.kind() == ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(e.into()),
        },
        None => catalog.list_assets().await?.records.iter().map(|r| (r.asset.id, r.asset.options)).collect(),
    };
    let serves_of = |l: &Locator| serves(l, options.get(&l.asset_id).copied().unwrap_or_default());
    match format {
        Format::Ams => {
            output::json(&mirrorcast_core::ams::v2_feed("Locators", v2_locators(&catalog, &locators).await?))?
        }
        Format::Json => {
            let mut listed = Vec::new();
            for l in &locators {
                let mut value = serde_json::to_value(l)?;
                let (label, why) = serves_of(l);
                value["serves"] = label.into();
                if let Some(why) = why {
                    value["notServedBecause"] = why.into();
                }
                listed.push(value);
            }
            output::json(&listed)?;
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = locators
                .iter()
                .map(|l| {
                    vec![
                        l.id.to_string(),
                        l.locator_type.to_string(),
                        l.asset_id.to_string(),
                        l.start_time.map(output::time).unwrap_or_default(),
                        output::time(l.expiration),
                        serves_of(l).0.to_owned(),
                    ]
                })
                .collect();
            output::table(&["ID", "TYPE", "ASSET", "START", "EXPIRES", "SERVES"], &rows);
        }
    }
    Ok(())
}

async fn delete(ctx: &Context<'_>, dc: &str, id: &LocatorId) -> anyhow::Result<()> {
    let dc = ctx.dc(dc)?;
    revoke_if_grant(&dc, id).await?;
    if !dc.catalog().delete_locator(id).await? {
        return Err(Error::not_found(format!("locator {id} not found in data center '{}'", dc.name)).into());
    }
    if ctx.json {
        output::json(&serde_json::json!({ "deleted": id }))?;
    } else {
        outln!("deleted {id}");
    }
    Ok(())
}

/// `locator urls`: the streaming URLs of each origin locator of the asset.
async fn urls(ctx: &Context<'_>, dc: &str, asset: &AssetId) -> anyhow::Result<()> {
    let dc = ctx.dc(dc)?;
    let catalog = dc.catalog();
    let record = catalog.get_asset(asset).await?.value;
    let mut all = Vec::new();
    if record.files.is_empty() {
        return Err(Error::not_found(format!(
            "asset {asset} has no files: upload them, then run `mirrorcast asset files`"
        ))
        .into());
    }
    for l in catalog.list_locators(Some(asset)).await? {
        if l.locator_type == LocatorType::OnDemandOrigin {
            all.push(locator_urls(&record, &dc.origin, &l));
        }
    }
    if all.is_empty() {
        return Err(Error::not_found(format!(
            "asset {asset} has no origin locator: create one with `mirrorcast locator create --type origin`"
        ))
        .into());
    }
    dc.note_relative_urls();
    if ctx.json {
        output::json(&all)?;
    } else {
        for u in &all {
            outln!("locator {} (expires {}, serves {})", u.locator, output::time(u.expiration), u.serves);
            if let Some(why) = &u.not_served_because {
                outln!("  not servable: {why}");
            }
            if let Some(why) = &u.no_streaming_because {
                outln!("  no streaming: {why}");
            }
            print_urls(u, "  ");
        }
    }
    Ok(())
}

/// Each URL of `u` as `<format> <url>` lines: the streaming formats, or the files for download.
fn print_urls(u: &LocatorUrls, indent: &str) {
    for (format, url) in u.urls.iter().flat_map(StreamingUrls::all) {
        outln!("{indent}{format:<10} {url}");
    }
    for file in &u.files {
        outln!("{indent}{:<10} {}", "file", file.url);
    }
}

/// What locator `l` of `record` plays from `origin`: the streaming URLs of its primary `.ism`, or,
/// for an asset without one (a lone MP4, plain files), each file's progressive download URL and why
/// there is no stream — never a manifest URL the origin would answer with a 404.
fn locator_urls(record: &mirrorcast_core::catalog::AssetRecord, origin: &str, l: &Locator) -> LocatorUrls {
    let (serves, not_served_because) = serves(l, record.asset.options);
    let primary = record.files.iter().find(|f| f.is_primary).map(|f| f.name.as_str());
    let manifest = primary.filter(|name| is_server_manifest(name));
    let no_streaming_because = match (manifest, primary) {
        (Some(_), _) => None,
        (None, Some(other)) => Some(format!(
            "asset {} streams from a .ism and its primary file is {other}: its files play by download",
            record.asset.id
        )),
        (None, None) => Some(format!(
            "asset {} has no .ism (server manifest) to stream from: its files play by download",
            record.asset.id
        )),
    };
    let files = match manifest {
        Some(_) => Vec::new(),
        None => record
            .files
            .iter()
            .map(|f| FileUrl { name: f.name.clone(), url: StreamingUrls::file(origin, &l.id, &f.name) })
            .collect(),
    };
    LocatorUrls {
        locator: l.id,
        expiration: l.expiration,
        primary_file: manifest.map(str::to_owned),
        urls: manifest.map(|name| StreamingUrls::new(origin, &l.id, name)),
        files,
        no_streaming_because,
        serves,
        not_served_because,
    }
}

/// Locators in Media Services' v2 shape, each with its access policy expanded
/// (read once per policy).
pub(crate) async fn v2_locators(
    catalog: &mirrorcast_core::catalog::Catalog,
    locators: &[Locator],
) -> mirrorcast_core::Result<Vec<serde_json::Value>> {
    let mut policies = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for l in locators {
        if let std::collections::btree_map::Entry::Vacant(slot) = policies.entry(l.policy_id) {
            slot.insert(match catalog.get_policy(&l.policy_id).await {
                Ok(p) => Some(p),
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            });
        }
        out.push(mirrorcast_core::ams::v2_locator_json(l, policies.get(&l.policy_id).and_then(Option::as_ref)));
    }
    Ok(out)
}

/// Deleting a copy grant record revokes it: the stored policy its tokens are
/// bound to goes first. One on the source side is dropped by the next
/// replicate that binds a grant there (its record is gone), or expires.
async fn revoke_if_grant(dc: &crate::datacenter::DataCenter, id: &LocatorId) -> anyhow::Result<()> {
    use mirrorcast_core::replicate::{grant_record_target, policy_id_for, remove_stored_policy};
    let Ok(locator) = dc.catalog().get_locator(id).await else { return Ok(()) };
    match grant_record_target(&locator) {
        Some(("target", containers)) if dc.store.capability().stored_access_policies => {
            for container in containers {
                remove_stored_policy(dc.store.as_ref(), container, &policy_id_for(id)).await?;
            }
        }
        Some(("source", containers)) => errln!(
            "note: copy grant {id} was for source container(s) '{}': its tokens expire at {}; the next replicate of those assets drops its stored policy there",
            containers.join(", "),
            output::time(locator.expiration)
        ),
        _ => {}
    }
    Ok(())
}
