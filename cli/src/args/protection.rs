//! `content-key …`, `content-key-policy …` and `streaming-policy …`: the
//! content protection records of a data center.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Dc;

#[derive(Debug, Subcommand)]
pub(crate) enum ContentKeyCommand {
    /// Create a content key: a random 128-bit key (OS RNG), stored wrapped under the data center's KEK; prints its id.
    Create {
        #[command(flatten)]
        dc: Dc,
        /// envelope (HLS AES-128), cenc or cbcs.
        #[arg(long = "type", default_value = "cenc")]
        key_type: String,
        /// Use this key id (a UUID) instead of a new one.
        #[arg(long)]
        id: Option<String>,
        /// The content key policy that delivers it.
        #[arg(long)]
        policy: Option<String>,
    },
    /// List content keys (ids and types; never the keys).
    List {
        #[command(flatten)]
        dc: Dc,
    },
    /// Show a content key's record (never the key).
    Show {
        #[command(flatten)]
        dc: Dc,
        id: String,
    },
    /// Delete a content key no locator names.
    Delete {
        #[command(flatten)]
        dc: Dc,
        id: String,
    },
    /// Import content keys from a Media Services export (`az ams streaming-locator list-content-keys`
    /// output, or `streaming-locator list` with each locator's contentKeys carrying value), wrapped at once.
    Import {
        #[command(flatten)]
        dc: Dc,
        /// The export's JSON file.
        path: PathBuf,
    },
    /// Print a content key in the clear, for a migration or a third-party DRM service (needs --reveal).
    Export {
        #[command(flatten)]
        dc: Dc,
        id: String,
        /// Print the key itself: whoever sees the output can decrypt the content.
        #[arg(long)]
        reveal: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ContentKeyPolicyCommand {
    /// Create a content key policy: open, or restricted to a token (JWT).
    Create(Box<CreatePolicy>),
    /// List content key policies.
    List {
        #[command(flatten)]
        dc: Dc,
    },
    /// Show a content key policy (token keys by kind only, never an HS256 key).
    Show {
        #[command(flatten)]
        dc: Dc,
        name: String,
    },
    /// Delete a content key policy no locator names.
    Delete {
        #[command(flatten)]
        dc: Dc,
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum StreamingPolicyCommand {
    /// List the predefined streaming policies and the data center's custom ones.
    List {
        #[command(flatten)]
        dc: Dc,
    },
    /// Show a streaming policy: each protocol's scheme, the DRM systems signalled, licence URL templates.
    Show {
        #[command(flatten)]
        dc: Dc,
        name: String,
    },
    /// Create a custom streaming policy.
    Create {
        #[command(flatten)]
        dc: Dc,
        name: String,
        /// PROTOCOL=SCHEME: hls, dash, smooth-streaming or download = clear, envelope, cenc or cbcs (repeatable).
        #[arg(long, value_name = "PROTOCOL=SCHEME", required = true)]
        protocol: Vec<String>,
        /// SCHEME:SYSTEM[=LICENCE-URL-TEMPLATE]: a DRM system signalled for cenc or cbcs (repeatable);
        /// the template may hold {ContentKeyId} and {AlternativeMediaId}.
        #[arg(long, value_name = "SCHEME:SYSTEM[=URL]")]
        drm: Vec<String>,
        /// Where envelope keys come from (a template, as for --drm); default: the origin's own.
        #[arg(long, value_name = "URL")]
        envelope_key_url: Option<String>,
        /// The content key policy of locators that name none.
        #[arg(long, value_name = "NAME")]
        default_content_key_policy: Option<String>,
    },
    /// Delete a custom streaming policy no locator names.
    Delete {
        #[command(flatten)]
        dc: Dc,
        name: String,
    },
}

/// `content-key-policy create`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct CreatePolicy {
    #[command(flatten)]
    pub dc: Dc,
    pub name: String,
    /// Anyone may have the key.
    #[arg(long, conflicts_with_all = ["issuer", "audience"])]
    pub open: bool,
    /// The token's issuer (iss): makes the policy token-restricted.
    #[arg(long, requires = "audience")]
    pub issuer: Option<String>,
    /// The token's audience (aud).
    #[arg(long, requires = "issuer")]
    pub audience: Option<String>,
    /// Environment variable holding an HS256 key in base64 (repeatable; the first is primary).
    #[arg(long, value_name = "VAR")]
    pub hs256_key_env: Vec<String>,
    /// File holding an HS256 key in base64 (repeatable).
    #[arg(long, value_name = "FILE")]
    pub hs256_key_file: Vec<PathBuf>,
    /// An RS256 public key as MODULUS:EXPONENT, each base64 (repeatable).
    #[arg(long, value_name = "MODULUS:EXPONENT")]
    pub rs256_key: Vec<String>,
    /// An X.509 certificate (PEM or DER file) whose RS256 key signs tokens (repeatable).
    #[arg(long, value_name = "FILE")]
    pub x509: Vec<PathBuf>,
    /// A claim the token must carry: TYPE or TYPE=VALUE (repeatable).
    #[arg(long, value_name = "TYPE[=VALUE]")]
    pub claim: Vec<String>,
    /// The token must name the requested key (Media Services' contentkeyidentifier claim).
    #[arg(long)]
    pub require_key_id_claim: bool,
    /// What the policy delivers: clear-key (AES-128 / W3C ClearKey), play-ready, widevine, fair-play.
    #[arg(long, default_value = "clear-key")]
    pub delivery: String,
    /// A description.
    #[arg(long)]
    pub description: Option<String>,
}
