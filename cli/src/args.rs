//! The command line, as clap sees it. Ids are taken as text and parsed by the
//! commands, so a malformed one gets mirrorcast's one-line error and exit 2.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mirrorcast",
    version,
    about = "Replicate streaming media assets between data centers, and prove the copy"
)]
pub struct Cli {
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

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, show, upload to and delete assets.
    #[command(subcommand)]
    Asset(AssetCommand),
    /// Access policies (shared by locators).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Streaming (origin) and SAS locators.
    #[command(subcommand)]
    Locator(LocatorCommand),
    /// Replicate assets from one data center to another (the failover flow).
    Replicate(ReplicateArgs),
    /// Prove B holds what A serves: blobs, records, manifests, MP4s, URLs. Never writes.
    Verify(VerifyArgs),
    /// Start Azurite, publish a sample encoded asset in it and print its streaming URLs.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct Dc {
    /// The data center: a name resolved from MIRRORCAST_DC_<NAME> or mirrorcast.toml.
    #[arg(long)]
    pub dc: String,
}

#[derive(Debug, Subcommand)]
pub enum AssetCommand {
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
    },
    /// Show one asset with its files and locators.
    Show {
        #[command(flatten)]
        dc: Dc,
        asset: String,
    },
    /// Upload a file or a folder into an asset, then regenerate its file infos.
    Upload {
        #[command(flatten)]
        dc: Dc,
        asset: String,
        path: PathBuf,
        /// Block reads and block writes (or small files) in flight at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Block size in MiB for large files.
        #[arg(long, default_value_t = 4)]
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
    /// Delete an asset: its locators, its container and its record.
    Delete {
        #[command(flatten)]
        dc: Dc,
        asset: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// List the access policies of a data center.
    List {
        #[command(flatten)]
        dc: Dc,
    },
}

#[derive(Debug, Subcommand)]
pub enum LocatorCommand {
    /// Create a locator for an asset.
    Create {
        #[command(flatten)]
        dc: Dc,
        asset: String,
        /// origin (streaming, read-only) or sas.
        #[arg(long = "type", default_value = "origin")]
        locator_type: String,
        /// Use this locator id (GUID or nb:lid:UUID:…) instead of a new one.
        #[arg(long)]
        id: Option<String>,
        /// How long it is valid, in days (default: 365 for origin, 1 for sas).
        #[arg(long)]
        days: Option<u64>,
        /// Start this many minutes in the past, for clock skew.
        #[arg(long, default_value_t = 5)]
        backdate_minutes: i64,
        /// Permissions of a SAS locator (letters of racwdl).
        #[arg(long, default_value = "rl")]
        permissions: String,
        /// Print a SAS locator's URL with its signature (otherwise redacted).
        #[arg(long)]
        reveal: bool,
    },
    /// List locators, of one asset or all.
    List {
        #[command(flatten)]
        dc: Dc,
        asset: Option<String>,
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
pub struct DemoArgs {
    /// Keep Azurite running until Ctrl-C, to try the URLs and commands.
    #[arg(long)]
    pub keep_running: bool,
}

/// Two data centers and the assets of the first to work on.
#[derive(Debug, Args)]
pub struct Pair {
    /// The source data center (A).
    #[arg(long)]
    pub from: String,
    /// The target data center (B).
    #[arg(long)]
    pub to: String,
    /// An asset (repeatable): id, GUID or container name.
    #[arg(long = "asset", required_unless_present = "all", conflicts_with = "all")]
    pub assets: Vec<String>,
    /// Every asset of the source (verify also reports assets only B has).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ReplicateArgs {
    #[command(flatten)]
    pub pair: Pair,
    /// Print the plan; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// auto (server-side where possible), server, or streamed.
    #[arg(long, default_value = "auto")]
    pub strategy: String,
    /// Blob copies in flight.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Block size in MiB for streamed copies of large blobs.
    #[arg(long, default_value_t = 4)]
    pub block_size_mib: u64,
    /// Take share K of N of the assets (e.g. 2/4), so N machines split one run.
    #[arg(long)]
    pub shard: Option<String>,
    /// Lifetime of the copy SAS, in minutes.
    #[arg(long, default_value_t = 480)]
    pub sas_minutes: i64,
    #[command(flatten)]
    pub caps: Caps,
}

/// Caps shared by all the work of one run, on both data centers.
#[derive(Debug, Args)]
pub struct Caps {
    /// At most this many storage requests per second, over the whole run.
    #[arg(long, value_name = "N")]
    pub max_requests_per_second: Option<f64>,
    /// At most this many bytes of blob data per second through this machine, e.g. 50MiB/s.
    #[arg(long, value_name = "RATE")]
    pub max_bandwidth: Option<String>,
}

impl Caps {
    /// The run's shared limits; a bad value is an input error (exit 2).
    pub fn limits(&self) -> Result<std::sync::Arc<mirrorcast_core::store::Limits>, mirrorcast_core::Error> {
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
pub struct VerifyArgs {
    #[command(flatten)]
    pub pair: Pair,
    /// Download and hash both sides, and check stored MD5s against the bytes.
    #[arg(long)]
    pub deep: bool,
    /// text, json or junit (`--json` is `--format json`).
    #[arg(long, default_value = "text")]
    pub format: String,
    /// Assets checked at once (and blobs hashed at once with --deep).
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,
}
