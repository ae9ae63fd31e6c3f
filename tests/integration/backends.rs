//! Data centers that are not Azure: a local directory between two Azurite accounts.

use mirrorcast_azurite::{Persistence, TwoDataCenters};

use crate::helpers::run_in;
use crate::replicate::Failover;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asset_goes_from_azurite_to_a_local_directory_and_back_to_another_account() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let id = f.publish("Round Trip", "none", 64 * 1024).await;
    let local = format!("file://{}", f.dir.path().join("dc-local").display());
    let mut env = f.env();
    env.push(("MIRRORCAST_DC_L", local));
    env.push(("MIRRORCAST_ORIGIN_L", "https://local.streaming.example".to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = |args: Vec<&'static str>| {
        let env = env.clone();
        let dir = f.dir.path().to_path_buf();
        async move { run_in(&dir, &env, &args).await }
    };

    let to_local = run(vec!["replicate", "--from", "a", "--to", "l", "--all", "--json"]).await.ok().json();
    assert_eq!(to_local["totals"]["copied"], 10, "{to_local}");
    assert!(to_local["totals"]["strategies"]["streamed"].as_u64() == Some(10), "{}", to_local["totals"]);
    let back = run(vec!["replicate", "--from", "l", "--to", "b", "--all", "--json"]).await.ok().json();
    assert_eq!(back["totals"]["copied"], 10, "{back}");

    let audit = run(vec!["verify", "--from", "a", "--to", "b", "--all", "--deep", "--format", "json"]).await;
    assert_eq!(audit.code, 0, "A and B must be identical after the round trip: {}", audit.stdout);
    assert_eq!(audit.json()["identical"], true);
    let audit = run(vec!["verify", "--from", "a", "--to", "l", "--all", "--format", "json"]).await;
    assert_eq!(audit.code, 0, "the local directory holds A's asset: {}", audit.stdout);
    let shown = run(vec!["asset", "show", "--dc", "l", "--json"]).await;
    assert_eq!(shown.code, 2, "asset show needs an id: clap usage error");
    let listed = run(vec!["asset", "list", "--dc", "l", "--json"]).await.ok().json();
    assert_eq!(listed[0]["id"], id.as_str());
}
