//! The command line, as clap sees it; beside it, in `args/<command>.rs`, each
//! command's `resolve`: the checks that need no storage, into the typed options
//! the command runs on. Ids are taken as text and parsed there, so a malformed
//! one gets mirrorcast's one-line error and exit 2.

use std::path::PathBuf;

use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand};

// Each command's arguments resolved (checked, typed) beside the clap definitions here.
pub(crate) mod asset;
pub(crate) mod drill;
pub(crate) mod encode;
pub(crate) mod filter;
pub(crate) mod front;
pub(crate) mod locator;
pub(crate) mod protection;
pub(crate) mod serve;
pub(crate) mod verify;

/// A count of things in flight: 1..=1024.
fn in_flight() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..=1024)
}

/// `--retry-for`: a duration from 1 s to a day.
fn retry_budget(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 30s, 2m, 1h)"))?;
    if d < std::time::Duration::from_secs(1) || d > std::time::Duration::from_secs(24 * 3600) {
        return Err("must be from 1s to 24h".into());
    }
    Ok(d)
}

/// `--version`: the package's version and the commit it was built from (cli/build.rs).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("MIRRORCAST_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "mirrorcast",
    version = VERSION,
    about = "Replicate streaming media assets between data centers, and prove the copy"
)]
pub(crate) struct Cli {
    /// Configuration file (default: ./mirrorcast.toml if present, or $MIRRORCAST_CONFIG).
    #[arg(long, global = true, env = "MIRRORCAST_CONFIG")]
    pub config: Option<PathBuf>,

    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// Load a storage-backend plugin (repeatable); data centers use it as `plugin:<name>:<config>`.
    /// Plugins are also found as lib<name>.so in $MIRRORCAST_PLUGIN_DIR (default ~/.mirrorcast/plugins).
    #[arg(long = "plugin", global = true, value_name = "PATH")]
    pub plugins: Vec<PathBuf>,

    /// How long a failing request to a data center is tried again before the
    /// command gives up on it (e.g. 30s, 2m, 1h).
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = retry_budget)]
    pub retry_for: std::time::Duration,

    /// More log lines on stderr: -v info, -vv debug, -vvv trace (RUST_LOG, when set, decides instead).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Quieter stderr: logs at error level only (no warnings, no access logs) and no progress lines;
    /// results still go to stdout, and errors to stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create, list, show, upload to and delete assets.
    #[command(subcommand)]
    Asset(AssetCommand),
    /// Access policies (shared by locators).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Streaming (origin) and SAS locators.
    #[command(subcommand)]
    Locator(LocatorCommand),
    /// Dynamic manifest filters (time range, track selection, first quality) of an asset or the account.
    #[command(subcommand)]
    Filter(filter::FilterCommand),
    /// Replicate assets from one data center to another (the failover flow).
    Replicate(ReplicateArgs),
    /// Prove B holds what A serves: blobs, records, manifests, MP4s, URLs. Never writes.
    Verify(VerifyArgs),
    /// How far B is behind A: per asset what B lacks and since when (exit 0 current, 1 behind, 2 errors). Never writes.
    Lag(LagArgs),
    /// The whole story on this machine: Azurite with two data centers, a clip encoded in A,
    /// replicated to B, verified and played from both; then, on a terminal, a page where A fails.
    Demo(DemoArgs),
    /// Encode a mezzanine file or asset into a GOP-aligned multi-bitrate MP4 set with Smooth manifests (a job).
    Encode(EncodeArgs),
    /// Encode jobs: list, show, cancel (from any shell).
    #[command(subcommand)]
    Job(JobCommand),
    /// Import the records of an Azure Media Services export (v2 REST JSON or v3 `az ams` JSON) with their ids.
    Import(ImportArgs),
    /// Serve a data center's streams: the origin for `/<locator-guid>/<Base>.ism/manifest(...)` URLs.
    Serve(ServeArgs),
    /// Route viewers to the first healthy origin (priority failover with health probes), proxying or redirecting.
    Front(FrontArgs),
    /// Write shell completions and man pages into a folder (what `cargo xtask dist` packages).
    #[command(hide = true)]
    Generate(GenerateArgs),
    /// Rehearse a failover: stream a locator's HLS and DASH through a front at a player's pace,
    /// run a kill command mid-stream, and report what the viewer saw (exit 0: missed nothing).
    Drill(DrillArgs),
    /// Content keys, stored wrapped under the data center's key-encryption key (MIRRORCAST_KEK_<NAME>).
    #[command(subcommand)]
    ContentKey(protection::ContentKeyCommand),
    /// Content key policies: who may have a content key (open or token-restricted).
    #[command(subcommand)]
    ContentKeyPolicy(protection::ContentKeyPolicyCommand),
    /// Streaming policies: which protocol is served with which encryption (predefined and custom).
    #[command(subcommand)]
    StreamingPolicy(protection::StreamingPolicyCommand),
}

#[derive(Debug, Args)]
pub(crate) struct DrillArgs {
    /// Where the viewer connects: the front (or one origin), e.g. http://127.0.0.1:8000.
    #[arg(long, value_name = "URL")]
    pub front: String,
    /// The origin locator: its GUID, nb:lid:UUID:<guid>, or <guid>/<Name>.ism.
    #[arg(long, value_name = "ID")]
    pub locator: String,
    /// The primary file behind the locator, e.g. "Big Buck Bunny.ism" (as `locator urls` shows it).
    #[arg(long, value_name = "NAME")]
    pub ism: Option<String>,
    /// A shell command run once mid-stream (e.g. "kill $(cat a.pid)").
    #[arg(long, value_name = "CMD")]
    pub kill: Option<String>,
    /// When to run --kill, after the start (e.g. 30s; default: half the stream).
    #[arg(long, value_name = "DURATION", value_parser = media_seconds)]
    pub kill_at: Option<f64>,
    /// Or run --kill once every player holds N media segments: between two requests.
    #[arg(long, value_name = "N")]
    pub kill_after: Option<usize>,
    /// hls, dash or both (two players at once).
    #[arg(long, default_value = "both", value_parser = ["hls", "dash", "both"])]
    pub format: String,
    /// top (the best video and audio, one player each) or all (every rendition).
    #[arg(long, default_value = "top", value_parser = ["top", "all"])]
    pub renditions: String,
    /// Play at most this much media (e.g. 1m; default: all of it).
    #[arg(long, value_name = "DURATION", value_parser = media_seconds)]
    pub duration: Option<f64>,
    /// Media a player holds before it starts playing.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = media_seconds)]
    pub start_buffer: f64,
    /// Media a player keeps ahead while playing.
    #[arg(long, value_name = "DURATION", default_value = "4s", value_parser = media_seconds)]
    pub buffer: f64,
    /// The longest stall that still counts as "missed nothing".
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = media_seconds)]
    pub max_stall: f64,
    /// Times a failed request is tried again before its segment counts as missed.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries: u32,
    /// How long one request may take, body included (e.g. 10s; 1s to 10m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = short_duration)]
    pub request_timeout: std::time::Duration,
    /// The old spelling of --request-timeout, in whole seconds (hidden; kept for scripts).
    #[arg(long, value_name = "SECONDS", hide = true, conflicts_with = "request_timeout",
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub request_timeout_secs: Option<u64>,
    /// Write what arrived, per rendition, as <DIR>/<format>-<rendition>.mp4 (init + segments).
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// File holding a bearer token (a JWT) for a token-restricted content key policy, sent as
    /// `Authorization: Bearer` with licence and AES-128 key requests; else MIRRORCAST_DRILL_TOKEN.
    /// Never printed.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub dc: Dc,
    /// Address to listen on (default: the data center's `serve` address in mirrorcast.toml, else 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<String>,
    /// Memory for MP4 indexes, in MiB.
    #[arg(long, default_value_t = 256)]
    pub index_cache_mib: u64,
    /// How long a storage call may take (retries included) before the request gets 503 (e.g. 10s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = short_duration)]
    pub upstream_timeout: std::time::Duration,
    /// The old spelling of --upstream-timeout, in whole seconds (hidden; kept for scripts).
    #[arg(long, value_name = "SECONDS", hide = true, conflicts_with = "upstream_timeout")]
    pub upstream_timeout_secs: Option<u64>,
    /// Client connections served at once; more wait until one closes.
    #[arg(long, default_value_t = mirrorcast_origin::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Memory for packaged segments and ranges of stored files, e.g. 256MiB, 1GiB; 0 turns the
    /// cache off (default: an eighth of the machine's memory, at most 1GiB).
    #[arg(long, value_name = "SIZE")]
    pub cache_size: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); SIGHUP reloads it and the key
    /// without dropping a connection (and no longer stops the server).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Answer only requests carrying this header with the value of an environment variable, as
    /// NAME=env:VAR (e.g. X-Azure-FDID=env:FRONT_DOOR_ID): the CDN's shared secret, never on the
    /// command line; others get 403 (/healthz answers anyone).
    #[arg(long, value_name = "NAME=env:VAR")]
    pub require_header: Option<String>,
    /// Serve /metrics (and /healthz) on this address instead of the viewers' one, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    pub dc: Dc,
    /// An export file, or a folder of them (*.json): Assets, AccessPolicies, Locators, Files; or
    /// `az ams asset list` and `az ams streaming-locator list` output.
    pub path: PathBuf,
    /// Show what would be created; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct Dc {
    /// The data center: a name resolved from MIRRORCAST_DC_<NAME> or mirrorcast.toml.
    #[arg(long)]
    pub dc: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AssetCommand {
    /// Create an empty asset; prints its id.
    Create {
        #[command(flatten)]
        dc: Dc,
        #[arg(long)]
        name: String,
        /// none, storage-encrypted, common-encryption-protected, envelope-encryption-protected.
        #[arg(long, default_value = "none")]
        options: String,
    },
    /// List the assets of a data center.
    List {
        #[command(flatten)]
        dc: Dc,
        /// table, json or ams (records in Media Services' v2 REST shape, for old scripts and `import`).
        #[arg(long, default_value = "table")]
        output: String,
    },
    /// Show one asset with its files and locators.
    Show {
        #[command(flatten)]
        dc: Dc,
        asset: String,
        /// table, json or ams (records in Media Services' v2 REST shape, for old scripts and `import`).
        #[arg(long, default_value = "table")]
        output: String,
    },
    /// Upload a file or a folder into an asset, then regenerate its file infos.
    Upload {
        #[command(flatten)]
        dc: Dc,
        asset: String,
        path: PathBuf,
        /// Block reads and block writes (or small files) in flight at once
        /// (as many as the 40 MiB memory budget holds).
        #[arg(long, default_value_t = 16, allow_negative_numbers = true, value_parser = in_flight())]
        concurrency: usize,
        /// Block size in MiB for large files.
        #[arg(long, default_value_t = 4, allow_negative_numbers = true, value_parser = RangedU64ValueParser::<usize>::new().range(1..=4000))]
        block_size_mib: usize,
        #[command(flatten)]
        caps: Caps,
    },
    /// Regenerate the file infos from the asset's blobs (the old CreateFileInfos).
    Files {
        #[command(flatten)]
        dc: Dc,
        asset: String,
    },
    /// Register existing asset-<guid> containers (as Media Services left them) as assets with the ids
    /// they carry; containers already registered, or not asset containers, are left alone.
    Adopt {
        #[command(flatten)]
        dc: Dc,
        /// Containers to adopt (asset-<guid>).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        containers: Vec<String>,
        /// Every asset-<guid> container of the data center.
        #[arg(long)]
        all: bool,
    },
    /// Delete an asset: its locators, its container and its record.
    Delete {
        #[command(flatten)]
        dc: Dc,
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        asset: Option<String>,
        /// Every asset of the data center (asks first on a terminal; needs --yes otherwise).
        #[arg(long)]
        all: bool,
        /// Do not ask: for scripts deleting with --all.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// List the access policies of a data center.
    List {
        #[command(flatten)]
        dc: Dc,
    },
    /// Delete an access policy (refused while a locator uses it).
    Delete {
        #[command(flatten)]
        dc: Dc,
        policy: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum LocatorCommand {
    /// Create a locator for an asset.
    Create {
        #[command(flatten)]
        dc: Dc,
        /// The asset: its id (nb:cid:UUID:…), GUID or container name.
        asset: String,
        /// origin (streaming, read-only) or sas.
        #[arg(long = "type", default_value = "origin")]
        locator_type: String,
        /// Use this locator id (GUID or nb:lid:UUID:…) instead of a new one.
        #[arg(long)]
        id: Option<String>,
        /// How long it is valid, in days (default: 365 for origin, 1 for sas).
        #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..=36_500))]
        days: Option<u64>,
        /// Start this long in the past, for clock skew (e.g. 5m; at most 1d).
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = backdate)]
        backdate: std::time::Duration,
        /// The old spelling of --backdate, in minutes (hidden; kept for scripts).
        #[arg(long, value_name = "MINUTES", hide = true, conflicts_with = "backdate", allow_negative_numbers = true,
              value_parser = clap::value_parser!(i64).range(0..=1440))]
        backdate_minutes: Option<i64>,
        /// Permissions of a SAS locator: letters of racwdl (`rl`), words (`read,list`) or Media
        /// Services' bits (`9`: Read 1 + List 8).
        #[arg(long, default_value = "rl")]
        permissions: String,
        /// Print a SAS locator's URL with its signature (otherwise redacted).
        #[arg(long)]
        reveal: bool,
        /// Bind this filter (repeatable; an asset or account filter that exists): every
        /// request through the locator is filtered.
        #[arg(long = "filter")]
        filters: Vec<String>,
        /// Streaming policy (Predefined_… or a custom one); a protected one binds content keys.
        #[arg(long, value_name = "NAME")]
        streaming_policy: Option<String>,
        /// Content key policy of the locator's keys (default: the streaming policy's).
        #[arg(long, value_name = "NAME", requires = "streaming_policy")]
        content_key_policy: Option<String>,
        /// Bind this content key (repeatable); a key the policy's schemes need and not given is created.
        #[arg(long = "content-key", value_name = "ID", requires = "streaming_policy")]
        content_keys: Vec<String>,
    },
    /// List locators, of one asset or all.
    List {
        #[command(flatten)]
        dc: Dc,
        asset: Option<String>,
        /// table, json or ams (records in Media Services' v2 REST shape, for old scripts and `import`).
        #[arg(long, default_value = "table")]
        output: String,
    },
    /// Delete a locator.
    Delete {
        #[command(flatten)]
        dc: Dc,
        locator: String,
    },
    /// Print the streaming URLs (Smooth, HLS, DASH) of an asset's origin locators.
    Urls {
        #[command(flatten)]
        dc: Dc,
        asset: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Stay up after the summary until Ctrl-C, also off a terminal (on a terminal the demo
    /// does): Azurite, both origins, and the front's page with a switch that makes A fail.
    #[arg(long)]
    pub keep_running: bool,
    /// Exit after the summary, also on a terminal (off a terminal the demo always does).
    #[arg(long, conflicts_with = "keep_running")]
    pub exit: bool,
    /// The page's players: a folder with hls.js/ and dashjs/ (default: tools/players/node_modules
    /// of this source tree, which `cargo xtask setup` installs).
    #[arg(long, value_name = "DIR")]
    pub players: Option<PathBuf>,
}

/// Two data centers and the assets of the first to work on.
#[derive(Debug, Args)]
pub(crate) struct Pair {
    /// The source data center (A).
    #[arg(long)]
    pub from: String,
    /// The target data center (B).
    #[arg(long)]
    pub to: String,
    /// An asset (repeatable): id, GUID or container name.
    #[arg(long = "asset", required_unless_present = "all", conflicts_with = "all")]
    pub assets: Vec<String>,
    /// Every asset of the source.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ReplicateArgs {
    #[command(flatten)]
    pub pair: Pair,
    /// Print the plan; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// auto (server-side where possible), server, or streamed.
    #[arg(long, default_value = "auto")]
    pub strategy: String,
    /// Blob copies in flight.
    #[arg(long, default_value_t = 16, allow_negative_numbers = true, value_parser = in_flight())]
    pub concurrency: usize,
    /// Block size in MiB for streamed copies of large blobs.
    #[arg(long, default_value_t = 4, allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..=4000))]
    pub block_size_mib: u64,
    /// Take share K of N of the assets (e.g. 2/4), so N machines split one run.
    #[arg(long)]
    pub shard: Option<String>,
    /// Lifetime of each copy SAS (e.g. 15m, 2h; 5m to 7d); a longer run renews it before it expires.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = sas_lifetime)]
    pub sas_lifetime: std::time::Duration,
    /// The old spelling of --sas-lifetime, in minutes (hidden; kept for scripts).
    #[arg(long, value_name = "MINUTES", hide = true, conflicts_with = "sas_lifetime", allow_negative_numbers = true,
          value_parser = clap::value_parser!(i64).range(5..=10_080))]
    pub sas_minutes: Option<i64>,
    /// Hash both sides of blobs whose size and MD5 match, and copy again those whose bytes differ.
    #[arg(long)]
    pub deep: bool,
    /// Also remove from the target what the source no longer has (only what replicate put
    /// there, only when every listing was complete).
    #[arg(long)]
    pub delete: bool,
    /// With --delete: a run that would delete more blobs plus records than this deletes nothing.
    #[arg(long, value_name = "N", requires = "delete", allow_negative_numbers = true, default_value_t = mirrorcast_core::replicate::DEFAULT_MAX_DELETE, value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    pub max_delete: u64,
    /// With --delete: delete even when the source's catalog or an asset's container is empty.
    #[arg(long, requires = "delete")]
    pub allow_empty_source: bool,
    #[command(flatten)]
    pub caps: Caps,
    /// Run passes until stopped, one every DURATION (e.g. 5m, 10s to 7d): a lease in the target
    /// keeps two instances from running passes at once; SIGTERM ends the pass cleanly, exit 0.
    #[arg(long, value_name = "DURATION", value_parser = pass_interval, conflicts_with = "dry_run")]
    pub every: Option<std::time::Duration>,
    /// With --every: serve /healthz and /metrics (Prometheus: passes, bytes, requests, the lag)
    /// on this address, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR", requires = "every")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// `replicate --every`: 10 s to a week.
fn pass_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 30s, 5m, 1h)"))?;
    if d < std::time::Duration::from_secs(10) || d > std::time::Duration::from_secs(7 * 24 * 3600) {
        return Err("must be from 10s to 7d".into());
    }
    Ok(d)
}

/// Caps shared by all the work of one run, on both data centers.
#[derive(Debug, Args)]
pub(crate) struct Caps {
    /// At most this many storage requests per second, over the whole run.
    #[arg(long, value_name = "N")]
    pub max_requests_per_second: Option<f64>,
    /// At most this many bytes of blob data per second through this machine, e.g. 50MiB/s.
    #[arg(long, value_name = "RATE")]
    pub max_bandwidth: Option<String>,
}

impl Caps {
    /// The run's shared limits; a bad value is an input error (exit 2).
    pub(crate) fn limits(&self) -> Result<std::sync::Arc<mirrorcast_core::store::Limits>, mirrorcast_core::Error> {
        let requests = match self.max_requests_per_second {
            Some(r) if !(r.is_finite() && (0.01..=1_000_000.0).contains(&r)) => {
                return Err(mirrorcast_core::Error::invalid_input(format!(
                    "--max-requests-per-second {r}: use a number from 0.01 to 1000000"
                )))
            }
            r => r,
        };
        let bytes = self
            .max_bandwidth
            .as_deref()
            .map(mirrorcast_core::store::throttle::parse_bandwidth)
            .transpose()
            .map_err(|e| mirrorcast_core::Error::invalid_input(format!("--max-bandwidth: {e}")))?;
        Ok(std::sync::Arc::new(mirrorcast_core::store::Limits::new(requests, bytes)))
    }
}

#[derive(Debug, Args)]
#[command(mut_arg("assets", |a| a.required_unless_present_any(["all", "http"])))]
#[command(mut_arg("all", |a| a.help("Every asset of the source; also reports the assets only the target has")))]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub pair: Pair,
    /// Compare what the two origins serve for every origin locator of the source, instead of storage:
    /// the manifests and, sampled per track (each rendition, audio language, text track, I-frame
    /// playlist, the audio-only variant; HLS, DASH, Smooth), its init, first and last segment,
    /// never every segment. Entries name their track. Every asset unless --asset.
    #[arg(long, conflicts_with = "deep")]
    pub http: bool,
    /// With --http: the source's origin base URL (default: its configured origin or serve address).
    #[arg(long, value_name = "URL", requires = "http")]
    pub from_url: Option<String>,
    /// With --http: the target's origin base URL (default: its configured origin or serve address).
    #[arg(long, value_name = "URL", requires = "http")]
    pub to_url: Option<String>,
    /// Download both sides and compare their bytes, and check stored MD5s against them (implies --audit-source).
    #[arg(long)]
    pub deep: bool,
    /// Also read A's manifests and MP4 box heads where the listings prove B holds A's bytes:
    /// that audits A itself (a dangling reference or truncated MP4 the copy holds too).
    #[arg(long, conflicts_with = "http")]
    pub audit_source: bool,
    /// text (the default), json or junit (`--json` is `--format json`).
    #[arg(long, value_parser = ["text", "json", "junit"])]
    pub format: Option<String>,
    /// Assets checked at once (with --deep each compares up to 8 blobs at once).
    #[arg(long, default_value_t = mirrorcast_verify::DEFAULT_PARALLEL, allow_negative_numbers = true, value_parser = in_flight())]
    pub parallel: usize,
    /// With --deep: read a blob larger than this many MiB in ranges of this size, in parallel
    /// (default 0: every blob with one GET, faster on Azurite; the bench compares the two).
    #[arg(long, value_name = "MIB", hide = true, requires = "deep", value_parser = clap::value_parser!(u64).range(0..=256))]
    pub deep_range_mib: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// The folder: completions/ (bash, zsh, fish, PowerShell, elvish) and man/ (one page per command) go in it.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
#[command(mut_arg("all", |a| a.help("Every asset of the source (and a count of those only the target has)")))]
pub(crate) struct LagArgs {
    #[command(flatten)]
    pub pair: Pair,
    /// text (the default), json, or prometheus (the text exposition format, for a textfile collector);
    /// `--json` is `--format json`.
    #[arg(long, value_parser = ["text", "json", "prometheus"])]
    pub format: Option<String>,
    /// Assets measured at once (each costs a listing of its container on both sides).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
}

// --- encode and jobs ---

#[derive(Debug, Args)]
pub(crate) struct EncodeArgs {
    #[command(flatten)]
    pub dc: Dc,
    /// A local mezzanine file: uploaded as an asset first, then encoded.
    #[arg(required_unless_present = "asset", conflicts_with = "asset")]
    pub file: Option<PathBuf>,
    /// Encode this existing asset instead (id, GUID or container name).
    #[arg(long)]
    pub asset: Option<String>,
    /// Name of the output asset (default: the source's name).
    #[arg(long)]
    pub name: Option<String>,
    /// adaptive-streaming, h264-multiple-bitrate-1080p|720p|sd, or a .toml/.json ladder file.
    #[arg(long, default_value = "adaptive-streaming")]
    pub preset: String,
    /// Create an origin locator for the output and print its streaming URLs.
    #[arg(long)]
    pub publish: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobCommand {
    /// List the encode jobs of a data center.
    List {
        #[command(flatten)]
        dc: Dc,
    },
    /// Show one job and its log.
    Show {
        #[command(flatten)]
        dc: Dc,
        job: String,
    },
    /// Ask a job to stop; its encoder removes the unfinished output.
    Cancel {
        #[command(flatten)]
        dc: Dc,
        job: String,
    },
}

/// `--probe-interval` and the like: 500ms, 2s, 1m.
/// `--sas-lifetime`: from 5 minutes (a renewal's margin) to a week.
fn sas_lifetime(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 15m, 2h)"))?;
    if d < std::time::Duration::from_secs(5 * 60) || d > std::time::Duration::from_secs(7 * 24 * 3600) {
        return Err("must be from 5m to 7d".into());
    }
    Ok(d)
}

/// `--backdate`: at most a day.
fn backdate(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 5m, 1h)"))?;
    if d > std::time::Duration::from_secs(24 * 3600) {
        return Err("must be at most 1d".into());
    }
    Ok(d)
}

/// A drill's span of media time in seconds: a duration (2s, 1m, 500ms), or a bare number of
/// seconds as these flags took before (`--kill-at 30`), so scripts keep working.
fn media_seconds(s: &str) -> Result<f64, String> {
    if let Ok(seconds) = s.parse::<f64>() {
        return Ok(seconds);
    }
    Ok(short_duration(s)?.as_secs_f64())
}

fn short_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 500ms, 2s, 1m)"))
}

#[derive(Debug, Args)]
pub(crate) struct FrontArgs {
    /// Address to listen on (default: `listen` in mirrorcast.toml's [front], else 127.0.0.1:8000).
    #[arg(long)]
    pub listen: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); SIGHUP reloads it and the key
    /// without dropping a connection (and no longer stops the front).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// An origin as NAME=URL, in priority order (repeatable; replaces `origins` of [front]).
    #[arg(long = "origin", value_name = "NAME=URL")]
    pub origins: Vec<String>,
    /// proxy (stream through, retry on the next origin before the first byte) or redirect (302).
    #[arg(long, value_parser = ["proxy", "redirect"])]
    pub mode: Option<String>,
    /// Time between two probes of an origin's /healthz (default 2s).
    #[arg(long, value_name = "DURATION", value_parser = short_duration)]
    pub probe_interval: Option<std::time::Duration>,
    /// A probe not answered by then failed (default 1s).
    #[arg(long, value_name = "DURATION", value_parser = short_duration)]
    pub probe_timeout: Option<std::time::Duration>,
    /// Failed probes in a row that take an origin down (default 3).
    #[arg(long, value_name = "K", value_parser = RangedU64ValueParser::<u32>::new().range(1..=100))]
    pub fail_after: Option<u32>,
    /// Good probes in a row that bring a down origin back (default 3).
    #[arg(long, value_name = "M", value_parser = RangedU64ValueParser::<u32>::new().range(1..=100))]
    pub recover_after: Option<u32>,
    /// Once requests moved to another origin, keep them there even when a higher-priority one recovers.
    #[arg(long)]
    pub no_failback: bool,
    /// One attempt on one origin: connection and response head (default 10s).
    #[arg(long, value_name = "DURATION", value_parser = short_duration)]
    pub upstream_timeout: Option<std::time::Duration>,
    /// Folder holding hls.js/ and dashjs/ (tools/players/node_modules): the status page's player.
    #[arg(long, value_name = "DIR")]
    pub players: Option<PathBuf>,
}
