//! Dynamic manifest filters (#25): made with `filter create`, served by the origins of A and,
//! after `replicate --all`, of B. A time range read by ffmpeg at its defaults, bitrate
//! selection in HLS, DASH and Smooth, first quality, a filter bound to a locator, unknown
//! names, ETags and shared segment URLs; and every bad filter refused at creation.

use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::id::LocatorId;

use crate::replicate::Failover;
use crate::serve::{packet_md5s, publish_media_in, serve_dc, write_clip, Packets};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/ams");

/// Where `got` sits in `source` as a contiguous run of packets (MD5s), if it does.
fn window_in(got: &Packets, source: &Packets) -> Option<usize> {
    let (g, s): (Vec<&str>, Vec<&str>) =
        (got.packets.iter().map(|p| p.2.as_str()).collect(), source.packets.iter().map(|p| p.2.as_str()).collect());
    if g.is_empty() || g.len() > s.len() {
        return None;
    }
    (0..=s.len() - g.len()).find(|at| s[*at..*at + g.len()] == g[..])
}

fn seconds(p: &Packets) -> f64 {
    let start = p.packets.iter().map(|x| x.0).fold(f64::INFINITY, f64::min);
    let end = p.packets.iter().map(|x| x.1).fold(0.0, f64::max);
    end - start
}

/// The lines of a media playlist that are segment URIs.
fn uris(playlist: &str) -> Vec<&str> {
    playlist.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect()
}

/// One GET: status, ETag, body.
async fn get(url: String) -> (u16, Option<String>, String) {
    let r = reqwest::get(&url).await.unwrap();
    let (status, etag) = (r.status().as_u16(), r.headers().get("etag").map(|e| e.to_str().unwrap().to_owned()));
    (status, etag, r.text().await.unwrap())
}

/// The clip's renditions as ffmpeg reads them: 600k video, 300k video, audio.
fn clip_sources(folder: &std::path::Path) -> [Packets; 3] {
    let (high, low) = (folder.join("Clip_320x180_600.mp4"), folder.join("Clip_160x90_300.mp4"));
    [
        packet_md5s(high.to_str().unwrap(), "0:v").remove(0),
        packet_md5s(low.to_str().unwrap(), "0:v").remove(0),
        packet_md5s(high.to_str().unwrap(), "0:a").remove(0),
    ]
}

/// ffmpeg at its defaults reads `url` (an HLS master filtered to 2-4 s) as the sources' packets
/// over that range, in whole fragments: both video variants frames 50..100, the audio from the
/// fragment holding 2 s.
fn assert_hls_trimmed_to_2_4_s(dc: &str, url: &str, sources: &[Packets]) {
    let got = packet_md5s(url, "0");
    assert_eq!(got.len(), 3, "{dc}: two video variants and the audio");
    for g in &got {
        let found = sources.iter().filter(|s| s.media_type == g.media_type).find_map(|s| Some((window_in(g, s)?, s)));
        let (at, source) =
            found.unwrap_or_else(|| panic!("{dc}: a {} stream that is no run of a source's packets", g.media_type));
        let length = seconds(g);
        assert!((length - 2.0).abs() <= 2.0, "{dc}: {} lasts {length} s for a 2 s range", g.media_type);
        if g.media_type == "video" {
            // 25 fps, key frames every 50 frames: exactly the fragment 2-4 s.
            assert_eq!((at, g.packets.len()), (50, 50), "{dc}: video frames 50..100 of {}", source.packets.len());
        } else {
            let start = source.packets[at].0;
            assert!(start <= 2.0 + 1e-6 && start > 2.0 - 2.1, "{dc}: audio from {start} s covers the range's start");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_trim_select_and_order_manifests_from_a_and_after_replicate_from_b() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = publish_media_in(f.dir.path(), &env).await;
    let run = |args: Vec<String>| {
        let (dir, env) = (f.dir.path().to_owned(), env.clone());
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::helpers::run_in(&dir, &env, &args).await
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
    // 2 s to 4 s, in 100 ns ticks: the clip's key frames are every 2 s (one whole fragment).
    run(s(&["filter", "create", "--dc", "a", "--asset", &p.asset, "mid", "--start", "20000000", "--end", "40000000"]))
        .await
        .ok();
    run(s(&[
        "filter",
        "create",
        "--dc",
        "a",
        "--asset",
        &p.asset,
        "low",
        "--track",
        "Type=Video,Bitrate=0-400000",
        "--track",
        "Type=Audio",
    ]))
    .await
    .ok();
    run(s(&["filter", "create", "--dc", "a", "first300", "--first-quality", "300000"])).await.ok();
    run(s(&["filter", "create", "--dc", "a", "late", "--start", "600000000"])).await.ok();
    run(s(&["filter", "create", "--dc", "a", "textonly", "--track", "Type=Text"])).await.ok();
    let listed = run(s(&["--json", "filter", "list", "--dc", "a", "--asset", &p.asset])).await.ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    let unknown_bound = run(s(&["locator", "create", "--dc", "a", &p.asset, "--filter", "nope"])).await;
    assert_ne!(unknown_bound.code, 0, "a locator cannot bind a filter that does not exist");
    assert!(unknown_bound.stderr.contains("nope"), "{}", unknown_bound.stderr);
    let bound = run(s(&["--json", "locator", "create", "--dc", "a", &p.asset, "--filter", "low"])).await.ok().json();
    let bound = LocatorId::parse(bound["locator"]["id"].as_str().unwrap()).unwrap().guid();

    let copied = run(s(&["replicate", "--from", "a", "--to", "b", "--all", "--json"])).await.ok().json();
    assert_eq!(copied["totals"]["failed"], 0, "{copied}");
    let in_b = run(s(&["--json", "filter", "list", "--dc", "b", "--asset", &p.asset])).await.ok().json();
    assert_eq!(in_b, listed, "B holds A's asset filters");
    let account_b = run(s(&["--json", "filter", "show", "--dc", "b", "first300"])).await.ok().json();
    assert_eq!(account_b["firstQuality"]["bitrate"], 300_000, "{account_b}");

    let sources = clip_sources(&f.dir.path().join("clip"));

    let (served_a, served_b) =
        tokio::join!(serve_dc(f.dir.path(), &env, "a", &[]), serve_dc(f.dir.path(), &env, "b", &[]));
    for (dc, served) in [("A", &served_a), ("B", &served_b)] {
        let base = format!("http://{}/{}/Clip.ism", served.addr, p.locator);

        // A time range read by ffmpeg at its defaults: the source's packets over 2-4 s, whole fragments.
        assert_hls_trimmed_to_2_4_s(dc, &format!("{base}/manifest(format=m3u8-cmaf,filter=mid)"), &sources);

        // The same range through DASH: the source's frames 50..100; through TS HLS: 50 frames
        // (TS repacks H.264, so its packets are not the MP4's). ffmpeg shifts its output to start
        // at 0, so times are not compared here.
        let dash = packet_md5s(&format!("{base}/manifest(format=mpd-time-csf,filter=mid)"), "0:v");
        assert_eq!(dash.len(), 2, "{dc}: both video representations");
        for g in &dash {
            let at = sources.iter().take(2).find_map(|s| window_in(g, s));
            assert_eq!((at, g.packets.len()), (Some(50), 50), "{dc}: DASH video frames 50..100");
        }
        let ts = packet_md5s(&format!("{base}/manifest(format=m3u8-aapl,filter=mid)"), "0:v");
        assert_eq!(ts.len(), 2, "{dc}: both TS video variants");
        for g in &ts {
            assert_eq!(g.packets.len(), 50, "{dc}: TS video frames of 2-4 s");
        }

        // Bitrate range: exactly the renditions outside it are gone, in every format.
        let (_, plain_etag, plain_master) = get(format!("{base}/manifest(format=m3u8-cmaf)")).await;
        assert!(plain_master.contains("QualityLevels(600000)"), "{dc}: {plain_master}");
        let (status, low_etag, master) = get(format!("{base}/manifest(format=m3u8-cmaf,filter=low)")).await;
        assert_eq!(status, 200, "{dc}: {master}");
        assert!(!master.contains("QualityLevels(600000)"), "{dc}: {master}");
        assert!(master.contains("QualityLevels(300000)/Manifest(video,format=m3u8-cmaf,filter=low)"), "{dc}: {master}");
        assert!(master.contains("TYPE=AUDIO"), "{dc}: audio kept: {master}");
        assert_ne!(plain_etag, low_etag, "{dc}: a filtered manifest is an entity of its own");
        let (_, mid_etag, _) = get(format!("{base}/manifest(format=m3u8-cmaf,filter=mid)")).await;
        assert_ne!(mid_etag, low_etag, "{dc}: each filter its own ETag");
        let (_, _, plain_mpd) = get(format!("{base}/manifest(format=mpd-time-csf)")).await;
        let (_, _, mpd) = get(format!("{base}/manifest(format=mpd-time-csf,filter=low)")).await;
        assert!(plain_mpd.contains("id=\"video_600000\""), "{dc}: {plain_mpd}");
        assert!(!mpd.contains("video_600000") && mpd.contains("id=\"video_300000\""), "{dc}: {mpd}");
        assert!(mpd.contains("contentType=\"audio\""), "{dc}: {mpd}");
        let template = "media=\"QualityLevels(300000)/Fragments(video=$Time$,format=mpd-time-csf).m4s\"";
        assert!(mpd.contains(template) && plain_mpd.contains(template), "{dc}: segment URLs shared: {mpd}");
        let (_, _, smooth) = get(format!("{base}/manifest(filter=low)")).await;
        let (_, _, plain_smooth) = get(format!("{base}/manifest")).await;
        assert!(plain_smooth.contains("Bitrate=\"600000\""), "{dc}: {plain_smooth}");
        assert!(!smooth.contains("Bitrate=\"600000\"") && smooth.contains("Bitrate=\"300000\""), "{dc}: {smooth}");
        assert!(smooth.contains("Type=\"audio\""), "{dc}: {smooth}");

        // Combined filters: low and mid; the media playlist names the unfiltered segment URLs.
        let (_, _, both) = get(format!("{base}/manifest(format=m3u8-cmaf,filter=low;mid)")).await;
        assert!(!both.contains("QualityLevels(600000)"), "{dc}: {both}");
        let (_, _, trimmed) =
            get(format!("{base}/QualityLevels(300000)/Manifest(video,format=m3u8-cmaf,filter=low;mid)")).await;
        let (_, _, whole) = get(format!("{base}/QualityLevels(300000)/Manifest(video,format=m3u8-cmaf)")).await;
        assert_eq!(uris(&trimmed).len(), 1, "{dc}: one 2 s segment: {trimmed}");
        assert_eq!(uris(&whole).len(), 3, "{dc}: {whole}");
        assert!(uris(&trimmed).iter().all(|u| uris(&whole).contains(u)), "{dc}: {trimmed} vs {whole}");

        // First quality first in the HLS master (an account filter).
        let first_variant = |m: &str| {
            m.lines().skip_while(|l| !l.starts_with("#EXT-X-STREAM-INF")).nth(1).unwrap_or_default().to_owned()
        };
        assert!(first_variant(&plain_master).starts_with("QualityLevels(600000)"), "{dc}: {plain_master}");
        let (_, _, first) = get(format!("{base}/manifest(format=m3u8-aapl,filter=first300)")).await;
        assert!(first_variant(&first).starts_with("QualityLevels(300000)"), "{dc}: {first}");
        assert!(first.contains("QualityLevels(600000)"), "{dc}: first quality removes nothing: {first}");

        // A filter bound to the locator applies without filter= in the URL.
        let bound_base = format!("http://{}/{bound}/Clip.ism", served.addr);
        let (status, _, bound_mpd) = get(format!("{bound_base}/manifest(format=mpd-time-csf)")).await;
        assert_eq!(status, 200, "{dc}: {bound_mpd}");
        assert!(!bound_mpd.contains("video_600000") && bound_mpd.contains("video_300000"), "{dc}: {bound_mpd}");
        let (status, _, _) = get(format!("{bound_base}/QualityLevels(600000)/Manifest(video,format=m3u8-cmaf)")).await;
        assert_eq!(status, 404, "{dc}: a quality level the locator's filter removes");

        // An unknown filter is a 400 naming it.
        let (status, _, body) = get(format!("{base}/manifest(format=m3u8-cmaf,filter=low;nope)")).await;
        assert_eq!((status, body.trim()), (400, "unknown filter: nope"), "{dc}");
        // Filters that leave nothing to play are refused, naming why.
        let (status, _, body) = get(format!("{base}/manifest(format=mpd-time-csf,filter=late)")).await;
        assert_eq!((status, body.contains("no fragment")), (400, true), "{dc}: {body}");
        let (status, _, body) = get(format!("{base}/manifest(filter=textonly)")).await;
        assert_eq!((status, body.trim()), (400, "the filters leave no video and no audio"), "{dc}");
    }

    // verify compares filter records: alike after the run, then B's missing one is named.
    let audit = run(s(&["verify", "--from", "a", "--to", "b", "--all", "--format", "json"])).await;
    assert_eq!((audit.code, &audit.json()["identical"]), (0, &serde_json::json!(true)), "{}", audit.stdout);
    assert!(
        audit.stdout.contains("/filters/mid") && audit.stdout.contains("account/filters/first300"),
        "{}",
        audit.stdout
    );
    run(s(&["filter", "delete", "--dc", "b", "--asset", &p.asset, "mid"])).await.ok();
    let audit = run(s(&["verify", "--from", "a", "--to", "b", "--all"])).await;
    assert_ne!(audit.code, 0, "{}", audit.stdout);
    assert!(
        audit.stdout.lines().any(|l| l.trim_start().starts_with("- filter")
            && l.contains("/filters/mid")
            && l.contains("missing in B")),
        "{}",
        audit.stdout
    );
}

/// Every bad filter is refused at `filter create` with exit 2 and one line naming what is
/// wrong, from flags and from a v3 file alike; nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_filter_is_refused_at_create_with_exit_2() {
    let sb = crate::helpers::Sandbox::start().await;
    let write = |name: &str, json: String| {
        let path = sb.dir.path().join(name);
        std::fs::write(&path, json).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let condition = r#"{"property":"Type","operation":"Equal","value":"Video"}"#;
    let eleven = write(
        "eleven.json",
        format!(r#"{{"name":"f","tracks":[{{"trackSelections":[{}]}}]}}"#, [condition; 11].join(",")),
    );
    let ten = format!(r#"{{"trackSelections":[{}]}}"#, [condition; 10].join(","));
    let too_many = write("many.json", format!(r#"{{"name":"f","tracks":[{}]}}"#, vec![ten.as_str(); 101].join(",")));
    let unknown_property = write("prop.json", r#"{"name":"f","presentationTimeRange":{"startTimeStamp":1}}"#.into());
    let unknown_operation = write(
        "op.json",
        r#"{"name":"f","tracks":[{"trackSelections":[{"property":"Bitrate","operation":"GreaterThan","value":"1"}]}]}"#
            .into(),
    );
    let unknown_condition = write(
        "cond.json",
        r#"{"name":"f","tracks":[{"trackSelections":[{"property":"Colour","operation":"Equal","value":"red"}]}]}"#
            .into(),
    );
    let long_name = "n".repeat(129);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["f", "--start", "20", "--end", "10"], "endTimestamp"),
        (vec!["f", "--start", "10", "--end", "10"], "endTimestamp"),
        (vec!["f", "--end", "9223372036854775808"], "endTimestamp"),
        (vec!["f", "--start", "99999999999999999999999"], "startTimestamp"),
        (vec!["f", "--timescale", "0"], "timescale"),
        (vec!["f", "--first-quality", "0"], "firstQuality"),
        (vec!["f", "--track", "Type=Subtitle"], "Subtitle"),
        (vec!["f", "--track", "Bitrate=9-1"], "Bitrate"),
        (vec!["f", "--track", "Colour=red"], "Colour"),
        (vec!["f", "--track", "Type"], "PROPERTY=VALUE"),
        (vec!["a;b"], "filter name"),
        (vec!["a.b", "--first-quality", "1"], "filter name"),
        (vec![&long_name, "--first-quality", "1"], "filter name"),
        (vec!["--file", &eleven], "11 conditions"),
        (vec!["--file", &too_many], "1010 conditions"),
        (vec!["--file", &unknown_property], "startTimeStamp"),
        (vec!["--file", &unknown_operation], "GreaterThan"),
        (vec!["--file", &unknown_condition], "Colour"),
        (vec!["f", "--file", &eleven, "--start", "1"], "--file"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["filter", "create", "--dc", "a"];
        all.extend(&args);
        sb.run(&all).await.usage_error(needle);
    }
    let listed = sb.run(&["--json", "filter", "list", "--dc", "a"]).await.ok().json();
    assert_eq!(listed, serde_json::json!([]), "nothing was written");
}

/// `filter import` reads what `az ams asset-filter list` and `account-filter list` print: each
/// filter checked alone, a bad one rejected naming its field while the others are written; a
/// second run finds them (nothing overwritten).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v3_filter_export_is_imported_filter_by_filter_with_bad_ones_rejected() {
    let sb = crate::helpers::Sandbox::start().await;
    let asset = sb.run(&["asset", "create", "--dc", "a", "--name", "Clip", "--json"]).await.ok().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let arm = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Media/mediaservices/ams";
    let export = format!(
        r#"[
      {{"id": "{arm}/assets/Clip-in/assetFilters/mid", "name": "mid", "type": "Microsoft.Media/mediaservices/assets/assetFilters",
        "presentationTimeRange": {{"startTimestamp": 20000000, "endTimestamp": 40000000, "timescale": 10000000,
          "presentationWindowDuration": 9223372036854775807, "liveBackoffDuration": 0, "forceEndTimestamp": false}},
        "tracks": [{{"trackSelections": [{{"property": "Type", "operation": "Equal", "value": "Video"}}]}}]}},
      {{"id": "{arm}/accountFilters/mobile", "name": "mobile", "firstQuality": {{"bitrate": 300000}}}},
      {{"id": "{arm}/accountFilters/broken", "name": "broken", "presentationTimeRange": {{"timescale": 0}}}}
    ]"#
    );
    let path = sb.dir.path().join("filters.json");
    std::fs::write(&path, export).unwrap();
    let path = path.to_str().unwrap();

    let without_asset = sb.run(&["--json", "filter", "import", "--dc", "a", path]).await;
    assert_eq!(without_asset.code, 1, "{}", without_asset.stdout);
    let lines = without_asset.json();
    assert!(lines[0]["message"].as_str().unwrap().contains("--asset"), "{lines}");
    assert_eq!(lines[1]["action"], "created", "the account filter needs no asset: {lines}");

    let run = sb.run(&["--json", "filter", "import", "--dc", "a", "--asset", &asset, path]).await;
    assert_eq!(run.code, 1, "a rejected filter is a failure of the run: {}", run.stdout);
    let actions: Vec<(String, String)> = run
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap().to_owned(), l["action"].as_str().unwrap().to_owned()))
        .collect();
    let want = [("mid", "created"), ("mobile", "exists"), ("broken", "rejected")];
    assert_eq!(actions, want.map(|(n, a)| (n.to_owned(), a.to_owned())), "{}", run.stdout);
    assert!(run.stdout.contains("timescale"), "the rejection names its field: {}", run.stdout);
    let mid = sb.run(&["--json", "filter", "show", "--dc", "a", "--asset", &asset, "mid"]).await.ok().json();
    assert_eq!(mid["presentationTimeRange"]["endTimestamp"], 40_000_000, "{mid}");
    sb.run(&["filter", "show", "--dc", "a", "mobile"]).await.ok();
    let again = sb.run(&["--json", "filter", "import", "--dc", "a", "--asset", &asset, path]).await;
    let again: Vec<String> =
        again.json().as_array().unwrap().iter().map(|l| l["action"].as_str().unwrap().to_owned()).collect();
    assert_eq!(again, ["exists", "exists", "rejected"]);
}

/// The v3 export of tests/data/ams/v3: tears-of-steel-encoded (container asset-1a2b3c4d-…) has
/// asset filters `mid` (2-4 s) and `low` (video to 400 kb/s, and audio), elephants-dream-encoded
/// an asset filter `mobile` (first quality), the account `first300` and `mobile` (a track
/// selection); locator 5e6f7a8b-… of tears binds `low`.
const TEARS: &str = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const ELEPHANTS: &str = "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e";
const TEARS_LOCATOR: &str = "3c4d5e6f-7a8b-4c9d-8e0f-2a3b4c5d6e7f";
const TEARS_BOUND_LOCATOR: &str = "5e6f7a8b-9c0d-4e1f-8a2b-4c5d6e7f8091";
const ELEPHANTS_LOCATOR: &str = "4d5e6f7a-8b9c-4d0e-9f1a-3b4c5d6e7f80";

/// The clip's files put in `container` of `store`, as Media Services left an encoded asset.
async fn clip_container(store: &dyn mirrorcast_core::store::BlobStore, container: &str, folder: &std::path::Path) {
    use mirrorcast_core::store::{BlobProperties, PutOptions};
    store.create_container(container).await.unwrap();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let properties =
            BlobProperties { content_type: Some(mirrorcast_core::mime::mime_type_for(&name)), ..Default::default() };
        let options = PutOptions { properties, ..Default::default() };
        store.put_blob(container, &name, std::fs::read(&path).unwrap().into(), &options).await.unwrap();
    }
}

/// A v3 export with asset filters, account filters and a locator bound to a filter, imported
/// into A (a second import finds every record), served, replicated to B and served alike; and
/// each bad filter of an export rejected on its own line while the good ones are imported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v3_export_with_filters_is_imported_served_and_replicated() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let folder = write_clip(f.dir.path());
    let a = f.dcs.a.store();
    for guid in [TEARS, ELEPHANTS] {
        clip_container(&a, &format!("asset-{guid}"), &folder).await;
    }
    let v3 = format!("{DATA}/v3");
    let done = f.run(&["import", "--dc", "a", &v3, "--json"]).await.ok().json();
    assert_eq!((done["totals"]["created"].as_u64(), done["totals"]["filters"].as_u64()), (Some(10), Some(5)), "{done}");
    let again = f.run(&["import", "--dc", "a", &v3, "--json"]).await.ok().json();
    assert_eq!(
        (again["totals"]["exists"].as_u64(), again["totals"]["created"].as_u64()),
        (Some(10), Some(0)),
        "{again}"
    );
    let listed = f.run(&["--json", "filter", "list", "--dc", "a", "--asset", TEARS]).await.ok().json();
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["low", "mid"], "{listed}");

    // Every bad filter of the issue's list on its own line; the good ones around them imported.
    let hostile = f.run(&["import", "--dc", "a", &format!("{DATA}/hostile/filters.json"), "--json"]).await;
    assert_eq!(hostile.code, 1, "{}", hostile.stderr);
    let report = hostile.json();
    assert_eq!((report["totals"]["invalid"].as_u64(), report["totals"]["created"].as_u64()), (Some(12), Some(2)));
    let records = report["records"].as_array().unwrap();
    for (id, needle) in [
        ("end-before-start", "not after startTimestamp"),
        ("past-2-63", "past 2^63-1"),
        ("timescale-zero", "timescale is 0"),
        ("eleven-conditions", "11 conditions"),
        ("over-1000-conditions", "1001 conditions"),
        ("unknown-property", "'Colour'"),
        ("unknown-operation", "'GreaterThan'"),
        ("unknown-field", "'startTimeStamp'"),
        ("a;b", "filter name"),
        ("v2 bad", "filter name"),
    ] {
        let line = records.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("no line for {id}: {report}"));
        assert_eq!((&line["kind"], &line["action"]), (&"filter".into(), &"invalid".into()), "{line}");
        assert!(line["message"].as_str().unwrap().contains(needle), "{id}: {line}");
    }
    f.run(&["filter", "show", "--dc", "a", "kept-after"]).await.ok();

    let copied = f.run(&["replicate", "--from", "a", "--to", "b", "--all", "--json"]).await.ok().json();
    assert_eq!(copied["totals"]["failed"], 0, "{copied}");

    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (served_a, served_b) =
        tokio::join!(serve_dc(f.dir.path(), &env, "a", &[]), serve_dc(f.dir.path(), &env, "b", &[]));
    let sources = clip_sources(&folder);
    let first_variant =
        |m: &str| m.lines().skip_while(|l| !l.starts_with("#EXT-X-STREAM-INF")).nth(1).unwrap_or_default().to_owned();
    let mut bodies: Vec<Vec<String>> = Vec::new();
    for (dc, served) in [("A", &served_a), ("B", &served_b)] {
        let at = |locator: &str, rest: &str| format!("http://{}/{locator}/Clip.ism/{rest}", served.addr);
        assert_hls_trimmed_to_2_4_s(dc, &at(TEARS_LOCATOR, "manifest(format=m3u8-cmaf,filter=mid)"), &sources);

        // The locator-bound filter applies without filter= in the URL.
        let (status, _, bound) = get(at(TEARS_BOUND_LOCATOR, "manifest(format=m3u8-cmaf)")).await;
        assert_eq!(status, 200, "{dc}: {bound}");
        assert!(!bound.contains("QualityLevels(600000)") && bound.contains("QualityLevels(300000)"), "{dc}: {bound}");
        let (_, _, plain) = get(at(TEARS_LOCATOR, "manifest(format=m3u8-cmaf)")).await;
        assert!(plain.contains("QualityLevels(600000)"), "{dc}: the other locator binds nothing: {plain}");
        // An account filter, and an asset filter winning over the account filter of its name.
        let (_, _, first) = get(at(TEARS_LOCATOR, "manifest(format=m3u8-aapl,filter=first300)")).await;
        assert!(first_variant(&first).starts_with("QualityLevels(300000)"), "{dc}: {first}");
        let (_, _, tears_mobile) = get(at(TEARS_LOCATOR, "manifest(format=m3u8-aapl,filter=mobile)")).await;
        assert!(!tears_mobile.contains("QualityLevels(600000)"), "{dc}: the account's mobile: {tears_mobile}");
        let (_, _, elephants_mobile) = get(at(ELEPHANTS_LOCATOR, "manifest(format=m3u8-aapl,filter=mobile)")).await;
        assert!(
            first_variant(&elephants_mobile).starts_with("QualityLevels(300000)")
                && elephants_mobile.contains("QualityLevels(600000)"),
            "{dc}: the asset's own mobile (first quality) wins: {elephants_mobile}"
        );
        let mut served_bodies = Vec::new();
        for url in [
            at(TEARS_BOUND_LOCATOR, "manifest"),
            at(TEARS_BOUND_LOCATOR, "manifest(format=mpd-time-csf)"),
            at(TEARS_LOCATOR, "manifest(filter=mid)"),
            at(TEARS_LOCATOR, "manifest(format=mpd-time-csf,filter=mid;low)"),
            at(TEARS_LOCATOR, "QualityLevels(300000)/Manifest(video,format=m3u8-cmaf,filter=mid)"),
        ] {
            let (status, _, body) = get(url.clone()).await;
            assert_eq!(status, 200, "{dc}: {url}: {body}");
            served_bodies.push(body);
        }
        bodies.push(served_bodies);
    }
    assert_eq!(bodies[0], bodies[1], "B serves the filtered manifests A serves");
    // The trimmed Smooth manifest lasts what its chunks do (from 2 s), not up to their end.
    let trimmed = mirrorcast_media::ismc::ClientManifest::parse(&bodies[0][2]).unwrap();
    let longest = trimmed
        .streams
        .iter()
        .map(|stream| {
            let span: u64 = stream.fragments().iter().map(|(_, d)| d).sum();
            let scale = stream.timescale.unwrap_or(trimmed.timescale);
            (span as u128 * trimmed.timescale as u128).div_ceil(scale as u128) as u64
        })
        .max();
    assert_eq!(Some(trimmed.duration), longest, "{}", &bodies[0][2]);

    // verify --http: each locator's manifests, with its bound filters and with each asset filter.
    let (a_url, b_url) = (format!("http://{}", served_a.addr), format!("http://{}", served_b.addr));
    let args = ["verify", "--http", "--from", "a", "--to", "b", "--from-url", &a_url, "--to-url", &b_url, "--json"];
    let audit = f.run(&args).await;
    let report = audit.json();
    assert_eq!((audit.code, &report["identical"]), (0, &serde_json::json!(true)), "{report:#}");
    let entries: Vec<&serde_json::Value> =
        report["assets"].as_array().unwrap().iter().flat_map(|a| a["entries"].as_array().unwrap()).collect();
    for wanted in [
        format!("/{TEARS_LOCATOR}/Clip.ism/manifest(filter=mid)"),
        format!("/{TEARS_LOCATOR}/Clip.ism/manifest(format=mpd-time-csf,filter=low)"),
        format!("/{TEARS_BOUND_LOCATOR}/Clip.ism/manifest(format=m3u8-cmaf,filter=mid)"),
        format!("/{TEARS_LOCATOR}/Clip.ism/QualityLevels(300000)/Manifest(video,format=m3u8-aapl,filter=mid)"),
        format!("/{ELEPHANTS_LOCATOR}/Clip.ism/manifest(format=m3u8-aapl,filter=mobile)"),
    ] {
        assert!(entries.iter().any(|e| e["path"] == wanted.as_str()), "{wanted} not compared: {report:#}");
    }
    // A filter changed in B: its manifests differ, reported under its name.
    f.run(&["filter", "delete", "--dc", "b", "--asset", TEARS, "mid"]).await.ok();
    f.run(&["filter", "create", "--dc", "b", "--asset", TEARS, "mid", "--start", "0", "--end", "40000000"]).await.ok();
    // Origins keep records a few seconds: wait until B serves its new mid.
    let mid = |base: &str| get(format!("{base}/{TEARS_LOCATOR}/Clip.ism/manifest(filter=mid)"));
    let from_a = mid(&a_url).await.2;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while mid(&b_url).await.2 == from_a {
        assert!(std::time::Instant::now() < deadline, "B still serves A's mid");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let audit = f.run(&args).await;
    let report = audit.json();
    assert_ne!(audit.code, 0, "{report:#}");
    let differing: Vec<&serde_json::Value> = report["assets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["entries"].as_array().unwrap())
        .filter(|e| e["marker"] != "=")
        .collect();
    assert!(!differing.is_empty(), "{report:#}");
    for e in &differing {
        assert!(e["detail"].as_str().unwrap().starts_with("filter 'mid': served bytes differ"), "{e}");
        assert!(e["path"].as_str().unwrap().contains("filter=mid"), "{e}");
    }
}
