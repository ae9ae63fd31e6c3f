//! `serve` facing the internet on its own: HTTPS (a test certificate made here), a CDN's
//! shared-secret header, /metrics on a listener of its own, and a certificate reloaded by
//! SIGHUP under load without a failed request. ffmpeg verifies the certificate (its default is
//! not to: `-tls_verify 1` with our CA is the stricter setting, not a relaxed one).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{command_in, Sandbox};
use crate::serve::{publish_media, serve};

const SECRET: &str = "fdid-7c1e0b9a-42";

/// A self-signed certificate for `localhost`: (cert.pem, key.pem) in `dir`, named by `tag`.
fn certificate(dir: &Path, tag: &str) -> (String, String, reqwest::Certificate) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join(format!("{tag}.crt")), dir.join(format!("{tag}.key")));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let trusted = reqwest::Certificate::from_pem(made.cert.pem().as_bytes()).unwrap();
    (cert.to_str().unwrap().to_owned(), key.to_str().unwrap().to_owned(), trusted)
}

/// A client trusting exactly `trusted` (no system roots), with fresh connections when asked.
fn client(trusted: &[&reqwest::Certificate], fresh: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder().tls_built_in_root_certs(false).https_only(true);
    for c in trusted {
        b = b.add_root_certificate((*c).clone());
    }
    if fresh {
        b = b.pool_max_idle_per_host(0);
    }
    b.build().unwrap()
}

fn ffmpeg_packets(url: &str, tls: Option<&str>) -> String {
    let mut args: Vec<&str> = vec!["-v", "error"];
    let header = format!("X-Azure-FDID: {SECRET}\r\n");
    if let Some(ca) = tls {
        args.extend(["-tls_verify", "1", "-ca_file", ca, "-headers", &header]);
    }
    args.extend(["-i", url, "-map", "0", "-c", "copy", "-f", "framemd5", "-"]);
    let out = crate::serve::ffmpeg(&args);
    assert!(out.status.success(), "ffmpeg -i {url}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_required_header_plays_in_ffmpeg_and_a_sighup_reload_under_load_fails_no_request() {
    let sb = Sandbox::start().await;
    let p = publish_media(&sb).await;
    let dir = sb.dir.path();
    let (cert, key, first) = certificate(dir, "one");
    let conn = sb.connection_string();
    let env = [("MIRRORCAST_DC_A", conn.as_str()), ("CDN_SECRET", SECRET)];
    let args = [
        "serve",
        "--dc",
        "a",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--require-header",
        "X-Azure-FDID=env:CDN_SECRET",
        "--metrics-listen",
        "127.0.0.1:0",
    ];
    let mut child = command_in(dir, &env, &args).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut main, mut metrics) = (None, None);
    while main.is_none() || metrics.is_none() {
        let line = lines.next_line().await.unwrap().expect("serve exited before listening");
        if let Some((_, at)) = line.rsplit_once("at https://127.0.0.1:") {
            main = Some(at.trim().to_owned());
        } else if let Some((_, at)) = line.rsplit_once("on http://") {
            metrics = Some(at.trim().to_owned());
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let (port, metrics) = (main.unwrap(), metrics.unwrap());
    let base = format!("https://localhost:{port}/{}/Clip.ism", p.locator);
    let master = format!("{base}/manifest(format=m3u8-cmaf)");
    let http = client(&[&first], false);

    // The CDN's secret: with it the stream, without it 403 and no media; /healthz answers anyone.
    let ok = http.get(&master).header("X-Azure-FDID", SECRET).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().starts_with("#EXTM3U"));
    for wrong in [None, Some("fdid-7c1e0b9a-4"), Some("fdid-7c1e0b9a-43")] {
        let mut request = http.get(&master);
        if let Some(w) = wrong {
            request = request.header("X-Azure-FDID", w);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), 403, "{wrong:?}");
        assert!(!refused.text().await.unwrap().contains("#EXT"), "a refused request got media");
    }
    let health = http.get(format!("https://localhost:{port}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // /metrics only on its own listener.
    let on_main = http.get(format!("https://localhost:{port}/metrics")).header("X-Azure-FDID", SECRET).send().await;
    assert_ne!(on_main.unwrap().status(), 200, "/metrics faces viewers");
    let text = reqwest::get(format!("http://{metrics}/metrics")).await.unwrap().text().await.unwrap();
    // Three refused, and /metrics asked on the viewers' port.
    assert!(text.contains("mirrorcast_origin_responses_total{class=\"4xx\"} 4"), "{text}");
    // A client that does not trust the certificate is refused by its own TLS check.
    assert!(reqwest::get(&master).await.is_err(), "an untrusted certificate was accepted");

    // ffmpeg verifying the certificate reads what a plain-HTTP origin of the same data center serves.
    let plain = serve(dir, &env, &[]).await;
    for manifest in ["manifest(format=m3u8-cmaf)", "manifest(format=mpd-time-csf)"] {
        let over_tls = ffmpeg_packets(&format!("{base}/{manifest}"), Some(&cert));
        let over_http = ffmpeg_packets(&format!("http://{}/{}/Clip.ism/{manifest}", plain.addr, p.locator), None);
        assert!(over_tls.lines().count() > 100, "{manifest}: too few packets");
        assert_eq!(over_tls, over_http, "{manifest}: HTTPS and HTTP packets differ");
    }

    // Reload under load: requests keep succeeding; new connections then get the new certificate.
    let (new_cert, new_key, second) = certificate(dir, "two");
    let load = client(&[&first, &second], true);
    let (stop, failures, done) =
        (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (load, master, stop, failures, done) =
                (load.clone(), master.clone(), stop.clone(), failures.clone(), done.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let served = match load.get(&master).header("X-Azure-FDID", SECRET).send().await {
                        Ok(r) => r.status() == 200 && r.text().await.is_ok(),
                        Err(_) => false,
                    };
                    match served {
                        true => done.fetch_add(1, Ordering::Relaxed),
                        false => failures.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::rename(&new_cert, &cert).unwrap();
    std::fs::rename(&new_key, &key).unwrap();
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0, "requests failed across the reload");
    assert!(done.load(Ordering::Relaxed) > 10, "no load to speak of");
    let fresh_new = client(&[&second], true).get(&master).header("X-Azure-FDID", SECRET).send().await;
    assert_eq!(fresh_new.unwrap().status(), 200, "a new connection did not get the new certificate");
    let fresh_old = client(&[&first], true).get(&master).header("X-Azure-FDID", SECRET).send().await;
    assert!(fresh_old.is_err(), "a new connection still got the old certificate");
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP stopped the HTTPS origin");
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn a_required_header_from_the_command_line_or_an_unset_variable_is_refused() {
    let sb = Sandbox::start().await;
    let conn = sb.connection_string();
    let env = [("MIRRORCAST_DC_A", conn.as_str()), ("SHORT", "abc")];
    for (spec, named) in [
        ("X-Azure-FDID=literal-secret-value", "environment variable"),
        ("X-Azure-FDID=env:UNSET_VARIABLE", "UNSET_VARIABLE"),
        ("X-Azure-FDID=env:SHORT", "at least 8"),
        ("Bad Header=env:SHORT", "not a header name"),
    ] {
        let run = crate::helpers::run_in(sb.dir.path(), &env, &["serve", "--dc", "a", "--require-header", spec]).await;
        run.usage_error(named);
        assert!(!run.stderr.contains("literal-secret-value"), "the value was echoed: {}", run.stderr);
    }
    let run = crate::helpers::run_in(
        sb.dir.path(),
        &env,
        &["serve", "--dc", "a", "--tls-cert", "none.pem", "--tls-key", "none.key"],
    )
    .await;
    run.usage_error("--tls-cert none.pem");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_serves_https_with_the_same_options() {
    let sb = Sandbox::start().await;
    let p = publish_media(&sb).await;
    let dir = sb.dir.path();
    let (cert, key, trusted) = certificate(dir, "front");
    let conn = sb.connection_string();
    let env = [("MIRRORCAST_DC_A", conn.as_str())];
    let origin = serve(dir, &env, &[]).await;
    let upstream = format!("a=http://{}", origin.addr);
    let args = ["front", "--listen", "127.0.0.1:0", "--origin", &upstream, "--tls-cert", &cert, "--tls-key", &key];
    let mut child = command_in(dir, &env, &args).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next_line().await.unwrap().expect("front exited before listening");
        if let Some((_, at)) = line.rsplit_once("at https://127.0.0.1:") {
            break at.trim().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let master = format!("https://localhost:{port}/{}/Clip.ism/manifest(format=m3u8-cmaf)", p.locator);
    let http = client(&[&trusted], false);
    let mut answered = None;
    for _ in 0..100 {
        // The front routes once its first probe found the origin up.
        let r = http.get(&master).send().await.unwrap();
        if r.status() == 200 {
            answered = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answered = answered.expect("the front never answered 200 over HTTPS");
    assert_eq!(answered.headers()["x-mirrorcast-origin"], "a");
    assert!(answered.text().await.unwrap().starts_with("#EXTM3U"));
    assert!(reqwest::get(&master).await.is_err(), "an untrusted certificate was accepted");
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A Chromium profile home whose NSS database trusts exactly `cert` (certutil, from
/// libnss3-tools): how a browser is told to trust a certificate, no flag relaxing its checks.
fn trusting_home(dir: &Path, cert: Option<&str>) -> std::path::PathBuf {
    let home = dir.join(format!("home-{}", cert.is_some()));
    let db = home.join(".pki/nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let db = format!("sql:{}", db.display());
    let certutil = |args: &[&str]| {
        let out = std::process::Command::new("certutil")
            .args(args)
            .output()
            .expect("certutil is needed: apt-get install libnss3-tools");
        assert!(out.status.success(), "certutil {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    certutil(&["-d", &db, "-N", "--empty-password"]);
    if let Some(cert) = cert {
        certutil(&["-d", &db, "-A", "-t", "P,,", "-n", "mirrorcast-test", "-i", cert]);
    }
    home
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_js_and_dash_js_play_over_https_in_a_chromium_that_trusts_only_our_certificate() {
    crate::player::require_chromium_and_players();
    let sb = Sandbox::start().await;
    let p = publish_media(&sb).await;
    let dir = sb.dir.path();
    let (cert, key, _) = certificate(dir, "browser");
    let conn = sb.connection_string();
    let env = [("MIRRORCAST_DC_A", conn.as_str())];
    let args = ["serve", "--dc", "a", "--listen", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key];
    let mut child = command_in(dir, &env, &args).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next_line().await.unwrap().expect("serve exited before listening");
        if let Some((_, at)) = line.rsplit_once("at https://127.0.0.1:") {
            break at.trim().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let page = crate::player::serve_page().await;
    let manifest = format!("https://localhost:{port}/{}/Clip.ism/manifest", p.locator);
    let trusting = trusting_home(dir, Some(&cert));
    for (kind, format) in [("hls", "m3u8-cmaf"), ("hls", "m3u8-aapl"), ("dash", "mpd-time-csf")] {
        let url = format!("{manifest}(format={format})");
        let report = crate::player::play_in_chromium_at_home(&page, kind, &url, 2, Some(&trusting)).await;
        assert_eq!(report["state"], "playing", "{kind} {format}: {report}");
        assert!(report["currentTime"].as_f64().unwrap() > 2.0, "{kind} {format}: {report}");
    }
    // The same page in a profile that trusts nothing of ours: the certificate is refused.
    let untrusting = trusting_home(dir, None);
    let url = format!("{manifest}(format=m3u8-cmaf)");
    let report = crate::player::play_in_chromium_at_home(&page, "hls", &url, 2, Some(&untrusting)).await;
    assert_ne!(report["state"], "playing", "played over a certificate nobody trusts: {report}");
    let _ = child.kill().await;
}
