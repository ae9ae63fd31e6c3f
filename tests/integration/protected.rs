//! Protected streams are never served in the clear. A Media Services library
//! imported from an `az ams` export holds a locator streamed with DRM
//! (`Predefined_MultiDrmCencStreaming`, a content key, a content key policy)
//! and one that only allowed downloads (`Predefined_DownloadOnly`), on one
//! asset. From A and, after replicate, from B, each served without its KEK (it
//! says so once at start): every format of the DRM locator is a 503 naming the
//! missing KEK and every file a 403, with no media byte; the download-only locator's
//! manifests are refused and its MP4 is served; `verify --http` marks both as
//! not servable; the listings say so; `--output ams` keeps each locator's own
//! streaming policy name (their access policy is one record: equal terms).

use bytes::Bytes;
use mirrorcast_azurite::{Persistence, TwoDataCenters};
use mirrorcast_core::mime::mime_type_for;
use mirrorcast_core::store::{BlobProperties, BlobStore, BlobStoreExt, PutOptions};

use crate::replicate::Failover;
use crate::serve::{publish_media_in, serve_dc};

const ASSET: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d";
const DRM: &str = "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e";
const DOWNLOAD: &str = "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f";
const KEY: &str = "8d9e0f1a-2b3c-4d4e-9f5a-6b7c8d9e0f1a";
const ARM: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/media-rg/providers/Microsoft.Media/mediaservices/amsmedia03";

/// `az ams asset list` and `az ams streaming-locator list`, as the CLI prints them.
fn write_export(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let assets = format!(
        r#"[{{"alternateId": null, "assetId": "{ASSET}", "container": "asset-{ASSET}",
  "created": "2022-03-01T10:00:00.000000+00:00", "description": null,
  "id": "{ARM}/assets/clip-drm", "lastModified": "2022-03-01T10:05:00.000000+00:00",
  "name": "clip-drm", "resourceGroup": "media-rg", "storageAccountName": "amsstore03",
  "storageEncryptionFormat": "None", "systemData": null, "type": "Microsoft.Media/mediaservices/assets"}}]"#
    );
    let locator = |name: &str, id: &str, policy: &str, keys: &str, key_policy: &str| {
        format!(
            r#"{{"alternativeMediaId": null, "assetName": "clip-drm", "contentKeys": {keys},
  "created": "2022-03-01T10:06:00.000000+00:00", "defaultContentKeyPolicyName": {key_policy},
  "endTime": "9999-12-31T23:59:59.999999+00:00", "filters": [],
  "id": "{ARM}/streamingLocators/{name}", "name": "{name}", "resourceGroup": "media-rg",
  "startTime": "2022-03-01T10:06:00+00:00", "streamingLocatorId": "{id}",
  "streamingPolicyName": "{policy}", "systemData": null, "type": "Microsoft.Media/mediaservices/streamingLocators"}}"#
        )
    };
    let keys = format!(
        r#"[{{"id": "{KEY}", "labelReferenceInStreamingPolicy": "cencDefaultKey", "policyName": "drm-policy", "tracks": [], "type": "CommonEncryptionCenc", "value": null}}]"#
    );
    let locators = format!(
        "[{},\n{}]",
        locator("locator-drm", DRM, "Predefined_MultiDrmCencStreaming", &keys, "\"drm-policy\""),
        locator("locator-download", DOWNLOAD, "Predefined_DownloadOnly", "[]", "null")
    );
    std::fs::write(dir.join("assets.json"), assets).unwrap();
    std::fs::write(dir.join("streaming-locators.json"), locators).unwrap();
}

/// The encoded clip (made and published by the serve tests' helper), copied into the container
/// Media Services left for asset `guid` in A: the asset of an export. Returns 32 bytes from the
/// middle of each rendition (a body holding one of them leaks media).
async fn clip_in_ams_container(f: &Failover, env: &[(&str, &str)], guid: &str) -> Vec<Vec<u8>> {
    publish_media_in(f.dir.path(), env).await;
    let clip = f.dir.path().join("clip");
    let a = f.dcs.a.store();
    let container = format!("asset-{guid}");
    a.create_container(&container).await.unwrap();
    let mut media_bytes = Vec::new();
    for entry in std::fs::read_dir(&clip).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let bytes = std::fs::read(&path).unwrap();
        if name.ends_with(".mp4") {
            media_bytes.push(bytes[bytes.len() / 2..bytes.len() / 2 + 32].to_vec());
        }
        let options = PutOptions {
            properties: BlobProperties { content_type: Some(mime_type_for(&name)), ..Default::default() },
            ..Default::default()
        };
        a.put_blob(&container, &name, Bytes::from(bytes), &options).await.unwrap();
    }
    media_bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_drm_locator_is_never_served_in_the_clear_from_a_or_b() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let media_bytes = clip_in_ams_container(&f, &env, ASSET).await;
    let clip = f.dir.path().join("clip");
    let export = f.dir.path().join("export");
    write_export(&export);
    let imported = f.run(&["import", "--dc", "a", export.to_str().unwrap(), "--json"]).await;
    // The export names the DRM locator's key but holds no value for it: that key alone is
    // `missing` (exit 1, re-key or add list-content-keys); the asset and its locators are written.
    assert_eq!(imported.code, 1, "{}\n{}", imported.stdout, imported.stderr);
    let report = imported.json();
    let actions: Vec<(&str, &str)> = report["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [("asset", "created"), ("locator", "created"), ("locator", "created"), ("content_key", "missing")],
        "{}",
        imported.stdout
    );
    let asset = format!("nb:cid:UUID:{ASSET}");
    f.run(&["replicate", "--from", "a", "--to", "b", "--asset", &asset]).await.ok();

    let (sa, sb) = tokio::join!(serve_dc(f.dir.path(), &env, "a", &[]), serve_dc(f.dir.path(), &env, "b", &[]));
    for (dc, served) in [("A", &sa), ("B", &sb)] {
        // Said right after the listening line; the test's reader of stderr may be a moment behind.
        let said = || served.stderr.lock().unwrap().contains("key-encryption key");
        for _ in 0..300 {
            if said() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let stderr = served.stderr.lock().unwrap().clone();
        let warned = stderr.matches("has no key-encryption key: its protected locators are refused").count();
        assert_eq!(warned, 1, "{dc}: one warning at start, naming what to set: {stderr}");
        assert!(stderr.contains(&format!("MIRRORCAST_KEK_{dc}")), "{stderr}");
    }
    let http = reqwest::Client::new();
    let streams = [
        "Clip.ism/manifest",
        "Clip.ism/manifest(format=m3u8-aapl)",
        "Clip.ism/manifest(format=m3u8-aapl-v3).m3u8",
        "Clip.ism/manifest(format=m3u8-cmaf)",
        "Clip.ism/manifest(format=mpd-time-csf)",
        "Clip.ism/manifest(format=mpd-time-cmaf).mpd",
        "Clip.ism/QualityLevels(600000)/Manifest(video,format=m3u8-cmaf)",
        "Clip.ism/QualityLevels(600000)/Fragments(video=i,format=m3u8-cmaf).mp4",
        "Clip.ism/QualityLevels(600000)/Fragments(video=0,format=m3u8-cmaf).m4s",
        "Clip.ism/QualityLevels(600000)/Fragments(video=0,format=m3u8-aapl).ts",
        "Clip.ism/QualityLevels(600000)/Fragments(video=0)",
    ];
    let files = ["Clip_320x180_600.mp4", "Clip_160x90_300.mp4", "Clip.ism", "Clip.ismc"];
    for (dc, origin) in [("A", &sa.addr), ("B", &sb.addr)] {
        for path in streams.iter().chain(&files) {
            let r = http.get(format!("http://{origin}/{DRM}/{path}")).send().await.unwrap();
            let file = files.contains(path);
            // Files never (403); streams not without the KEK that opens their keys (503, naming it).
            assert_eq!(r.status(), if file { 403 } else { 503 }, "{dc} DRM {path}");
            let body = r.bytes().await.unwrap();
            let text = String::from_utf8_lossy(&body);
            assert!(text.starts_with("protected stream (Predefined_MultiDrmCencStreaming)"), "{dc} {path}: {text}");
            let why = if file { "no download" } else { "this origin has no key-encryption key" };
            assert!(text.contains(why), "{dc} {path}: {text}");
            assert!(body.len() < 130, "{dc} {path}: a short refusal, no media");
            assert!(!media_bytes.iter().any(|m| body.windows(m.len()).any(|w| w == &m[..])), "{dc} {path}");
            assert!(!text.contains(KEY), "{dc} {path}: never a key id");
        }
        for path in streams {
            let r = http.get(format!("http://{origin}/{DOWNLOAD}/{path}")).send().await.unwrap();
            assert_eq!(r.status(), 403, "{dc} download-only {path}");
            assert_eq!(r.text().await.unwrap(), "download only: no streaming\n", "{dc} {path}");
        }
        let mp4 = http.get(format!("http://{origin}/{DOWNLOAD}/Clip_320x180_600.mp4")).send().await.unwrap();
        assert_eq!(mp4.status(), 200, "{dc}: a download-only locator serves its files");
        assert_eq!(mp4.bytes().await.unwrap(), std::fs::read(clip.join("Clip_320x180_600.mp4")).unwrap(), "{dc}");
    }

    // The audit marks both as not servable, with the origin's reason; nothing is called identical.
    let (a_url, b_url) = (format!("http://{}", sa.addr), format!("http://{}", sb.addr));
    let args = ["verify", "--http", "--from", "a", "--to", "b", "--from-url", &a_url, "--to-url", &b_url];
    let audit = f.run(&[&args[..], &["--asset", &asset, "--json"]].concat()).await;
    let report = audit.json();
    assert_ne!(audit.code, 0, "{report:#}");
    let entries = report["assets"][0]["entries"].as_array().unwrap();
    for (locator, why) in [(DRM, "503: protected stream"), (DOWNLOAD, "403: download only")] {
        let of: Vec<&serde_json::Value> =
            entries.iter().filter(|e| e["path"].as_str().unwrap().starts_with(&format!("/{locator}/"))).collect();
        assert!(of.len() >= 3, "{locator}: Smooth, HLS and DASH: {report:#}");
        assert!(of.iter().all(|e| e["marker"] == "!" && e["detail"].as_str().unwrap().contains(why)), "{report:#}");
    }

    // The listings say what is not served, in A and in B.
    for dc in ["a", "b"] {
        let listed = f.run(&["locator", "list", "--dc", dc, &asset, "--json"]).await.ok().json();
        let serves = |id: &str| {
            listed.as_array().unwrap().iter().find(|l| l["id"].as_str().unwrap().ends_with(id)).unwrap()["serves"]
                .clone()
        };
        assert_eq!(serves(DRM), "protected: not served", "{dc}: {listed}");
        assert_eq!(serves(DOWNLOAD), "download only", "{dc}: {listed}");
        let urls = f.run(&["locator", "urls", "--dc", dc, &asset]).await.ok();
        assert!(
            urls.stdout.contains("not servable: protected stream (Predefined_MultiDrmCencStreaming)"),
            "{}",
            urls.stdout
        );
    }
    // Media Services' shape out: each locator keeps its own streaming policy name.
    let ams = f.run(&["locator", "list", "--dc", "a", &asset, "--output", "ams"]).await.ok().json();
    let text = ams.to_string();
    for (id, name) in [(DRM, "Predefined_MultiDrmCencStreaming"), (DOWNLOAD, "Predefined_DownloadOnly")] {
        let entry = ams["value"].as_array().unwrap().iter().find(|l| l["Id"].as_str().unwrap().ends_with(id));
        let entry = entry.unwrap_or_else(|| panic!("{id} in {text}"));
        assert_eq!(entry["AccessPolicy"]["Name"], name, "{text}");
    }
}

/// A v2 library protected by dynamic encryption: the assets' `Options` are 0 and the
/// protection is in their (`$expand`ed) content keys and delivery policies. Every
/// locator of such an asset is protected; one with `NoDynamicEncryption` only streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_asset_with_dynamic_encryption_policies_is_never_served_in_the_clear() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let env = f.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    const CLEAR: &str = "9e0f1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b";
    let media_bytes = clip_in_ams_container(&f, &env, ASSET).await;
    // The same blobs under a second asset whose only delivery policy is clear.
    let a = f.dcs.a.store();
    a.create_container(&format!("asset-{CLEAR}")).await.unwrap();
    for blob in a.list_all(&format!("asset-{ASSET}"), "").await.unwrap() {
        let got = a.get_blob(&format!("asset-{ASSET}"), &blob.name, None).await.unwrap();
        let bytes: Vec<Bytes> = futures::TryStreamExt::try_collect(got.stream).await.unwrap();
        a.put_blob(&format!("asset-{CLEAR}"), &blob.name, Bytes::from(bytes.concat()), &PutOptions::default())
            .await
            .unwrap();
    }
    let asset = |guid: &str, name: &str, policies: &str, keys: &str| {
        format!(
            r#"{{"Id": "nb:cid:UUID:{guid}", "State": 0, "Created": "2016-03-14T09:21:07.303", "Name": "{name}",
  "Options": 0, "Uri": "https://amsstore01.blob.core.windows.net/asset-{guid}",
  "ContentKeys": {keys}, "DeliveryPolicies": {{"results": {policies}}}}}"#
        )
    };
    let protected_policies = r#"[{"Id": "nb:adpid:UUID:1", "AssetDeliveryPolicyType": 4, "AssetDeliveryProtocol": 2},
  {"Id": "nb:adpid:UUID:2", "AssetDeliveryPolicyType": 3, "AssetDeliveryProtocol": 4}]"#;
    let key = format!(r#"[{{"Id": "nb:kid:UUID:{KEY}", "ContentKeyType": 1}}]"#);
    let assets = format!(
        r#"{{"value": [{}, {}]}}"#,
        asset(ASSET, "clip-v2-drm", protected_policies, &key),
        asset(CLEAR, "clip-v2-clear", r#"[{"Id": "nb:adpid:UUID:3", "AssetDeliveryPolicyType": 2}]"#, "[]")
    );
    let policies = r#"{"value": [{"Id": "nb:pid:UUID:2a3f6b1c-0d4e-4f5a-8b6c-7d8e9f0a1b2c", "Name": "Streaming policy",
  "DurationInMinutes": 52560000.0, "Permissions": 1}]}"#;
    let locator = |id: &str, guid: &str| {
        format!(
            r#"{{"Id": "nb:lid:UUID:{id}", "ExpirationDateTime": "2116-03-14T09:25:00", "Type": 2,
  "AccessPolicyId": "nb:pid:UUID:2a3f6b1c-0d4e-4f5a-8b6c-7d8e9f0a1b2c", "AssetId": "nb:cid:UUID:{guid}",
  "StartTime": "2016-03-14T09:25:00"}}"#
        )
    };
    let locators = format!(r#"{{"value": [{}, {}]}}"#, locator(DRM, ASSET), locator(DOWNLOAD, CLEAR));
    let export = f.dir.path().join("v2");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(export.join("Assets.json"), assets).unwrap();
    std::fs::write(export.join("AccessPolicies.json"), policies).unwrap();
    std::fs::write(export.join("Locators.json"), locators).unwrap();
    let imported = f.run(&["import", "--dc", "a", export.to_str().unwrap(), "--json"]).await;
    assert_eq!(imported.code, 0, "{}\n{}", imported.stdout, imported.stderr);

    let served = serve_dc(f.dir.path(), &env, "a", &[]).await;
    let http = reqwest::Client::new();
    for path in
        ["Clip.ism/manifest(format=m3u8-aapl)", "Clip.ism/manifest(format=mpd-time-csf)", "Clip_320x180_600.mp4"]
    {
        let r = http.get(format!("http://{}/{DRM}/{path}", served.addr)).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let body = r.bytes().await.unwrap();
        assert!(String::from_utf8_lossy(&body).starts_with("protected stream (DynamicCommonEncryption)"), "{path}");
        assert!(!media_bytes.iter().any(|m| body.windows(m.len()).any(|w| w == &m[..])), "{path}");
        let clear = http.get(format!("http://{}/{DOWNLOAD}/{path}", served.addr)).send().await.unwrap();
        assert_eq!(clear.status(), 200, "NoDynamicEncryption: {path}");
    }
    let listed = f.run(&["locator", "list", "--dc", "a", "--json"]).await.ok().json();
    let drm = listed.as_array().unwrap().iter().find(|l| l["id"].as_str().unwrap().ends_with(DRM)).unwrap();
    assert_eq!(drm["serves"], "protected: not served", "{listed}");
    assert_eq!(drm["delivery"]["contentKeyIds"][0], format!("nb:kid:UUID:{KEY}"), "{listed}");
}

/// A v2 library whose asset is streamed with dynamic envelope encryption
/// (tests/data/ams/v2-envelope: the asset's delivery policy, content key and its open
/// authorization policy, as v2 REST exports them): the locator is imported with its
/// id, bound to the policy and the key; the key is `missing` (v2 holds it encrypted
/// under Media Services' certificate), so A refuses the locator and no clear media
/// byte leaves. Once a key is given under that id (`content-key create --id`), ffmpeg
/// at its defaults reads the HLS (AES-128, the key from A's key delivery) to the end
/// with the source's frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_envelope_locator_keeps_its_id_waits_for_its_key_and_then_plays_hls_aes128() {
    use crate::serve::{differences, same_packets, source_frames_for_ts, ts_md5s};
    const V2_ASSET: &str = "3e4f5a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b";
    const V2_LOCATOR: &str = "8c9d0e1f-2a3b-4c4d-8e5f-6a7b8c9d0e1f";
    const V2_KEY: &str = "e4f5a6b7-c8d9-4e0f-9a1b-2c3d4e5f6a7b";
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let mut env = f.env();
    let kek = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        [*uuid::Uuid::new_v4().as_bytes(); 2].concat(),
    );
    env.push(("MIRRORCAST_KEK_A", kek));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let media_bytes = clip_in_ams_container(&f, &env, V2_ASSET).await;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/ams/v2-envelope");
    let run = |args: Vec<String>| {
        let env = env.clone();
        let dir = f.dir.path().to_path_buf();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::helpers::run_in(&dir, &env, &args).await
        }
    };
    let imported =
        run(vec!["import".into(), "--dc".into(), "a".into(), fixtures.to_str().unwrap().into(), "--json".into()]).await;
    let report = imported.json();
    let line = |kind: &str| {
        report["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("{kind} in {report}"))
    };
    assert_eq!(line("locator")["action"], "created", "{report}");
    assert_eq!(line("streaming_policy")["action"], "created", "{report}");
    assert_eq!(line("content_key_policy")["action"], "created", "{report}");
    let key_line = line("content_key");
    assert_eq!(key_line["action"], "missing", "{report}");
    assert!(key_line["message"].as_str().unwrap().contains(&format!("--id {V2_KEY}")), "{report}");

    let listed =
        run(vec!["locator".into(), "list".into(), "--dc".into(), "a".into(), "--json".into()]).await.ok().json();
    let locator = listed.as_array().unwrap().iter().find(|l| l["id"].as_str().unwrap().ends_with(V2_LOCATOR));
    let locator = locator.unwrap_or_else(|| panic!("the locator keeps its id: {listed}"));
    assert_eq!(locator["delivery"]["streamingPolicyName"], "envelope-hls", "{listed}");
    assert_eq!(locator["delivery"]["contentKeyIds"][0], format!("nb:kid:UUID:{V2_KEY}"), "{listed}");

    // The key is missing: every URL of the locator is refused, no clear media byte in any body.
    let served = serve_dc(f.dir.path(), &env, "a", &[]).await;
    let base = format!("http://{}", served.addr);
    let http = reqwest::Client::new();
    let master = format!("{base}/{V2_LOCATOR}/Clip.ism/manifest(format=m3u8-aapl)");
    for path in [
        "Clip.ism/manifest(format=m3u8-aapl)",
        "Clip.ism/QualityLevels(600000)/Manifest(video,format=m3u8-aapl)",
        "Clip.ism/manifest(format=mpd-time-csf)",
        "Clip_320x180_600.mp4",
    ] {
        let r = http.get(format!("{base}/{V2_LOCATOR}/{path}")).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.bytes().await.unwrap();
        assert!(status == 403 || status == 503, "{path}: {status} {}", String::from_utf8_lossy(&body));
        assert!(!media_bytes.iter().any(|m| body.windows(m.len()).any(|w| w == &m[..])), "{path}");
    }
    drop(served);

    // The operator gives a key under the id the locator is bound to: HLS AES-128 plays.
    let made = run(vec![
        "content-key".into(),
        "create".into(),
        "--dc".into(),
        "a".into(),
        "--type".into(),
        "envelope".into(),
        "--id".into(),
        V2_KEY.into(),
        "--policy".into(),
        "open-envelope".into(),
    ])
    .await;
    assert_eq!(made.code, 0, "{}\n{}", made.stdout, made.stderr);
    let served = serve_dc(f.dir.path(), &env, "a", &[]).await;
    let master = master.replace(&base, &format!("http://{}", served.addr));
    let text = http.get(&master).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(&format!("METHOD=AES-128,URI=\"/keys/aes128/{V2_KEY}\"")), "{text}");
    let clip = f.dir.path().join("clip");
    let (big, small) = (clip.join("Clip_320x180_600.mp4"), clip.join("Clip_160x90_300.mp4"));
    let want = source_frames_for_ts(&[big.to_str().unwrap(), small.to_str().unwrap()], big.to_str().unwrap());
    assert!(want.iter().all(|s| s.packets.len() > 20), "packets in every source stream");
    let got = ts_md5s(&master);
    assert!(
        same_packets(&got, &want),
        "HLS AES-128 of the v2 locator: the source's frames: {}",
        differences(&got, &want)
    );
}
