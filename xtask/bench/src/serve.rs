//! `--only serve`: the origin under load against nginx serving the same
//! segment bytes as static files, same machine, same run (issue 12).
//!
//! A two-hour asset (two H.264 renditions and AAC, 2 s GOPs: a 10 s ffmpeg
//! clip concatenated 720 times with `-c copy`, so the `moov` has the sample
//! tables of two hours) is published in a `file://` data center and in an
//! Azurite one, each served by `mirrorcast serve` (release build). Every
//! segment of the top rendition is fetched once from the origin and written
//! under nginx's root at the same path, so both serve identical bytes at
//! identical paths. The load generator is wrk (`apt-get install -y wrk`, or
//! $WRK; `--serve-load in-process` uses this process's reqwest client instead):
//! `--serve-connections` keep-alive connections requesting segments in turn for
//! `--serve-seconds`; requests per second, MB/s and p50/p99 latency.
//! Manifests (HLS master, media playlist, DASH MPD) get the same treatment on
//! the origins, after one cold request each (the index built from the moovs).
//! Segments are measured from origins with the hot-segment cache (warm: every segment
//! fetched once before) and without it (`--cache-size 0`), and through `mirrorcast front` in
//! proxy mode before the cached file:// origin (its cost against the origin direct), beside nginx as a
//! reverse proxy before the same origin (the peer that says what a proxy costs on this machine;
//! `$MIRRORCAST_FRONT_BASE` adds a front from another build, `--serve-front-only` skips the other rows;
//! `--serve-manifests-only` runs the manifest rows alone, beside `$MIRRORCAST_SERVE_BASE`'s origins). The
//! memory row is the peak RSS of `serve --cache-size 32MiB` after a load run over the whole
//! top rendition (far larger than its cache), beside one without a cache and the warm default.
//! Needs ffmpeg and nginx (`apt-get install -y ffmpeg nginx`, or $NGINX);
//! says what is missing and stops. Not part of CI.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use mirrorcast_azurite::{Account, Azurite, Persistence};
use mirrorcast_media::ism::{IsmTrack, ServerManifest, TrackKind};
use serde_json::json;

use crate::{flag, which, Tools};

/// Seconds of the clip that is repeated, and how many times (720 × 10 s = 2 h).
const CLIP_SECONDS: u32 = 10;
const REPEATS: u32 = 720;
/// (width, height, kbps) of the video renditions; audio rides in the first.
const RENDITIONS: [(u32, u32, u32); 2] = [(192, 108, 300), (96, 54, 120)];

pub(crate) async fn run(tools: &Tools, args: &[String], runs: usize) -> Result<serde_json::Value> {
    let seconds: u64 = flag(args, "--serve-seconds").map(|v| v.parse()).transpose()?.unwrap_or(10);
    let connections: usize = flag(args, "--serve-connections").map(|v| v.parse()).transpose()?.unwrap_or(32);
    let nginx = std::env::var_os("NGINX").map(PathBuf::from).or_else(|| which("nginx")).or_else(|| {
        let sbin = PathBuf::from("/usr/sbin/nginx");
        sbin.exists().then_some(sbin)
    });
    let Some(nginx) = nginx else {
        bail!("bench serve: nginx not found (apt-get install -y nginx, or set NGINX=/path/to/nginx): nothing measured")
    };
    // The load generator: wrk (C, a few percent of a core) unless `--serve-load in-process` asks for
    // this process's reqwest client, which took a large share of the two cores from the servers it measured.
    let wrk = match flag(args, "--serve-load").as_deref() {
        Some("in-process") => None,
        Some("wrk") | None => match std::env::var_os("WRK").map(PathBuf::from).or_else(|| which("wrk")) {
            Some(w) => Some(w),
            None => bail!(
                "bench serve: wrk not found (apt-get install -y wrk, or set WRK=/path/to/wrk; \
                 --serve-load in-process uses this process instead): nothing measured"
            ),
        },
        Some(other) => bail!("bench serve: --serve-load is wrk or in-process, not '{other}'"),
    };
    let ffmpeg = std::env::var_os("MIRRORCAST_FFMPEG").map(PathBuf::from).or_else(|| which("ffmpeg"));
    let Some(ffmpeg) = ffmpeg else {
        bail!("bench serve: ffmpeg not found (apt-get install -y ffmpeg): the two-hour asset cannot be made")
    };

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-serve");
    let asset_dir = root.join("asset");
    long_asset(&ffmpeg, &asset_dir)?;
    let work = tempfile::tempdir_in(&root).context("a temp folder under target/bench-serve")?;

    // The data centers: a local directory, and an Azurite account.
    let file_dc = format!("file://{}", work.path().join("dc-file").display());
    let azurite =
        Azurite::builder().account(Account::generate("dcs")).persistence(Persistence::InMemory).start().await?;
    let env =
        vec![("MIRRORCAST_DC_F".to_owned(), file_dc), ("MIRRORCAST_DC_Z".to_owned(), azurite.connection_string("dcs"))];
    eprintln!("bench serve: publishing the two-hour asset in file:// and Azurite…");
    let locator_f = publish(tools, &env, "f", &asset_dir, work.path())?;
    let locator_z = publish(tools, &env, "z", &asset_dir, work.path())?;
    if args.iter().any(|a| a == "--serve-manifests-only") {
        let load = ManifestLoad { connections, duration: Duration::from_secs(seconds), runs };
        let azurite_pid = azurite.pid().context("Azurite's process")?;
        return manifests_only(tools, &env, work.path(), [&locator_f, &locator_z], wrk, load, azurite_pid).await;
    }
    let origin_f = Origin::start(tools, &env, "f", work.path(), &[])?;
    let origin_z = Origin::start(tools, &env, "z", work.path(), &[])?;
    // The same origins without the hot-segment cache: every segment a storage read.
    let origin_f0 = Origin::start(tools, &env, "f", work.path(), &["--cache-size", "0"])?;
    let origin_z0 = Origin::start(tools, &env, "z", work.path(), &["--cache-size", "0"])?;
    // A cache much smaller than the rendition it serves: the memory row.
    let origin_small = Origin::start(tools, &env, "z", work.path(), &["--cache-size", SMALL_CACHE])?;
    let http = client(connections)?;
    for o in [&origin_f, &origin_z, &origin_f0, &origin_z0, &origin_small] {
        o.ready(&http).await?;
    }
    // The front in proxy mode before the file:// origin: its cost per request.
    let front = Origin::front(&tools.mirrorcast, work.path(), &origin_f.base, "front")?;
    // $MIRRORCAST_FRONT_BASE: a second front from another build (a "before"), measured in the same
    // runs before the same origin, so a change to the front is judged without a second bench run.
    let front_base = match std::env::var_os("MIRRORCAST_FRONT_BASE").map(PathBuf::from) {
        Some(binary) => Some(Origin::front(&binary, work.path(), &origin_f.base, "front-base")?),
        None => None,
    };
    // `--serve-front-only`: nginx static, the origin direct and the proxies before it, nothing else.
    let front_only = args.iter().any(|a| a == "--serve-front-only");

    // Cold: the first manifest request of each origin builds every rendition's index from its moov.
    let manifests_f = manifest_urls(&origin_f.base, &locator_f);
    let manifests_z = manifest_urls(&origin_z.base, &locator_z);
    let cold_f = timed_get(&http, &manifests_f[0]).await?;
    let cold_z = timed_get(&http, &manifests_z[0]).await?;
    let mpd_bytes = http.get(&manifests_f[1]).send().await?.bytes().await?.len();
    let playlist = http.get(&manifests_f[2]).send().await?.error_for_status()?.text().await?;
    let segments: Vec<String> =
        playlist.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect();
    ensure!(segments.len() >= (CLIP_SECONDS * REPEATS / 2 - 2) as usize, "{} segments for two hours", segments.len());
    let ism_path = format!("/{locator_f}/Long.ism/QualityLevels({})", RENDITIONS[0].2 * 1000);

    // nginx's root: every segment, fetched once from the file:// origin, at the same path.
    eprintln!("bench serve: writing {} segments for nginx…", segments.len());
    let www = work.path().join("www");
    let dir = www.join(ism_path.trim_start_matches('/'));
    std::fs::create_dir_all(&dir)?;
    let mut segment_bytes = 0u64;
    for s in &segments {
        let body =
            http.get(format!("{}{ism_path}/{s}", origin_f.base)).send().await?.error_for_status()?.bytes().await?;
        segment_bytes += body.len() as u64;
        std::fs::write(dir.join(s), &body)?;
    }
    let nginx = Nginx::start(&nginx, work.path(), &www, &origin_f.base)?;
    let urls = |base: &str, locator: &str| -> Vec<String> {
        let path = format!("/{locator}/Long.ism/QualityLevels({})", RENDITIONS[0].2 * 1000);
        segments.iter().map(|s| format!("{base}{path}/{s}")).collect()
    };
    let on_nginx = urls(&nginx.base, &locator_f);
    let on_f = urls(&origin_f.base, &locator_f);
    let on_z = urls(&origin_z.base, &locator_z);
    let on_f0 = urls(&origin_f0.base, &locator_f);
    let on_z0 = urls(&origin_z0.base, &locator_z);
    let on_small = urls(&origin_small.base, &locator_z);
    let on_front = urls(&front.base, &locator_f);
    front.answers(&http, &on_front[0]).await?;
    let on_nginx_proxy = urls(&nginx.proxy_base, &locator_f);
    let on_front_base = match &front_base {
        Some(base) => {
            let on = urls(&base.base, &locator_f);
            base.answers(&http, &on[0]).await?;
            on
        }
        None => vec![],
    };
    // Warm: every segment once through the cached Azurite origin (file://'s was warmed above).
    for u in &on_z {
        http.get(u).send().await?.error_for_status()?.bytes().await?;
    }
    let rss_warm_z = origin_z.peak_rss_mib()?;
    // Both serve the same bytes: checked on a sample before measuring.
    for i in [0, segments.len() / 2, segments.len() - 1] {
        let a = http.get(&on_nginx[i]).send().await?.error_for_status()?.bytes().await?;
        let b = http.get(&on_z[i]).send().await?.error_for_status()?.bytes().await?;
        ensure!(a == b, "segment {i}: nginx and the Azurite origin differ");
    }

    let mut results: Vec<(&str, Vec<Load>)> = vec![
        ("segments nginx static (disk)", vec![]),
        ("segments origin file://", vec![]),
        ("segments origin Azurite", vec![]),
        ("segments origin file:// cache off", vec![]),
        ("segments origin Azurite cache off", vec![]),
        ("segments front proxy -> file://", vec![]),
        ("segments Azurite cache 32MiB (churn)", vec![]),
        ("manifests origin file://", vec![]),
        ("manifests origin Azurite", vec![]),
        // As browsers' players (hls.js, dash.js) ask for them; ffmpeg asks for identity (the rows above).
        ("manifests file:// gzip", vec![]),
        ("manifests Azurite gzip", vec![]),
        // The peer of the front: nginx as a reverse proxy before the same origin.
        ("segments nginx proxy -> file://", vec![]),
        ("segments front ($MIRRORCAST_FRONT_BASE)", vec![]),
    ];
    let duration = Duration::from_secs(seconds);
    let generator = match &wrk {
        Some(wrk) => Generator::Wrk { wrk: wrk.clone(), dir: work.path().to_owned() },
        None => Generator::InProcess(http.clone()),
    };
    let mut direct_cost = DirectCost::default();
    let (mut front_cost, mut nginx_proxy_cost, mut front_base_cost) =
        (ProxyCost::default(), ProxyCost::default(), ProxyCost::default());
    let origin_pid = origin_f.child.id();
    let nginx_workers = children_of(nginx.child.id());
    ensure!(!nginx_workers.is_empty(), "nginx has no worker process to measure");
    for run in 0..runs {
        eprintln!("bench serve: run {}/{runs} ({connections} connections, {seconds} s each)…", run + 1);
        results[0].1.push(generator.load(&on_nginx, connections, duration, false).await?);
        // The origin direct, then through each proxy, one after the other: the same load on the machine.
        let (direct, spent) = with_cpu(generator.load(&on_f, connections, duration, false), &[origin_pid]).await?;
        direct_cost.origin_us.push(per_request_us(spent[0].cpu_seconds, &direct));
        direct_cost.origin_faults.push(faults_per_request(spent[0], &direct));
        let (proxied, spent) =
            with_cpu(generator.load(&on_front, connections, duration, false), &[origin_pid, front.child.id()]).await?;
        front_cost.record(&direct, &proxied, &spent);
        results[5].1.push(proxied);
        let mut pids = vec![origin_pid];
        pids.extend(&nginx_workers);
        let (proxied, spent) = with_cpu(generator.load(&on_nginx_proxy, connections, duration, false), &pids).await?;
        nginx_proxy_cost.record(&direct, &proxied, &spent);
        results[11].1.push(proxied);
        if let Some(base) = &front_base {
            let (proxied, spent) =
                with_cpu(generator.load(&on_front_base, connections, duration, false), &[origin_pid, base.child.id()])
                    .await?;
            front_base_cost.record(&direct, &proxied, &spent);
            results[12].1.push(proxied);
        }
        results[1].1.push(direct);
        if front_only {
            continue;
        }
        results[2].1.push(generator.load(&on_z, connections, duration, false).await?);
        results[3].1.push(generator.load(&on_f0, connections, duration, false).await?);
        results[4].1.push(generator.load(&on_z0, connections, duration, false).await?);
        results[6].1.push(generator.load(&on_small, connections, duration, false).await?);
        results[7].1.push(generator.load(&manifests_f, connections, duration, false).await?);
        results[8].1.push(generator.load(&manifests_z, connections, duration, false).await?);
        results[9].1.push(generator.load(&manifests_f, connections, duration, true).await?);
        results[10].1.push(generator.load(&manifests_z, connections, duration, true).await?);
    }
    // Rows not measured in this run (`--serve-front-only`, no base front) are left out.
    results.retain(|(_, loads)| !loads.is_empty());
    let nginx_spilled = nginx.spilled_to_disk();
    let memory = Memory {
        small_cache: origin_small.peak_rss_mib()?,
        small_cache_metrics: cache_metrics(&http, &origin_small.base).await?,
        cache_off: origin_z0.peak_rss_mib()?,
        warm_default: rss_warm_z,
        rendition_mib: segment_bytes as f64 / 1024.0 / 1024.0,
    };
    let warm_metrics = cache_metrics(&http, &origin_z.base).await?;
    drop(front);
    drop(nginx);
    drop(origin_f);
    drop(origin_z);
    drop(origin_f0);
    drop(origin_z0);
    drop(origin_small);

    let mut rows = vec![format!(
        "\n{:<34} {:>10} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "serve (median of runs)", "req/s", "MB/s", "p50 ms", "p99 ms", "errors", "x nginx"
    )];
    let medians: Vec<Load> = results.iter().map(|(_, loads)| Load::median(loads)).collect();
    let nginx_rps = medians[0].rps();
    for ((name, _), m) in results.iter().zip(&medians) {
        let vs = if name.starts_with("segments") { format!("{:.2}", m.rps() / nginx_rps) } else { "-".into() };
        rows.push(format!(
            "{name:<34} {:>10.0} {:>9.1} {:>9.2} {:>9.2} {:>7} {:>7}",
            m.rps(),
            m.bytes as f64 / m.seconds / 1e6,
            m.p50_ms,
            m.p99_ms,
            m.errors,
            vs
        ));
    }
    let direct_origin_us = crate::measure::median(direct_cost.origin_us.iter().copied());
    rows.push(format!(
        "CPU per request (medians): origin direct {direct_origin_us:.0} us; minor page faults per request: origin direct {:.2}",
        crate::measure::median(direct_cost.origin_faults.iter().copied()),
    ));
    for (name, cost) in [
        ("front proxy", &front_cost),
        ("nginx proxy", &nginx_proxy_cost),
        ("front ($MIRRORCAST_FRONT_BASE)", &front_base_cost),
    ] {
        if !cost.ratios.is_empty() {
            rows.push(cost.line(name));
        }
    }
    rows.push(format!(
        "nginx proxy: proxy_pass to the file:// origin over keep-alive connections (keepalive 64), proxy_buffering \
         as nginx ships it (on, 8 x 4k); responses spilled to a temporary file: {nginx_spilled}"
    ));
    rows.push(format!(
        "peak RSS of serve: --cache-size {SMALL_CACHE} under a {:.0} MiB rendition {:.0} MiB; cache off {:.0} MiB; default cache, warm with all of it {:.0} MiB",
        memory.rendition_mib, memory.small_cache, memory.cache_off, memory.warm_default
    ));
    rows.push(format!("cache {SMALL_CACHE} origin: {}", memory.small_cache_metrics));
    rows.push(format!("warm Azurite origin: {warm_metrics}"));
    rows.push(format!(
        "cold first manifest (3 indexes from moov): file:// {:.1} ms, Azurite {:.1} ms; {} segments, {:.1} KiB mean; MPD {} KiB",
        cold_f * 1e3,
        cold_z * 1e3,
        segments.len(),
        segment_bytes as f64 / segments.len() as f64 / 1024.0,
        mpd_bytes / 1024
    ));
    let named: Vec<serde_json::Value> = results
        .iter()
        .zip(&medians)
        .map(|((name, loads), m)| {
            json!({
                "name": name, "median_rps": m.rps(), "median_p50_ms": m.p50_ms, "median_p99_ms": m.p99_ms,
                "errors": m.errors,
                "runs": loads.iter().map(|l| json!({"rps": l.rps(), "p50_ms": l.p50_ms, "p99_ms": l.p99_ms})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({
        "workload": "serve",
        "load_generator": if wrk.is_some() { "wrk" } else { "in-process reqwest" },
        "connections": connections,
        "seconds": seconds,
        "segments": segments.len(),
        "segment_mean_bytes": segment_bytes / segments.len() as u64,
        "cold_manifest_ms": {"file": cold_f * 1e3, "azurite": cold_z * 1e3},
        "peak_rss_mib": {"small_cache": memory.small_cache, "small_cache_size": SMALL_CACHE, "cache_off": memory.cache_off, "default_cache_warm": memory.warm_default, "rendition_mib": memory.rendition_mib},
        "cache_metrics": {"small_cache": memory.small_cache_metrics, "warm_azurite": warm_metrics},
        "results": named,
        "origin_direct": {
            "cpu_us_per_request": direct_cost.origin_us,
            "minor_faults_per_request": direct_cost.origin_faults,
        },
        "front": front_cost.json(),
        "nginx_proxy": nginx_proxy_cost.json(),
        "nginx_proxy_spilled_to_disk": nginx_spilled,
        "front_base": front_base.as_ref().map(|_| front_base_cost.json()),
        "rows": rows,
    }))
}

/// How the manifest rows load the origins.
struct ManifestLoad {
    connections: usize,
    duration: Duration,
    runs: usize,
}

/// The manifest URLs the manifest rows ask for: HLS and DASH masters, the top video playlist.
fn manifest_urls(base: &str, locator: &str) -> Vec<String> {
    let ism = format!("{base}/{locator}/Long.ism");
    let top = RENDITIONS[0].2 * 1000;
    vec![
        format!("{ism}/manifest(format=m3u8-cmaf)"),
        format!("{ism}/manifest(format=mpd-time-cmaf)"),
        format!("{ism}/QualityLevels({top})/Manifest(video,format=m3u8-cmaf)"),
    ]
}

/// `--serve-manifests-only`: the manifest rows alone (file:// and Azurite, identity and gzip), for
/// the CLI measured and, with `$MIRRORCAST_SERVE_BASE`, origins of another build in the same runs
/// (the order of the two alternating run by run); per row the origin's CPU per request and how
/// busy Azurite's process was, then what each origin's `/metrics` says of its storage waits.
async fn manifests_only(
    tools: &Tools,
    env: &[(String, String)],
    dir: &Path,
    [locator_f, locator_z]: [&str; 2],
    wrk: Option<PathBuf>,
    load: ManifestLoad,
    azurite_pid: u32,
) -> Result<serde_json::Value> {
    let mut builds = vec![("new", tools.mirrorcast.clone())];
    if let Some(base) = std::env::var_os("MIRRORCAST_SERVE_BASE") {
        builds.push(("base", PathBuf::from(base)));
    }
    let http = client(load.connections)?;
    // Per build: its file:// and Azurite origins, and their manifest URLs (each asked for once, cold).
    let mut origins = Vec::new();
    for (name, binary) in &builds {
        let f = Origin::spawn(binary, env, &["serve", "--dc", "f"], dir, &format!("serve-f-{name}"))?;
        let z = Origin::spawn(binary, env, &["serve", "--dc", "z"], dir, &format!("serve-z-{name}"))?;
        for (o, locator) in [(&f, locator_f), (&z, locator_z)] {
            o.ready(&http).await?;
            for url in manifest_urls(&o.base, locator) {
                timed_get(&http, &url).await?;
            }
        }
        let urls = [manifest_urls(&f.base, locator_f), manifest_urls(&z.base, locator_z)];
        origins.push((*name, f, z, urls));
    }
    let generator = match &wrk {
        Some(wrk) => Generator::Wrk { wrk: wrk.clone(), dir: dir.to_owned() },
        None => Generator::InProcess(http.clone()),
    };
    let kinds = [("file://", 0, false), ("Azurite", 1, false), ("file:// gzip", 0, true), ("Azurite gzip", 1, true)];
    let mut azurite = vec![azurite_pid];
    azurite.extend(children_of(azurite_pid));
    // Per (build, row): each run's load, origin CPU per request, Azurite's CPU share.
    let mut measured: Vec<Vec<(Load, f64, f64)>> = vec![Vec::new(); origins.len() * kinds.len()];
    for run in 0..load.runs {
        eprintln!("bench serve: manifests, run {}/{}…", run + 1, load.runs);
        let order: Vec<usize> =
            if run % 2 == 0 { (0..origins.len()).collect() } else { (0..origins.len()).rev().collect() };
        for b in order {
            let (_, f, z, urls) = &origins[b];
            for (k, (_, which, gzip)) in kinds.iter().enumerate() {
                let origin = if *which == 0 { f } else { z };
                let mut pids = vec![origin.child.id()];
                pids.extend(&azurite);
                let (loaded, spent) =
                    with_cpu(generator.load(&urls[*which], load.connections, load.duration, *gzip), &pids).await?;
                let azurite_cpu: f64 = spent[1..].iter().map(|s| s.cpu_seconds).sum();
                let share = azurite_cpu / loaded.seconds.max(1e-9);
                measured[b * kinds.len() + k].push((
                    loaded.clone(),
                    per_request_us(spent[0].cpu_seconds, &loaded),
                    share,
                ));
            }
        }
    }
    let mut rows = vec![format!(
        "\n{:<30} {:>9} {:>8} {:>8} {:>8} {:>10} {:>9}",
        "manifests (median of runs)", "req/s", "p50 ms", "p99 ms", "errors", "origin us", "Azurite %"
    )];
    let mut json_rows = Vec::new();
    for (b, (build, ..)) in origins.iter().enumerate() {
        for (k, (kind, ..)) in kinds.iter().enumerate() {
            let runs = &measured[b * kinds.len() + k];
            let loads: Vec<Load> = runs.iter().map(|r| r.0.clone()).collect();
            let m = Load::median(&loads);
            let p99 = crate::measure::median(loads.iter().map(|l| l.p99_ms));
            let p50 = crate::measure::median(loads.iter().map(|l| l.p50_ms));
            let us = crate::measure::median(runs.iter().map(|r| r.1));
            let share = crate::measure::median(runs.iter().map(|r| r.2));
            let name = format!("{kind} ({build})");
            rows.push(format!(
                "{name:<30} {:>9.0} {p50:>8.2} {p99:>8.2} {:>8} {us:>10.0} {:>9.1}",
                m.rps(),
                m.errors,
                share * 100.0
            ));
            json_rows.push(json!({
                "name": name, "median_rps": m.rps(), "median_p50_ms": p50, "median_p99_ms": p99,
                "origin_cpu_us_per_request": us, "azurite_cpu_share": share,
                "runs": loads.iter().map(|l| json!({"rps": l.rps(), "p50_ms": l.p50_ms, "p99_ms": l.p99_ms})).collect::<Vec<_>>(),
            }));
        }
    }
    if origins.len() == 2 {
        for (k, (kind, ..)) in kinds.iter().enumerate() {
            let p99 = |b: usize| crate::measure::median(measured[b * kinds.len() + k].iter().map(|r| r.0.p99_ms));
            rows.push(format!("p99 {kind}: new / base {:.2}", p99(0) / p99(1).max(1e-9)));
        }
    }
    rows.push("p50 and p99: medians over the runs; req/s: the run of median req/s".to_owned());
    // What each origin says of its waits (a build without those counters shows what it has).
    let wanted = [
        "mirrorcast_origin_storage_waits_total{",
        "mirrorcast_origin_storage_wait_seconds_total{",
        "mirrorcast_origin_manifest_seconds_bucket",
        "mirrorcast_origin_manifest_bodies_made_total ",
        "mirrorcast_origin_manifest_body_seconds_total ",
        "mirrorcast_origin_upstream_requests_total ",
        "mirrorcast_origin_index_cache_misses_total ",
    ];
    for (build, f, z, _) in &origins {
        for (kind, o) in [("file://", f), ("Azurite", z)] {
            let text = http.get(format!("{}/metrics", o.base)).send().await?.text().await?;
            let picked: Vec<&str> = text
                .lines()
                .filter(|l| wanted.iter().any(|w| l.starts_with(w)) && !l.ends_with(" 0") && !l.ends_with(" 0.000000"))
                .map(|l| l.trim_start_matches("mirrorcast_origin_"))
                .collect();
            rows.push(format!("{kind} ({build}) /metrics: {}", picked.join(", ")));
        }
    }
    drop(origins);
    Ok(json!({
        "workload": "serve-manifests",
        "load_generator": if wrk.is_some() { "wrk" } else { "in-process reqwest" },
        "connections": load.connections,
        "seconds": load.duration.as_secs(),
        "results": json_rows,
        "rows": rows,
    }))
}

/// The two-hour asset in `dir` (made once, then reused): renditions, `.ism`, `.ismc`.
fn long_asset(ffmpeg: &Path, dir: &Path) -> Result<()> {
    let done = dir.join("Long.ism");
    if done.exists() {
        return Ok(());
    }
    eprintln!("bench serve: making the two-hour asset (once, kept in {})…", dir.display());
    std::fs::create_dir_all(dir)?;
    let mut tracks = Vec::new();
    for (i, (w, h, kbps)) in RENDITIONS.iter().enumerate() {
        let name = name_of(i);
        let track = |kind, id, bitrate, name: Option<&str>| IsmTrack {
            kind,
            src: name_of(i),
            system_bitrate: bitrate,
            track_id: id,
            track_name: name.map(Into::into),
            language: None,
        };
        tracks.push(track(TrackKind::Video, 1, u64::from(*kbps) * 1000, None));
        if i == 0 {
            tracks.push(track(TrackKind::Audio, 2, 64_000, Some("audio")));
        }
        if dir.join(&name).exists() {
            continue;
        }
        let clip = dir.join(format!("clip-{i}.mp4"));
        let mut args: Vec<String> = ["-v", "error", "-y", "-f", "lavfi", "-i"].map(String::from).to_vec();
        args.push(format!("testsrc2=size={w}x{h}:rate=25"));
        if i == 0 {
            args.extend(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"].map(String::from));
        }
        args.extend(
            [
                "-t",
                &CLIP_SECONDS.to_string(),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-b:v",
                &format!("{kbps}k"),
                "-g",
                "50",
                "-keyint_min",
                "50",
                "-sc_threshold",
                "0",
            ]
            .map(String::from),
        );
        if i == 0 {
            args.extend(["-c:a", "aac", "-b:a", "64k"].map(String::from));
        }
        args.push(clip.display().to_string());
        ffmpeg_ok(ffmpeg, &args)?;
        let list = dir.join(format!("clip-{i}.txt"));
        let line = format!("file '{}'\n", clip.display());
        std::fs::write(&list, line.repeat(REPEATS as usize))?;
        let concat: Vec<String> = ["-v", "error", "-y", "-f", "concat", "-safe", "0", "-i"]
            .map(String::from)
            .into_iter()
            .chain([list.display().to_string()])
            .chain(["-c", "copy", "-movflags", "+faststart"].map(String::from))
            .chain([dir.join(&name).display().to_string()])
            .collect();
        ffmpeg_ok(ffmpeg, &concat)?;
        std::fs::remove_file(&clip)?;
        std::fs::remove_file(&list)?;
    }
    std::fs::write(
        dir.join("Long.ismc"),
        "<SmoothStreamingMedia MajorVersion=\"2\" MinorVersion=\"2\" Duration=\"72000000000\" />\n",
    )?;
    let ism = ServerManifest { title: Some("Long".into()), client_manifest: Some("Long.ismc".into()), tracks };
    std::fs::write(&done, ism.to_xml())?;
    Ok(())
}

fn name_of(rendition: usize) -> String {
    let (w, h, kbps) = RENDITIONS[rendition];
    format!("Long_{w}x{h}_{kbps}.mp4")
}

fn ffmpeg_ok(ffmpeg: &Path, args: &[String]) -> Result<()> {
    let out = Command::new(ffmpeg).args(args).output().context("run ffmpeg")?;
    ensure!(out.status.success(), "ffmpeg {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    Ok(())
}

fn mirrorcast(tools: &Tools, env: &[(String, String)], dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(&tools.mirrorcast)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .context("run mirrorcast")?;
    ensure!(out.status.success(), "mirrorcast {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?)
}

/// Creates, uploads and publishes the asset in data center `dc`; its locator GUID.
fn publish(tools: &Tools, env: &[(String, String)], dc: &str, asset: &Path, dir: &Path) -> Result<String> {
    let created: serde_json::Value = serde_json::from_str(&mirrorcast(
        tools,
        env,
        dir,
        &["asset", "create", "--dc", dc, "--name", "Long", "--json"],
    )?)?;
    let id = created["id"].as_str().context("asset id")?.to_owned();
    mirrorcast(tools, env, dir, &["asset", "upload", "--dc", dc, &id, &asset.display().to_string()])?;
    let made: serde_json::Value = serde_json::from_str(&mirrorcast(
        tools,
        env,
        dir,
        &["locator", "create", "--dc", dc, &id, "--type", "origin", "--json"],
    )?)?;
    let locator = made["locator"]["id"].as_str().context("locator id")?;
    Ok(locator.rsplit(':').next().unwrap_or(locator).to_owned())
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The memory row's cache: far smaller than the rendition served through it.
const SMALL_CACHE: &str = "32MiB";

/// The memory row: peak RSS (MiB) of `serve` with a cache much smaller than what it served,
/// without a cache, and with the default cache holding all of it.
struct Memory {
    small_cache: f64,
    small_cache_metrics: String,
    cache_off: f64,
    warm_default: f64,
    rendition_mib: f64,
}

/// A process's peak resident memory so far (`VmHWM`), in MiB.
fn peak_rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("/proc/<pid>/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("VmHWM in /proc/<pid>/status")?;
    let kib: f64 = line.split_whitespace().nth(1).context("VmHWM's value")?.parse()?;
    Ok(kib / 1024.0)
}

/// The origin's segment cache counters from `/metrics`, on one line.
async fn cache_metrics(http: &reqwest::Client, base: &str) -> Result<String> {
    let text = http.get(format!("{base}/metrics")).send().await?.error_for_status()?.text().await?;
    let wanted = ["hits_total", "misses_total", "evictions_total", "bytes", "capacity_bytes"];
    let found = text
        .lines()
        .filter_map(|l| l.strip_prefix("mirrorcast_origin_segment_cache_"))
        .filter(|l| wanted.iter().any(|w| l.split(' ').next() == Some(*w)))
        .collect::<Vec<_>>();
    let storage = text.lines().find(|l| l.starts_with("mirrorcast_origin_upstream_requests_total "));
    Ok(format!("{} {}", found.join(", "), storage.unwrap_or("")))
}

/// A `mirrorcast serve` (or `front`) child, stopped on drop; its log in the work folder.
struct Origin {
    child: Child,
    base: String,
}

impl Origin {
    fn start(tools: &Tools, env: &[(String, String)], dc: &str, dir: &Path, extra: &[&str]) -> Result<Origin> {
        let mut args = vec!["serve", "--dc", dc];
        args.extend_from_slice(extra);
        Origin::spawn(&tools.mirrorcast, env, &args, dir, &format!("serve-{dc}"))
    }

    /// `<binary> front` in proxy mode before the origin at `origin`.
    fn front(binary: &Path, dir: &Path, origin: &str, log: &str) -> Result<Origin> {
        let origin = format!("f={origin}");
        Origin::spawn(binary, &[], &["front", "--mode", "proxy", "--origin", &origin], dir, log)
    }

    /// `<binary> <args> --listen <a free port>`, its stderr in `dir/<log>-<port>.log`.
    fn spawn(binary: &Path, env: &[(String, String)], args: &[&str], dir: &Path, log: &str) -> Result<Origin> {
        let port = free_port()?;
        let log = std::fs::File::create(dir.join(format!("{log}-{port}.log")))?;
        let child = Command::new(binary)
            .args(args)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("start mirrorcast {}", args[0]))?;
        Ok(Origin { child, base: format!("http://127.0.0.1:{port}") })
    }

    async fn ready(&self, http: &reqwest::Client) -> Result<()> {
        self.answers(http, &format!("{}/healthz", self.base)).await
    }

    /// Once `url` answers 2xx (a front: once it proxies a segment).
    async fn answers(&self, http: &reqwest::Client, url: &str) -> Result<()> {
        for _ in 0..200 {
            if let Ok(r) = http.get(url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("mirrorcast at {} did not answer {url}", self.base)
    }

    fn peak_rss_mib(&self) -> Result<f64> {
        peak_rss_mib(self.child.id())
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx on a free loopback port with a generated config serving `www`, and on another port as a
/// reverse proxy before `origin` (the front's peer); stopped on drop.
struct Nginx {
    child: Child,
    base: String,
    /// Where nginx proxies every request to the origin.
    proxy_base: String,
    prefix: PathBuf,
}

impl Nginx {
    fn start(nginx: &Path, dir: &Path, www: &Path, origin: &str) -> Result<Nginx> {
        let port = free_port()?;
        let proxy_port = free_port()?;
        let upstream = origin.strip_prefix("http://").context("the origin nginx proxies to is http://")?;
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(prefix.join("logs"))?;
        // Workers as many as cores (the origin's runtime has as many threads); access log on and
        // buffered, as ours is (lines written in batches at most 100 ms late); sendfile, keep-alive:
        // nginx as it is usually run for static files. As a proxy: HTTP/1.1 keep-alive connections
        // to the origin (kept like the front's pool), proxy_buffering as nginx ships it.
        let conf = format!(
            "daemon off;\nworker_processes auto;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log warn;\nuser root;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  log_format common '$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent';\n  access_log {p}/logs/access.log common buffer=64k flush=100ms;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n  default_type video/mp4;\n\
             client_body_temp_path {p}/body; proxy_temp_path {p}/proxy; fastcgi_temp_path {p}/fastcgi; uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n\
             server {{ listen 127.0.0.1:{port}; root {www}; location / {{ add_header Cache-Control \"public, max-age=86400\"; }} }}\n\
             upstream mirrorcast_origin {{ server {upstream}; keepalive 64; keepalive_requests 1000000; }}\n\
             server {{ listen 127.0.0.1:{proxy_port}; location / {{ proxy_pass http://mirrorcast_origin; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}\n}}\n",
            p = prefix.display(),
            www = www.display()
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let child = Command::new(nginx)
            .args(["-p", &prefix.display().to_string(), "-c", &conf_path.display().to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(prefix.join("logs/stderr.log"))?)
            .spawn()
            .context("start nginx")?;
        let started = Instant::now();
        for p in [port, proxy_port] {
            while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
                ensure!(started.elapsed() < Duration::from_secs(10), "nginx did not start: see {}", prefix.display());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(Nginx {
            child,
            base: format!("http://127.0.0.1:{port}"),
            proxy_base: format!("http://127.0.0.1:{proxy_port}"),
            prefix,
        })
    }

    /// Responses the proxy wrote to a temporary file (its buffers full): nginx warns of each.
    fn spilled_to_disk(&self) -> usize {
        std::fs::read_to_string(self.prefix.join("logs/error.log"))
            .map_or(0, |log| log.lines().filter(|l| l.contains("buffered to a temporary file")).count())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master then stops its workers (killed, it leaves them running).
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn client(connections: usize) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().pool_max_idle_per_host(connections).http1_only().no_proxy().build()?)
}

async fn timed_get(http: &reqwest::Client, url: &str) -> Result<f64> {
    let t = Instant::now();
    http.get(url).send().await?.error_for_status()?.bytes().await?;
    Ok(t.elapsed().as_secs_f64())
}

/// The origin direct per run: CPU per request and minor page faults per request (from `/proc/<pid>/stat`).
#[derive(Debug, Default)]
struct DirectCost {
    origin_us: Vec<f64>,
    /// Memory the allocator gave back and touched again.
    origin_faults: Vec<f64>,
}

/// A proxy's cost per run (the front, nginx): the req/s ratio and added p99 against the origin direct
/// in the run before it, and CPU per request of the proxy and of the origin behind it: on a shared
/// machine the CPU a request costs moves less than the req/s the others leave.
#[derive(Debug, Default)]
struct ProxyCost {
    ratios: Vec<f64>,
    added_p50_ms: Vec<f64>,
    added_p99_ms: Vec<f64>,
    proxy_us: Vec<f64>,
    behind_origin_us: Vec<f64>,
    proxy_faults: Vec<f64>,
}

impl ProxyCost {
    /// One run: `spent` is the origin's, then the proxy's processes' (added up).
    fn record(&mut self, direct: &Load, proxied: &Load, spent: &[Spent]) {
        let proxy = spent[1..].iter().fold(Spent { cpu_seconds: 0.0, minor_faults: 0 }, |a, s| Spent {
            cpu_seconds: a.cpu_seconds + s.cpu_seconds,
            minor_faults: a.minor_faults + s.minor_faults,
        });
        self.ratios.push(proxied.rps() / direct.rps());
        self.added_p50_ms.push(proxied.p50_ms - direct.p50_ms);
        self.added_p99_ms.push(proxied.p99_ms - direct.p99_ms);
        self.proxy_us.push(per_request_us(proxy.cpu_seconds, proxied));
        self.behind_origin_us.push(per_request_us(spent[0].cpu_seconds, proxied));
        self.proxy_faults.push(faults_per_request(proxy, proxied));
    }

    fn line(&self, name: &str) -> String {
        let median = |v: &[f64]| crate::measure::median(v.iter().copied());
        format!(
            "{name} vs origin direct (file://, warm): {:.2}x req/s, p50 {:+.2} ms, p99 {:+.2} ms (medians of {} runs, \
             each against the direct run before it: {}); CPU per request: proxy {:.0} us + origin {:.0} us; \
             minor page faults per request: proxy {:.2}",
            median(&self.ratios),
            median(&self.added_p50_ms),
            median(&self.added_p99_ms),
            self.ratios.len(),
            self.ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", "),
            median(&self.proxy_us),
            median(&self.behind_origin_us),
            median(&self.proxy_faults),
        )
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "rps_ratio_per_run": self.ratios,
            "added_p50_ms_per_run": self.added_p50_ms,
            "added_p99_ms_per_run": self.added_p99_ms,
            "cpu_us_per_request": {"proxy": self.proxy_us, "origin_behind_proxy": self.behind_origin_us},
            "minor_faults_per_request": self.proxy_faults,
        })
    }
}

/// The processes whose parent is `pid` (nginx's workers), from `/proc/<pid>/stat`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).ok().is_some_and(|stat| {
                // The parent is field 4, the second after the parenthesised command name.
                stat.rfind(')').and_then(|i| stat[i + 2..].split_whitespace().nth(1)?.parse::<u32>().ok()) == Some(pid)
            })
        })
        .collect()
}

/// What one served process spent while a load ran.
#[derive(Debug, Clone, Copy)]
struct Spent {
    cpu_seconds: f64,
    minor_faults: u64,
}

/// `load`'s result and what each of `pids` spent while it ran.
async fn with_cpu(load: impl std::future::Future<Output = Result<Load>>, pids: &[u32]) -> Result<(Load, Vec<Spent>)> {
    let read = |pid: u32| -> Result<Spent> {
        Ok(Spent {
            cpu_seconds: crate::measure::process_cpu(pid).context("CPU of a served process from /proc")?,
            minor_faults: crate::measure::process_minor_faults(pid)
                .context("page faults of a served process from /proc")?,
        })
    };
    let before = pids.iter().map(|&p| read(p)).collect::<Result<Vec<_>>>()?;
    let loaded = load.await?;
    let spent = pids
        .iter()
        .zip(before)
        .map(|(&p, b)| {
            let now = read(p)?;
            Ok(Spent { cpu_seconds: now.cpu_seconds - b.cpu_seconds, minor_faults: now.minor_faults - b.minor_faults })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((loaded, spent))
}

/// Minor page faults per answered request.
fn faults_per_request(spent: Spent, load: &Load) -> f64 {
    spent.minor_faults as f64 / load.requests.max(1) as f64
}

/// Microseconds of CPU per answered request.
fn per_request_us(cpu_seconds: f64, load: &Load) -> f64 {
    cpu_seconds * 1e6 / load.requests.max(1) as f64
}

/// What one load run saw.
#[derive(Debug, Clone, Default)]
struct Load {
    requests: u64,
    errors: u64,
    bytes: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Load {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// The run with the median throughput.
    fn median(runs: &[Load]) -> Load {
        let mut sorted = runs.to_vec();
        sorted.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
        sorted.get(sorted.len() / 2).cloned().unwrap_or_default()
    }
}

/// What makes the load: wrk in its own process, or this process.
enum Generator {
    Wrk { wrk: PathBuf, dir: PathBuf },
    InProcess(reqwest::Client),
}

impl Generator {
    /// `gzip`: the requests send `Accept-Encoding: gzip`.
    async fn load(&self, urls: &[String], connections: usize, duration: Duration, gzip: bool) -> Result<Load> {
        match self {
            Generator::Wrk { wrk, dir } => load_wrk(wrk, dir, urls, connections, duration, gzip).await,
            Generator::InProcess(http) => Ok(load(http, urls, connections, duration, gzip).await),
        }
    }
}

/// wrk's script: each thread requests the listed paths in turn, from its own
/// offset; at the end one JSON line with the counts and latency percentiles (µs).
const WRK_SCRIPT: &str = r#"
local paths = {}
for line in io.lines(os.getenv("MIRRORCAST_BENCH_PATHS")) do paths[#paths + 1] = line end
local threads = 0
function setup(thread) thread:set("offset", threads); threads = threads + 1 end
local i = 0
local headers = {}
if os.getenv("MIRRORCAST_BENCH_GZIP") == "1" then headers["Accept-Encoding"] = "gzip" end
function init(args) i = (offset or 0) * math.floor(#paths / 2) end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], headers)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"bytes":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"#;

/// `connections` keep-alive connections of wrk (two threads) requesting `urls` (one host) in turn.
async fn load_wrk(
    wrk: &Path,
    dir: &Path,
    urls: &[String],
    connections: usize,
    duration: Duration,
    gzip: bool,
) -> Result<Load> {
    let first = urls.first().context("no URL to load")?;
    let host_end = first.match_indices('/').nth(2).map_or(first.len(), |(i, _)| i);
    let base = &first[..host_end];
    let paths: Vec<&str> = urls.iter().map(|u| u.strip_prefix(base).unwrap_or(u)).collect();
    let paths_file = dir.join("wrk-paths.txt");
    std::fs::write(&paths_file, paths.join("\n") + "\n")?;
    let script = dir.join("wrk-load.lua");
    std::fs::write(&script, WRK_SCRIPT)?;
    let out = tokio::process::Command::new(wrk)
        .args(["-t", "2", "-c", &connections.max(2).to_string(), "-d", &format!("{}s", duration.as_secs().max(1))])
        .args(["--timeout", "10s", "-s", &script.display().to_string(), base])
        .env("MIRRORCAST_BENCH_PATHS", &paths_file)
        .env("MIRRORCAST_BENCH_GZIP", if gzip { "1" } else { "0" })
        .output()
        .await
        .context("run wrk")?;
    ensure!(out.status.success(), "wrk: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).context("wrk printed no summary")?;
    let v: serde_json::Value = serde_json::from_str(line)?;
    let num = |k: &str| v[k].as_u64().unwrap_or(0);
    let errors = num("errors");
    Ok(Load {
        requests: num("requests").saturating_sub(errors),
        errors,
        bytes: num("bytes"),
        seconds: num("duration_us") as f64 / 1e6,
        p50_ms: num("p50_us") as f64 / 1e3,
        p99_ms: num("p99_us") as f64 / 1e3,
    })
}

/// `connections` tasks request `urls` in turn (each from its own offset) until
/// `duration` is over; every successful request's latency is kept.
async fn load(http: &reqwest::Client, urls: &[String], connections: usize, duration: Duration, gzip: bool) -> Load {
    let urls = Arc::new(urls.to_vec());
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let (http, urls) = (http.clone(), urls.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors, mut bytes) = (Vec::new(), 0u64, 0u64);
                let mut i = c * urls.len() / connections.max(1);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let mut request = http.get(&urls[i % urls.len()]);
                    if gzip {
                        request = request.header("accept-encoding", "gzip");
                    }
                    let got = match request.send().await {
                        Ok(r) if r.status().is_success() => r.bytes().await.ok(),
                        _ => None,
                    };
                    match got {
                        Some(b) => {
                            latencies.push(t.elapsed().as_micros() as u32);
                            bytes += b.len() as u64;
                        }
                        None => errors += 1,
                    }
                    i += 1;
                }
                (latencies, errors, bytes)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut out = Load::default();
    for t in tasks {
        if let Ok((l, e, b)) = t.await {
            all.extend(l);
            out.errors += e;
            out.bytes += b;
        }
    }
    out.seconds = started.elapsed().as_secs_f64();
    out.requests = all.len() as u64;
    all.sort_unstable();
    let at = |q: f64| all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied();
    out.p50_ms = at(0.50).unwrap_or(0) as f64 / 1e3;
    out.p99_ms = at(0.99).unwrap_or(0) as f64 / 1e3;
    out
}
