//! Records: the asset, its file infos, its locators and its streaming URLs.

use std::collections::BTreeMap;

use mirrorcast_core::catalog::AssetRecord;
use mirrorcast_core::id::PolicyId;
use mirrorcast_core::model::{AccessPolicy, Locator, LocatorType};
use mirrorcast_core::store::{BlobKind, BlobMeta};
use mirrorcast_core::streaming::StreamingUrls;

use crate::report::{Check, Entry, Marker, Side};

/// A's asset record against B's (`None`: B has none): container and options must match.
pub fn asset(a: &AssetRecord, b: Option<&AssetRecord>) -> Vec<Entry> {
    let id = a.asset.id.to_string();
    match b {
        None => vec![Entry::new(Marker::Missing, Check::Asset, Side::B, id, "asset record missing in B")],
        Some(b) if b.asset.container != a.asset.container => vec![Entry::new(
            Marker::Differs,
            Check::Asset,
            Side::B,
            id,
            format!("container '{}' in A, '{}' in B", a.asset.container, b.asset.container),
        )],
        Some(b) if b.asset.options != a.asset.options => {
            vec![Entry::new(
                Marker::Differs,
                Check::Asset,
                Side::B,
                id,
                format!("options {:?} in A, {:?} in B", a.asset.options, b.asset.options),
            )]
        }
        Some(_) => vec![Entry::new(Marker::Same, Check::Asset, Side::Both, id, "same")],
    }
}

/// B's file infos against B's blobs: one per block blob, sizes equal, one primary `.ism`.
pub fn file_infos(b: &AssetRecord, blobs: &[BlobMeta]) -> Vec<Entry> {
    let mut out = Vec::new();
    let infos: BTreeMap<&str, u64> = b.files.iter().map(|f| (f.name.as_str(), f.size)).collect();
    let present: BTreeMap<&str, u64> =
        blobs.iter().filter(|m| m.kind == BlobKind::Block).map(|m| (m.name.as_str(), m.size)).collect();
    for (name, size) in &present {
        match infos.get(name) {
            None => {
                out.push(Entry::new(Marker::Missing, Check::FileInfo, Side::B, *name, "no file info for this blob"))
            }
            Some(s) if s != size => out.push(Entry::new(
                Marker::Differs,
                Check::FileInfo,
                Side::B,
                *name,
                format!("file info says {s} bytes, blob has {size}"),
            )),
            Some(_) => {}
        }
    }
    for name in infos.keys().filter(|n| !present.contains_key(*n)) {
        out.push(Entry::new(Marker::Extra, Check::FileInfo, Side::B, *name, "file info for a blob B does not have"));
    }
    let has_manifest = present.keys().any(|n| mirrorcast_core::primary::is_server_manifest(n));
    let primaries: Vec<&str> = b.files.iter().filter(|f| f.is_primary).map(|f| f.name.as_str()).collect();
    if has_manifest && (primaries.len() != 1 || !mirrorcast_core::primary::is_server_manifest(primaries[0])) {
        out.push(Entry::new(
            Marker::Differs,
            Check::FileInfo,
            Side::B,
            b.asset.id.to_string(),
            format!("expected exactly one primary .ism, found [{}]", primaries.join(", ")),
        ));
    }
    if out.is_empty() {
        out.push(Entry::new(
            Marker::Same,
            Check::FileInfo,
            Side::B,
            b.asset.id.to_string(),
            format!("{} file infos match the blobs", b.files.len()),
        ));
    }
    out
}

/// A's origin locators exist in B alike, on read-only policies; no SAS locator left in B.
pub fn locators(a: &[Locator], b: &[Locator], b_policies: &BTreeMap<PolicyId, AccessPolicy>) -> Vec<Entry> {
    let mut out = Vec::new();
    let in_b: BTreeMap<_, _> = b.iter().map(|l| (l.id, l)).collect();
    for l in a.iter().filter(|l| l.locator_type == LocatorType::OnDemandOrigin) {
        let id = l.id.to_string();
        let Some(m) = in_b.get(&l.id) else {
            out.push(Entry::new(Marker::Missing, Check::Locator, Side::B, id, "origin locator missing in B"));
            continue;
        };
        let mut why = Vec::new();
        if m.locator_type != l.locator_type {
            why.push(format!("type {} in B", m.locator_type));
        }
        if m.start_time != l.start_time {
            why.push("start time differs".to_owned());
        }
        if m.expiration != l.expiration {
            why.push(format!("expiry {} in A, {} in B", l.expiration.to_rfc3339(), m.expiration.to_rfc3339()));
        }
        if m.delivery != l.delivery {
            why.push("delivery terms differ (filters, streaming policy or keys)".to_owned());
        }
        match b_policies.get(&m.policy_id) {
            Some(p) if p.permissions.is_read_only() => {}
            Some(p) => why.push(format!("policy grants '{}', not read-only", p.permissions)),
            None => why.push(format!("policy {} missing in B", m.policy_id)),
        }
        if why.is_empty() {
            out.push(Entry::new(Marker::Same, Check::Locator, Side::Both, id, "same"));
        } else {
            out.push(Entry::new(Marker::Differs, Check::Locator, Side::B, id, why.join("; ")));
        }
    }
    let in_a: BTreeMap<_, _> = a.iter().map(|l| (l.id, l)).collect();
    for l in b {
        if l.locator_type == LocatorType::Sas {
            out.push(Entry::new(
                Marker::Extra,
                Check::Locator,
                Side::B,
                l.id.to_string(),
                "SAS locator left behind in B",
            ));
        } else if !in_a.contains_key(&l.id) {
            out.push(Entry::new(
                Marker::Extra,
                Check::Locator,
                Side::B,
                l.id.to_string(),
                "origin locator in B that A does not have",
            ));
        }
    }
    out
}

/// For each origin locator on both sides, the streaming paths are the same but for the base.
pub fn urls(
    a: &AssetRecord,
    b: &AssetRecord,
    a_locs: &[Locator],
    b_locs: &[Locator],
    a_origin: &str,
    b_origin: &str,
) -> Vec<Entry> {
    let primary = |r: &AssetRecord| r.files.iter().find(|f| f.is_primary).map(|f| f.name.clone());
    let mut out = Vec::new();
    for l in a_locs.iter().filter(|l| l.locator_type == LocatorType::OnDemandOrigin) {
        if !b_locs.iter().any(|m| m.id == l.id) {
            continue; // reported by the locator check
        }
        let (Some(pa), Some(pb)) = (primary(a), primary(b)) else { continue };
        let ua = StreamingUrls::new(a_origin, &l.id, &pa);
        let ub = StreamingUrls::new(b_origin, &l.id, &pb);
        let differs: Vec<&str> = ua
            .all()
            .iter()
            .zip(ub.all())
            .filter(|((_, x), (_, y))| StreamingUrls::relative(x, a_origin) != StreamingUrls::relative(y, b_origin))
            .map(|((f, _), _)| *f)
            .collect();
        if differs.is_empty() {
            out.push(Entry::new(
                Marker::Same,
                Check::Url,
                Side::Both,
                l.id.to_string(),
                "streaming paths identical but for the base",
            ));
        } else {
            out.push(Entry::new(
                Marker::Differs,
                Check::Url,
                Side::B,
                l.id.to_string(),
                format!("{} URLs differ beyond the base (primary '{pa}' in A, '{pb}' in B)", differs.join(", ")),
            ));
        }
    }
    out
}
