//! Entra ID sign-in: bearer tokens against Azurite's OAuth mode over HTTPS.
//! Azurite checks a token's audience, issuer and times, not its signature,
//! so the test makes its own.

use base64::Engine as _;
use mirrorcast_azurite::{Account, Azurite, Tls};
use mirrorcast_core::store::BlobStoreExt;

use crate::helpers::{run_in, write_sample, Run};

const TOKEN_VAR: &str = "MC_TEST_BEARER";

/// An Azurite serving HTTPS with a fresh self-signed certificate and accepting bearer tokens.
struct OAuthAzurite {
    azurite: Azurite,
    dir: tempfile::TempDir,
}

impl OAuthAzurite {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        let tls = Tls { cert: dir.path().join("cert.pem"), key: dir.path().join("key.pem") };
        std::fs::write(&tls.cert, certified.cert.pem()).unwrap();
        std::fs::write(&tls.key, certified.signing_key.serialize_pem()).unwrap();
        let azurite = Azurite::builder().https(tls).oauth().start().await.expect("start Azurite with --oauth basic");
        OAuthAzurite { azurite, dir }
    }

    /// `[dc.a]` signs in with the token in `TOKEN_VAR` and trusts the test's certificate.
    fn write_config(&self, extra: &str) {
        let endpoint = self.azurite.blob_endpoint("devstoreaccount1");
        assert_eq!(endpoint.scheme(), "https");
        let toml = format!(
            "[dc.a]\naccount = \"devstoreaccount1\"\nendpoint = \"{endpoint}\"\nauth = \"entra\"\ntoken_env = \"{TOKEN_VAR}\"\nca_file = \"{}\"\n{extra}",
            self.dir.path().join("cert.pem").display()
        );
        std::fs::write(self.dir.path().join("mirrorcast.toml"), toml).unwrap();
    }

    async fn run(&self, token: &str, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut all = vec![(TOKEN_VAR, token)];
        all.extend_from_slice(env);
        run_in(self.dir.path(), &all, args).await
    }
}

/// An unsigned-in-effect JWT with the claims Azurite checks.
fn bearer_token(audience: &str) -> String {
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = chrono::Utc::now().timestamp();
    let header = b64(serde_json::json!({"alg": "HS256", "typ": "JWT"}));
    let claims = b64(serde_json::json!({
        "aud": audience,
        "iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 3600,
        "oid": "00000000-0000-0000-0000-00000000a11c",
        "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    }));
    format!("{header}.{claims}.bm90LWEtcmVhbC1zaWduYXR1cmU")
}

fn asset_id(run: &Run) -> String {
    run.json()["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_bearer_token_creates_uploads_lists_and_replicates_over_https() {
    let oauth = OAuthAzurite::start().await;
    // B: an ordinary HTTP emulator with a key; the copy is streamed from A's bearer-signed reads.
    let b = Azurite::builder().account(Account::generate("dcb")).start().await.unwrap();
    oauth.write_config("");
    let token = bearer_token("https://storage.azure.com");

    let id = asset_id(
        &oauth.run(&token, &[], &["asset", "create", "--dc", "a", "--name", "Signed In", "--json"]).await.ok(),
    );
    let folder = oauth.dir.path().join("encoded");
    write_sample(&folder, 64 * 1024);
    let up =
        oauth.run(&token, &[], &["asset", "upload", "--dc", "a", &id, folder.to_str().unwrap(), "--json"]).await.ok();
    assert_eq!(up.json()["files"], 10);
    let listed = oauth.run(&token, &[], &["asset", "list", "--dc", "a", "--json"]).await.ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "Signed In");

    let b_env = ("MIRRORCAST_DC_B", b.connection_string("dcb"));
    let run = oauth
        .run(&token, &[(b_env.0, &b_env.1)], &["replicate", "--from", "a", "--to", "b", "--asset", &id, "--json"])
        .await
        .ok();
    assert!(!run.stdout.contains(&token) && !run.stderr.contains(&token), "the token leaked");
    let in_b = b.store("dcb").list_all(&id.replace("nb:cid:UUID:", "asset-"), "").await.unwrap();
    assert_eq!(in_b.len(), 10, "every file of the asset reached B");
}

#[tokio::test]
async fn a_token_for_another_audience_fails_authentication_without_showing_it() {
    let oauth = OAuthAzurite::start().await;
    oauth.write_config("");
    let token = bearer_token("https://vault.azure.net");
    let run = oauth.run(&token, &[], &["asset", "list", "--dc", "a"]).await;
    run.usage_error("authentication failed");
    assert!(!run.stderr.contains(&token) && !run.stderr.contains(token.split('.').nth(1).unwrap()), "{}", run.stderr);
}

#[tokio::test]
async fn an_unknown_entra_credential_is_named_with_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mirrorcast.toml"),
        "[dc.a]\naccount = \"media\"\nauth = \"entra\"\ncredential = \"azure-clii\"\n",
    )
    .unwrap();
    let run = run_in(dir.path(), &[], &["asset", "list", "--dc", "a"]).await;
    run.usage_error("azure-clii");
    assert!(run.stderr.contains("workload-identity"), "the choices are listed: {}", run.stderr);
}
