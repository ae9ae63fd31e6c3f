use mirrorcast_core::store::BlobStore;

use crate::helpers::{write_sample, Sandbox};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_upload_locate_and_delete_an_asset_on_azurite() {
    let sb = Sandbox::start().await;
    let created = sb.run(&["asset", "create", "--dc", "a", "--name", "Big Buck Bunny", "--json"]).await.ok();
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("nb:cid:UUID:"), "{id}");

    let listed = sb.run(&["asset", "list", "--dc", "a", "--json"]).await.ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "Big Buck Bunny");

    let folder = sb.dir.path().join("encoded");
    write_sample(&folder, 256 * 1024);
    let up = sb.run(&["asset", "upload", "--dc", "a", &id, folder.to_str().unwrap(), "--json"]).await.ok().json();
    assert_eq!(up["files"], 10);
    assert_eq!(up["primary"], "Big Buck Bunny.ism");

    let shown = sb.run(&["asset", "show", "--dc", "a", &id, "--json"]).await.ok().json();
    let files = shown["files"].as_array().unwrap();
    assert_eq!(files.len(), 10);
    let primaries: Vec<&str> =
        files.iter().filter(|f| f["is_primary"] == true).map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(primaries, ["Big Buck Bunny.ism"]);
    let rendition = files.iter().find(|f| f["name"] == "Big Buck Bunny_1920x1080_6000.mp4").unwrap();
    assert_eq!(rendition["size"], 256 * 1024);
    assert_eq!(rendition["mime_type"], "video/mp4");

    let guid = "7b1f0c2e-1d2a-4c55-9a0e-3f7f6a1b2c3d";
    let made =
        sb.run(&["locator", "create", "--dc", "a", &id, "--type", "origin", "--id", guid, "--json"]).await.ok().json();
    assert_eq!(made["locator"]["id"], format!("nb:lid:UUID:{guid}"));
    let again = sb.run(&["locator", "create", "--dc", "a", &id, "--type", "origin", "--id", guid]).await;
    assert_eq!(again.code, 1, "a second locator with the same id must fail: {}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    let urls = sb.run(&["locator", "urls", "--dc", "a", &id, "--json"]).await.ok().json();
    let smooth = urls[0]["urls"]["smooth"].as_str().unwrap();
    assert!(smooth.ends_with(&format!("/{guid}/Big%20Buck%20Bunny.ism/manifest")), "{smooth}");
    assert!(urls[0]["urls"]["hls"].as_str().unwrap().ends_with("manifest(format=m3u8-aapl)"));
    assert!(urls[0]["urls"]["dash"].as_str().unwrap().ends_with("manifest(format=mpd-time-csf)"));

    // Two locators share one read-only policy of the same duration.
    let second = sb.run(&["locator", "create", "--dc", "a", &id, "--json"]).await.ok().json();
    assert_eq!(second["locator"]["policy_id"], made["locator"]["policy_id"]);
    let policies = sb.run(&["policy", "list", "--dc", "a", "--json"]).await.ok().json();
    assert_eq!(policies.as_array().unwrap().len(), 1, "equal policies must be reused: {policies}");
    assert_eq!(policies[0]["permissions"], "r");

    sb.run(&["asset", "delete", "--dc", "a", &id]).await.ok();
    let listed = sb.run(&["asset", "list", "--dc", "a", "--json"]).await.ok().json();
    assert!(listed.as_array().unwrap().is_empty());
    let store = sb.azurite.store("devstoreaccount1");
    assert!(store.list_containers("asset-").await.unwrap().is_empty(), "the asset's container must be gone");
    let locators = sb.run(&["locator", "list", "--dc", "a", "--json"]).await.ok().json();
    assert!(locators.as_array().unwrap().is_empty(), "the asset's locators must be gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_is_uploaded_in_blocks_with_its_md5() {
    let sb = Sandbox::start().await;
    let id = sb.run(&["asset", "create", "--dc", "a", "--name", "big", "--json"]).await.ok().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = sb.dir.path().join("movie 4k.mp4");
    let data = mirrorcast_core::sample::mp4(9 * 1024 * 1024 + 123, 5);
    std::fs::write(&path, &data).unwrap();
    let up = sb
        .run(&["asset", "upload", "--dc", "a", &id, path.to_str().unwrap(), "--block-size-mib", "2", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(up["bytes"], data.len() as u64);
    let container = id.replace("nb:cid:UUID:", "asset-");
    let store = sb.azurite.store("devstoreaccount1");
    let head = store.head_blob(&container, "movie 4k.mp4").await.unwrap();
    assert_eq!(head.size, data.len() as u64);
    use base64::Engine as _;
    use md5::Digest as _;
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&data));
    assert_eq!(head.properties.content_md5.as_deref(), Some(md5.as_str()), "the blob must carry the MD5 of its bytes");
    assert_eq!(head.properties.content_type.as_deref(), Some("video/mp4"));
}

#[tokio::test]
async fn upload_progress_is_plain_lines_on_stderr_off_a_terminal_and_never_on_stdout() {
    let sb = Sandbox::start().await;
    let id = sb.run(&["asset", "create", "--dc", "a", "--name", "progress", "--json"]).await.ok().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let folder = sb.dir.path().join("encoded");
    write_sample(&folder, 256 * 1024);
    let up = sb.run(&["asset", "upload", "--dc", "a", &id, folder.to_str().unwrap()]).await.ok();
    assert!(up.stderr.contains("upload 10 file(s): done"), "{}", up.stderr);
    assert!(up.stderr.lines().any(|l| l.starts_with("upload 10 file(s): ") && l.contains("% (")), "{}", up.stderr);
    assert!(!up.stdout.contains("upload 10 file(s)"), "progress on stdout: {}", up.stdout);
    let quiet = sb.run(&["asset", "upload", "--dc", "a", &id, folder.to_str().unwrap(), "--json"]).await.ok();
    assert!(!quiet.stderr.contains("upload 10 file(s)"), "--json shows no progress: {}", quiet.stderr);
}

/// `YYYY-MM-DDTHH:MM:SSZ`: RFC 3339 to the second, in UTC.
fn is_time_to_the_second(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.len() == 20 && s.ends_with('Z')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_output_prints_times_to_the_second_and_json_keeps_their_full_precision() {
    let sb = Sandbox::start().await;
    let id = sb.create_asset("times").await;
    let json = sb.run(&["asset", "show", "--dc", "a", &id, "--json"]).await.ok().json();
    let created = json["asset"]["created"].as_str().or(json["created"].as_str()).unwrap_or_else(|| panic!("{json}"));
    assert!(created.contains('.'), "--json keeps the sub-second part: {created}");
    let text = sb.run(&["asset", "show", "--dc", "a", &id]).await.ok().stdout;
    let shown = text.lines().find_map(|l| l.strip_prefix("created:")).unwrap_or_else(|| panic!("{text}")).trim();
    assert!(is_time_to_the_second(shown), "{shown}");
    assert!(created.starts_with(shown.trim_end_matches('Z')), "the same time: {shown} {created}");
    let listed = sb.run(&["asset", "list", "--dc", "a"]).await.ok().stdout;
    assert!(listed.split_whitespace().any(is_time_to_the_second), "{listed}");
    sb.run(&["locator", "create", "--dc", "a", &id]).await.ok();
    let locators = sb.run(&["locator", "list", "--dc", "a"]).await.ok().stdout;
    let times: Vec<&str> = locators.split_whitespace().filter(|w| w.contains(':') && w.starts_with("20")).collect();
    assert!(!times.is_empty() && times.iter().all(|t| is_time_to_the_second(t)), "{locators}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locator_create_backdates_by_a_duration_and_still_takes_the_old_minutes_flag() {
    let sb = Sandbox::start().await;
    let id = sb.create_asset("backdated").await;
    for (flags, minutes) in [(["--backdate", "1h"], 60), (["--backdate-minutes", "10"], 10)] {
        let before = chrono::Utc::now();
        let args = ["locator", "create", "--dc", "a", &id, "--json", flags[0], flags[1]];
        let locator = sb.run(&args).await.ok().json();
        let start = locator["start_time"].as_str().or(locator["locator"]["start_time"].as_str());
        let start = chrono::DateTime::parse_from_rfc3339(start.unwrap_or_else(|| panic!("{locator}"))).unwrap();
        let back = (before - start.with_timezone(&chrono::Utc)).num_seconds();
        assert!((minutes * 60 - 5..=minutes * 60 + 5).contains(&back), "{flags:?}: started {back} s back");
    }
}
