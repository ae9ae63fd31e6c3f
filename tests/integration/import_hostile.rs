//! `import` under exports built to break it: times that overflow, a bad record
//! after good ones, two accounts' assets sharing a name. Each record is judged
//! on its own; nothing panics, nothing is attached to the wrong asset.

use mirrorcast_azurite::{Persistence, TwoDataCenters};

use crate::replicate::Failover;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/ams");

fn record<'a>(out: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    out["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no record {id} in {out}"))
}

async fn asset_names(f: &Failover) -> Vec<String> {
    let listed = f.run(&["asset", "list", "--dc", "a", "--json"]).await.ok().json();
    let mut names: Vec<String> =
        listed.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locator_start_plus_policy_past_any_date_is_refused_without_a_panic() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let run = f.run(&["import", "--dc", "a", &format!("{DATA}/hostile/overflow.json"), "--json"]).await;
    assert_eq!(run.code, 1, "a refused record is exit 1, never a panic (101): {}", run.stderr);
    let out = run.json();
    let overflow = record(&out, "nb:lid:UUID:3d4c5b6a-7988-4796-a5b4-c3d2e1f0a9b8");
    assert_eq!(overflow["action"], "invalid", "{overflow}");
    assert!(overflow["message"].as_str().unwrap().contains("past any date"), "{overflow}");
    for kept in ["nb:cid:UUID:1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9", "nb:lid:UUID:4c5b6a79-8897-46a5-b4c3-d2e1f0a9b8c7"]
    {
        assert_eq!(record(&out, kept)["action"], "created", "the records beside it are written: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_record_after_good_ones_is_refused_alone_and_the_good_ones_are_written() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let export = format!("{DATA}/hostile/bad-last-record.json");
    let bad = "nb:cid:UUID:798897a6-b5c4-43d2-a1f0-a9b8c7d6e5f4";

    let text = f.run(&["import", "--dc", "a", &export]).await;
    assert_eq!(text.code, 1, "refusals are exit 1: {}", text.stderr);
    let refused: Vec<&str> = text.stdout.lines().filter(|l| l.starts_with("INVALID")).collect();
    assert_eq!(refused.len(), 1, "{}", text.stdout);
    assert!(
        refused[0].contains(bad) && refused[0].contains("1990-01-01"),
        "the refusal names the record and why: {}",
        refused[0]
    );
    assert!(text.stdout.contains("created 2;"), "{}", text.stdout);
    assert_eq!(asset_names(&f).await, ["Good", "Good2"]);

    let json = f.run(&["import", "--dc", "a", &export, "--json"]).await;
    assert_eq!(json.code, 1, "{}", json.stderr);
    let out = json.json();
    assert_eq!(record(&out, bad)["action"], "invalid", "{out}");
    assert_eq!((out["totals"]["exists"].as_u64(), out["totals"]["invalid"].as_u64()), (Some(2), Some(1)), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v3_locator_finds_its_asset_in_its_own_account_and_an_ambiguous_name_is_refused() {
    let f = Failover::new(TwoDataCenters::one_instance(Persistence::InMemory).await.unwrap()).await;
    let run = f.run(&["import", "--dc", "a", &format!("{DATA}/v3-two-accounts"), "--json"]).await;
    assert_eq!(run.code, 1, "the ambiguous locator is refused: {}", run.stderr);
    let out = run.json();
    assert_eq!(record(&out, "nb:lid:UUID:9b0c1d2e-1111-4c9d-8e0f-2a3b4c5d6e7f")["action"], "created", "{out}");
    let ambiguous = record(&out, "nb:lid:UUID:9b0c1d2e-3333-4c9d-8e0f-2a3b4c5d6e7f");
    assert_eq!(ambiguous["action"], "invalid", "{ambiguous}");
    let message = ambiguous["message"].as_str().unwrap();
    assert!(
        message.contains("ambiguous") && message.contains("amsmedia01") && message.contains("amsmedia02"),
        "{message}"
    );

    let locators = f.run(&["locator", "list", "--dc", "a", "--json"]).await.ok().json();
    let attached: Vec<(&str, &str)> = locators
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["id"].as_str().unwrap(), l["asset_id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        attached,
        [("nb:lid:UUID:9b0c1d2e-1111-4c9d-8e0f-2a3b4c5d6e7f", "nb:cid:UUID:8a9b0c1d-1111-4a7b-8c9d-0e1f2a3b4c5d")],
        "account amsmedia01's locator is on amsmedia01's 'movie', the ambiguous one on none"
    );
}
