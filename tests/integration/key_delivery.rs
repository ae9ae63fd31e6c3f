//! Key delivery in `serve` (#26 item 4): content keys handed out per their content
//! key policy at `/keys/aes128/<kid>` and `/keys/clearkey`, for a token the policy
//! accepts (HS256, RS256), to anyone for an open policy, never with key bytes in a
//! refusal; from B after replicate the same key for the same token; never cached,
//! through the front either; counted in /metrics; no key, secret or token in a log; hls.js
//! plays an AES-128 TS stream whose key needs a token, sending it as a bearer header.

use base64::Engine as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::protection::policy::Restriction;
use serde_json::{json, Value};

use crate::content_keys::{assert_absent, forms, hex_bytes, Protected};
use crate::encrypted::Library;
use crate::front::start_front;
use crate::player::{report_of_page, require_chromium_and_players, serve_page};
use crate::serve::{serve_dc, Served};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const KEY_ID_CLAIM: &str = "urn:microsoft:azure:mediaservices:contentkeyidentifier";
/// The fixed RSA test key that signs RS256 tokens, and its certificate (see tests/data).
const SIGNER_KEY: &str = include_str!("../data/token-signer.key.pem");
const SIGNER_CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/token-signer.cert.pem");

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims a policy of these tests accepts for `kid`.
pub(crate) fn claims(kid: &str) -> Value {
    json!({"iss": "https://issuer.example", "aud": "urn:viewers", "exp": now() + 600, "nbf": now() - 5, KEY_ID_CLAIM: kid})
}

fn with(mut c: Value, name: &str, value: Value) -> Value {
    c[name] = value;
    c
}

fn without(mut c: Value, name: &str) -> Value {
    c.as_object_mut().unwrap().remove(name);
    c
}

/// How a test token is signed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Signer<'a> {
    Hs256(&'a [u8]),
    Rs256,
}

impl Signer<'_> {
    pub(crate) fn sign(self, claims: &Value) -> String {
        match self {
            Signer::Hs256(secret) => {
                encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret)).unwrap()
            }
            Signer::Rs256 => {
                let body: String = SIGNER_KEY.lines().filter(|l| !l.starts_with("-----")).collect();
                let der = B64.decode(body).unwrap();
                encode(&Header::new(Algorithm::RS256), claims, &EncodingKey::from_rsa_der(&der)).unwrap()
            }
        }
    }

    /// The same claims under a key the policy does not hold.
    fn forged(self, claims: &Value) -> String {
        match self {
            Signer::Hs256(_) => Signer::Hs256(b"not the policy's secret, 32 byte").sign(claims),
            // Signed by the right key, then its payload swapped: the signature no longer holds.
            Signer::Rs256 => {
                let good = self.sign(claims);
                let parts: Vec<&str> = good.split('.').collect();
                let other = B64URL.encode(with(claims.clone(), "exp", json!(now() + 99_999)).to_string());
                format!("{}.{other}.{}", parts[0], parts[2])
            }
        }
    }
}

/// An unsigned token (`alg: none`).
fn alg_none(claims: &Value) -> String {
    let header = B64URL.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
    format!("{header}.{}.", B64URL.encode(claims.to_string()))
}

/// How a key request carries its token.
#[derive(Clone, Copy, Debug)]
enum Carry {
    Bearer,
    /// Media Services' `Bearer=<jwt>`.
    BearerEquals,
    /// `?token=` (AES-128 only).
    Query,
}

/// An answer: status, Cache-Control, Pragma, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    cache_control: String,
    pragma: String,
    body: Vec<u8>,
}

impl Answer {
    async fn of(r: reqwest::Response) -> Answer {
        let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let (status, cache_control, pragma) = (r.status().as_u16(), header("cache-control"), header("pragma"));
        Answer { status, cache_control, pragma, body: r.bytes().await.unwrap().to_vec() }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    fn uncached(&self) {
        assert_eq!((self.cache_control.as_str(), self.pragma.as_str()), ("no-store", "no-cache"), "{self:?}");
    }
}

/// `GET <base>/keys/aes128/<kid>` with `token` carried as said.
async fn aes128(base: &str, kid: &str, token: Option<&str>, carry: Carry) -> Answer {
    let client = reqwest::Client::new();
    let url = format!("{base}/keys/aes128/{kid}");
    let request = match (token, carry) {
        (None, _) => client.get(url),
        (Some(t), Carry::Bearer) => client.get(url).header("authorization", format!("Bearer {t}")),
        (Some(t), Carry::BearerEquals) => client.get(url).header("authorization", format!("Bearer={t}")),
        (Some(t), Carry::Query) => client.get(format!("{url}?token={t}")),
    };
    Answer::of(request.send().await.unwrap()).await
}

/// `POST <base>/keys/clearkey` asking for `kid`, the token as a bearer header.
async fn clearkey(base: &str, kid: &str, token: Option<&str>) -> Answer {
    let id: uuid::Uuid = kid.parse().unwrap();
    let body = json!({"kids": [B64URL.encode(id.as_bytes())], "type": "temporary"}).to_string();
    let mut request = reqwest::Client::new().post(format!("{base}/keys/clearkey")).body(body);
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    Answer::of(request.send().await.unwrap()).await
}

/// The key a ClearKey licence holds for `kid`.
fn licence_key(answer: &Answer, kid: &str) -> Vec<u8> {
    let licence: Value = serde_json::from_slice(&answer.body).unwrap_or_else(|_| panic!("{}", answer.text()));
    let id: uuid::Uuid = kid.parse().unwrap();
    let jwk = &licence["keys"][0];
    assert_eq!((jwk["kty"].as_str(), jwk["kid"].as_str()), (Some("oct"), Some(B64URL.encode(id.as_bytes()).as_str())));
    assert_eq!(licence["type"], "temporary");
    B64URL.decode(jwk["k"].as_str().unwrap()).unwrap()
}

/// `mirrorcast serve --dc <dc>` with that side's KEK, tracing everything.
async fn serve_with_kek(p: &Protected, dc: &str) -> Served {
    let mut env = p.f.env();
    env.push(("MIRRORCAST_KEK_A", p.kek_a.clone()));
    env.push(("MIRRORCAST_KEK_B", p.kek_b.clone()));
    env.push(("RUST_LOG", "trace".to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    serve_dc(p.f.dir.path(), &env, dc, &[]).await
}

/// The key-request counters of an origin's /metrics: outcome → count.
pub(crate) async fn key_metrics(base: &str) -> std::collections::BTreeMap<String, u64> {
    let text = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("mirrorcast_origin_key_requests_total{outcome=\""))
        .filter_map(|l| l.split_once("\"} "))
        .map(|(outcome, n)| (outcome.to_owned(), n.parse().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_restricted_keys_go_to_valid_tokens_only_and_refusals_hold_no_key_bytes() {
    let p = Protected::new().await;
    // HS256: the locator's key, policy 'Tokened' (its key id claim required).
    let (_, hs_key, _) = p.protected_asset(&[]).await;
    // RS256: an X.509 certificate's key, a key id claim and another claim required.
    p.run(
        false,
        &[],
        &[
            "content-key-policy",
            "create",
            "--dc",
            "a",
            "Signed",
            "--issuer",
            "https://issuer.example",
            "--audience",
            "urn:viewers",
            "--x509",
            SIGNER_CERT,
            "--require-key-id-claim",
            "--claim",
            "tier=gold",
        ],
    )
    .await
    .ok();
    let made = p.run(false, &[], &["content-key", "create", "--dc", "a", "--type", "envelope", "--policy", "Signed"]);
    let rs_key = made.await.ok().stdout.trim().to_owned();
    p.run(false, &[], &["content-key-policy", "create", "--dc", "a", "Open", "--open"]).await.ok();
    let made = p.run(false, &[], &["content-key", "create", "--dc", "a", "--type", "envelope", "--policy", "Open"]);
    let open_key = made.await.ok().stdout.trim().to_owned();

    let origin = serve_with_kek(&p, "a").await;
    let base = format!("http://{}", origin.addr);
    let secret = B64.decode(&p.hs256).unwrap();
    let cases = [(hs_key.as_str(), Signer::Hs256(&secret)), (rs_key.as_str(), Signer::Rs256)];
    let mut keys = Vec::new();
    let mut tokens = Vec::new();
    let (mut granted, mut unauthorized, mut forbidden) = (0u64, 0u64, 0u64);

    for (kid, signer) in cases {
        let value = hex_bytes(&p.reveal("a", kid).await);
        assert_eq!(value.len(), 16);
        let good_claims = with(claims(kid), "tier", json!("gold"));
        let good = signer.sign(&good_claims);
        for carry in [Carry::Bearer, Carry::BearerEquals, Carry::Query] {
            let got = aes128(&base, kid, Some(&good), carry).await;
            assert_eq!(got.status, 200, "{kid} {signer:?} {carry:?}: {}", got.text());
            got.uncached();
            assert_eq!(got.body, value, "the AES-128 key is the key `content-key export --reveal` prints");
            granted += 1;
        }
        let licence = clearkey(&base, kid, Some(&good)).await;
        assert_eq!(licence.status, 200, "{}", licence.text());
        licence.uncached();
        assert_eq!(licence_key(&licence, kid), value, "the JWK's k is the revealed key");
        granted += 1;

        let other = uuid::Uuid::new_v4().to_string();
        let refusals: Vec<(&str, Option<String>, u16, &str)> = vec![
            ("no token", None, 401, "token required"),
            ("expired", Some(signer.sign(&with(good_claims.clone(), "exp", json!(now() - 3600)))), 403, "expired"),
            (
                "wrong audience",
                Some(signer.sign(&with(good_claims.clone(), "aud", json!("urn:others")))),
                403,
                "audience",
            ),
            (
                "wrong issuer",
                Some(signer.sign(&with(good_claims.clone(), "iss", json!("https://evil.example")))),
                403,
                "issuer",
            ),
            ("wrong signature", Some(signer.forged(&good_claims)), 403, "signature"),
            ("alg=none", Some(alg_none(&good_claims)), 403, "algorithm"),
            (
                "missing key id claim",
                Some(signer.sign(&without(good_claims.clone(), KEY_ID_CLAIM))),
                403,
                "required claim",
            ),
            (
                "key id of another key",
                Some(signer.sign(&with(good_claims.clone(), KEY_ID_CLAIM, json!(other)))),
                403,
                "another key",
            ),
        ];
        for (what, token, status, why) in &refusals {
            let answers = [
                aes128(&base, kid, token.as_deref(), Carry::Bearer).await,
                aes128(&base, kid, token.as_deref(), Carry::Query).await,
                clearkey(&base, kid, token.as_deref()).await,
            ];
            for got in answers {
                assert_eq!(got.status, *status, "{kid} {signer:?} {what}: {}", got.text());
                assert!(got.text().contains(why), "{what}: the body says why: {}", got.text());
                got.uncached();
                assert_absent(&got.text(), &forms(&value), what);
                assert!(!got.body.windows(16).any(|w| w == value.as_slice()), "{what}: no key bytes in the body");
                if *status == 401 {
                    unauthorized += 1
                } else {
                    forbidden += 1
                }
            }
        }
        tokens.push(good);
        tokens.extend(refusals.into_iter().filter_map(|(_, t, _, _)| t));
        keys.push(value);
    }
    // The RS256 policy's other required claim.
    let no_tier = Signer::Rs256.sign(&claims(&rs_key));
    let got = aes128(&base, &rs_key, Some(&no_tier), Carry::Bearer).await;
    assert!(got.status == 403 && got.text().contains("required claim"), "{}", got.text());
    forbidden += 1;

    // An open policy's key goes to anyone; an unknown key id is a 404 on both paths.
    let open_value = hex_bytes(&p.reveal("a", &open_key).await);
    let got = aes128(&base, &open_key, None, Carry::Bearer).await;
    assert_eq!((got.status, &got.body), (200, &open_value), "{}", got.text());
    assert_eq!(licence_key(&clearkey(&base, &open_key, None).await, &open_key), open_value);
    granted += 2;
    let unknown = uuid::Uuid::new_v4().to_string();
    for got in [aes128(&base, &unknown, None, Carry::Bearer).await, clearkey(&base, &unknown, None).await] {
        assert_eq!(got.status, 404, "{}", got.text());
        got.uncached();
    }

    // Hostile requests: a key id that is no UUID, a licence request too large or not one, a GET licence.
    let client = reqwest::Client::new();
    let got = aes128(&base, "not-a-key-id", None, Carry::Bearer).await;
    assert_eq!(got.status, 404, "{}", got.text());
    let huge = format!(r#"{{"kids":["{}"]}}"#, "A".repeat(12 * 1024));
    for (body, status) in [(huge, 413), ("{\"kids\": 5}".to_owned(), 400), ("[]".to_owned(), 400)] {
        let got = Answer::of(client.post(format!("{base}/keys/clearkey")).body(body).send().await.unwrap()).await;
        assert_eq!(got.status, status, "{}", got.text());
    }
    let got = Answer::of(client.get(format!("{base}/keys/clearkey")).send().await.unwrap()).await;
    assert_eq!(got.status, 405, "{}", got.text());
    got.uncached();

    let counted = key_metrics(&base).await;
    assert_eq!(counted["granted"], granted, "{counted:?}");
    assert_eq!(counted["unauthorized"], unauthorized, "{counted:?}");
    assert_eq!(counted["forbidden"], forbidden, "{counted:?}");
    assert_eq!(counted["not_found"], 3, "{counted:?}");
    assert_eq!(counted["bad_request"], 3, "{counted:?}");

    // RUST_LOG=trace: no key, HS256 secret or token in the origin's log.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let log = origin.stderr.lock().unwrap().clone();
    assert!(log.contains("/keys/aes128/"), "the access log was written: {}", log.len());
    keys.push(open_value);
    let mut secrets: Vec<String> = keys.iter().flat_map(|k| forms(k)).collect();
    secrets.extend(forms(&secret));
    // A token's signature alone is enough to find it in a log.
    secrets.extend(tokens.iter().filter_map(|t| t.rsplit('.').next()).filter(|s| s.len() > 8).map(str::to_owned));
    assert_absent(&log, &secrets, "the origin's log at RUST_LOG=trace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_delivers_the_same_key_for_the_same_token_after_replicate_and_the_front_never_caches_one() {
    let p = Protected::new().await;
    let (id, kid, _) = p.protected_asset(&[]).await;
    p.run(true, &[], &["replicate", "--from", "a", "--to", "b", "--asset", &id]).await.ok();
    let (a, b) = (serve_with_kek(&p, "a").await, serve_with_kek(&p, "b").await);
    let secret = B64.decode(&p.hs256).unwrap();
    let token = Signer::Hs256(&secret).sign(&claims(&kid));
    let value = hex_bytes(&p.reveal("a", &kid).await);
    for origin in [&a, &b] {
        let base = format!("http://{}", origin.addr);
        let got = aes128(&base, &kid, Some(&token), Carry::Bearer).await;
        assert_eq!((got.status, &got.body), (200, &value), "{}: {}", origin.addr, got.text());
        assert_eq!(licence_key(&clearkey(&base, &kid, Some(&token)).await, &kid), value, "{}", origin.addr);
    }

    let mut env = p.f.env();
    env.push(("RUST_LOG", "trace".to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let origins = [format!("a=http://{}", a.addr), format!("b=http://{}", b.addr)];
    let f = start_front(
        p.f.dir.path(),
        &env,
        &["--origin", &origins[0], "--origin", &origins[1], "--probe-interval", "200ms", "--probe-timeout", "5s"],
    )
    .await;
    let front = format!("http://{}", f.addr);
    for _ in 0..2 {
        let got = aes128(&front, &kid, Some(&token), Carry::Bearer).await;
        assert_eq!((got.status, &got.body), (200, &value), "through the front: {}", got.text());
        got.uncached();
    }
    let licence = clearkey(&front, &kid, Some(&token)).await;
    licence.uncached();
    assert_eq!(licence_key(&licence, &kid), value, "a ClearKey licence request through the front");
    // The front's exception for licence requests is bounded, and only for that path.
    let client = reqwest::Client::new();
    let huge = Answer::of(client.post(format!("{front}/keys/clearkey")).body(vec![b'{'; 9000]).send().await.unwrap());
    assert_eq!(huge.await.status, 413);
    let elsewhere = Answer::of(client.post(format!("{front}/keys/aes128/{kid}")).body("{}").send().await.unwrap());
    assert_eq!(elsewhere.await.status, 400, "any other request with a body is refused as before");

    // The policy changes (another audience) in both data centers: the very next request
    // through the front is refused, with the same headers a cache would have to obey.
    for store in [p.f.dcs.a.store(), p.f.dcs.b.store()] {
        let catalog = Catalog::new(std::sync::Arc::new(store));
        let current = catalog.get_content_key_policy("Tokened").await.unwrap();
        let mut changed = current.value.clone();
        let Restriction::Token(terms) = &mut changed.options[0].restriction else { panic!("a token policy") };
        terms.audience = "urn:subscribers".into();
        catalog.put_content_key_policy_replica(&changed, Some(&current)).await.unwrap();
    }
    let got = aes128(&front, &kid, Some(&token), Carry::Bearer).await;
    assert_eq!(got.status, 403, "no cached key after the policy changed: {}", got.text());
    got.uncached();
    assert!(!got.body.windows(16).any(|w| w == value.as_slice()));
    let fresh = Signer::Hs256(&secret).sign(&with(claims(&kid), "aud", json!("urn:subscribers")));
    let got = aes128(&front, &kid, Some(&fresh), Carry::Query).await;
    assert_eq!((got.status, &got.body), (200, &value), "a token for the new terms: {}", got.text());

    // RUST_LOG=trace: neither the front nor an origin logs a token (query or header) or the key.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mut secrets = forms(&value);
    secrets.extend(forms(&secret));
    secrets.extend([&token, &fresh].iter().map(|t| t.rsplit('.').next().unwrap().to_owned()));
    for (what, log) in [("the front", &f.stderr), ("A", &a.stderr), ("B", &b.stderr)] {
        let log = log.lock().unwrap().clone();
        assert!(log.contains("/keys/aes128/"), "{what}'s access log was written");
        assert_absent(&log, &secrets, &format!("{what}'s log at RUST_LOG=trace"));
    }

    // A dies: key requests through the front go to B, the licence request (a POST) too.
    drop(a);
    let got = aes128(&front, &kid, Some(&fresh), Carry::Bearer).await;
    assert_eq!((got.status, &got.body), (200, &value), "from B once A is gone: {}", got.text());
    assert_eq!(licence_key(&clearkey(&front, &kid, Some(&fresh)).await, &kid), value, "B's licence");
}

/// hls.js plays the AES-128 TS stream (`Predefined_ClearKey`) of a locator whose content key
/// policy wants an HS256 token, from A and from B after replicate (B's KEK), sending the token
/// as `Authorization: Bearer` on its key requests (its `xhrSetup`); the key URL the playlists name
/// refuses a request without a token, with an expired one, a wrong audience or a wrong signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_js_plays_aes128_ts_with_a_bearer_token_from_a_and_b_and_the_key_url_refuses_bad_tokens() {
    require_chromium_and_players();
    let lib = Library::new().await;
    let mut policy = vec!["content-key-policy", "create", "--dc", "a", "Tokened", "--issuer", "https://issuer.example"];
    policy.extend(["--audience", "urn:viewers", "--hs256-key-env", "HS256_KEY", "--require-key-id-claim"]);
    lib.run(&policy).await.ok();
    let (locator, kids) = lib.locator(&lib.asset, "Predefined_ClearKey", "Tokened").await;
    let [kid] = &kids[..] else { panic!("an envelope locator binds one key: {kids:?}") };
    lib.run(&["replicate", "--from", "a", "--to", "b", "--asset", &lib.asset]).await.ok();
    let value = hex_bytes(&lib.reveal("b", kid).await.1);
    assert_eq!(value, hex_bytes(&lib.reveal("a", kid).await.1), "B holds A's key");
    let (sa, sb) = lib.serve().await;
    let page = serve_page().await;
    let secret = B64.decode(&lib.hs256).unwrap();
    let signer = Signer::Hs256(&secret);
    let good = claims(kid);
    let token = signer.sign(&good);
    let http = reqwest::Client::new();
    for (dc, origin) in [("A", &sa), ("B", &sb)] {
        let base = format!("http://{}", origin.addr);
        let manifest = format!("{base}/{locator}/Clip.ism/manifest(format=m3u8-aapl)");
        let src = mirrorcast_core::streaming::encode_segment(&manifest);
        let page_url = format!("{page}/player.html?kind=hls&seconds=2&token={token}&src={src}");
        let report = report_of_page(&page_url, 60_000, None).await;
        assert_eq!(report["state"], "playing", "{dc}: {report}");
        assert!(report["currentTime"].as_f64().unwrap() > 2.0, "{dc}: {report}");
        assert_eq!(report["errors"], json!([]), "{dc}: {report}");
        let counted = key_metrics(&base).await;
        assert!(counted.get("granted").copied().unwrap_or(0) >= 1, "{dc}: hls.js's key requests granted: {counted:?}");
        assert_eq!(counted.get("unauthorized").copied().unwrap_or(0), 0, "{dc}: every key request had the token");

        // The key URL the media playlists name (relative to the origin), asked as a player would.
        let playlist_url = format!("{base}/{locator}/Clip.ism/QualityLevels(600000)/Manifest(video,format=m3u8-aapl)");
        let playlist = http.get(&playlist_url).send().await.unwrap().text().await.unwrap();
        let key_uri = format!("/keys/aes128/{kid}");
        assert!(playlist.contains(&format!("#EXT-X-KEY:METHOD=AES-128,URI=\"{key_uri}\"")), "{dc}: {playlist}");
        let got = aes128(&base, kid, Some(&token), Carry::Bearer).await;
        assert_eq!((got.status, &got.body), (200, &value), "{dc}: {}", got.text());
        let refusals = [
            ("no token", None, 401),
            ("expired", Some(signer.sign(&with(good.clone(), "exp", json!(now() - 3600)))), 403),
            ("wrong audience", Some(signer.sign(&with(good.clone(), "aud", json!("urn:others")))), 403),
            ("wrong signature", Some(signer.forged(&good)), 403),
        ];
        for (what, bad, status) in refusals {
            let got = aes128(&base, kid, bad.as_deref(), Carry::Bearer).await;
            assert_eq!(got.status, status, "{dc} {what}: {}", got.text());
            got.uncached();
            assert!(!got.body.windows(16).any(|w| w == value.as_slice()), "{dc} {what}: no key bytes");
            assert_absent(&got.text(), &forms(&value), what);
        }
    }
}
