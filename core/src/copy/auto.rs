//! Choosing the copy path: server-side where the capabilities say the target
//! can read the source, streamed otherwise, and streamed from then on if a
//! server-side attempt shows the source is out of the target's reach.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use super::{CopyEngine, CopyOutcome, CopyRequest, ServerSideCopy, StreamedCopy};
use crate::error::{ErrorKind, Result};

/// What the user asked for (`--strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StrategyChoice {
    /// Server-side where the stores' capabilities allow it, else streamed; streamed for the rest of the run once the target proves unable to reach the source.
    #[default]
    Auto,
    /// Server-side only: a blob the target cannot copy itself fails.
    Server,
    /// Through the client only.
    Streamed,
}

impl std::str::FromStr for StrategyChoice {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(StrategyChoice::Auto),
            "server" => Ok(StrategyChoice::Server),
            "streamed" => Ok(StrategyChoice::Streamed),
            _ => Err(crate::Error::invalid_input(format!("unknown strategy '{s}': use auto, server or streamed"))),
        }
    }
}

/// The engine behind `--strategy`: each blob server-side or streamed as `choice` says, remembering when server-side gave out.
#[derive(Debug, Default)]
pub struct AutoCopy {
    /// What the user asked for.
    pub choice: StrategyChoice,
    /// The server-side engine, where it applies.
    pub server: ServerSideCopy,
    /// The streamed engine, also the fallback.
    pub streamed: StreamedCopy,
    /// Set once a server-side copy failed for want of reach: later blobs go streamed.
    server_unreachable: AtomicBool,
}

impl AutoCopy {
    /// An engine for `choice` over these two, server-side not given up yet.
    pub fn new(choice: StrategyChoice, server: ServerSideCopy, streamed: StreamedCopy) -> Self {
        AutoCopy { choice, server, streamed, server_unreachable: AtomicBool::new(false) }
    }

    /// Copies through the client from now on (`Auto` only): `true` if that
    /// changes anything, so a refused server-side copy is worth trying again.
    pub fn give_up_server_side(&self) -> bool {
        self.choice == StrategyChoice::Auto && !self.server_unreachable.swap(true, Ordering::Relaxed)
    }

    /// Whether the capabilities allow the target to read the source itself.
    pub fn server_side_possible(r: &CopyRequest<'_>) -> bool {
        let target = r.target.capability();
        let same_endpoint = r.source.endpoint().is_some() && r.source.endpoint() == r.target.endpoint();
        let reach =
            if same_endpoint { target.copy_from_url_same_endpoint } else { target.copy_from_url_other_endpoint };
        reach && target.put_block_from_url && r.source.capability().signed_urls
    }
}

#[async_trait]
impl CopyEngine for AutoCopy {
    async fn copy_blob(&self, r: CopyRequest<'_>) -> Result<CopyOutcome> {
        match self.choice {
            StrategyChoice::Server => self.server.copy_blob(r).await,
            StrategyChoice::Streamed => self.streamed.copy_blob(r).await,
            StrategyChoice::Auto => {
                if !Self::server_side_possible(&r) || self.server_unreachable.load(Ordering::Relaxed) {
                    return self.streamed.copy_blob(r).await;
                }
                match self.server.copy_blob(r).await {
                    Ok(done) => Ok(done),
                    // Worth a server-side retry later, or a real answer about the source, or a
                    // refusal the caller may wait out (a new stored policy): pass on.
                    Err(e)
                        if e.is_retryable()
                            || matches!(
                                e.kind(),
                                ErrorKind::PreconditionFailed | ErrorKind::Authentication | ErrorKind::PermissionDenied
                            ) =>
                    {
                        Err(e)
                    }
                    Err(e) => {
                        tracing::warn!(blob = r.name, error = %e, "server-side copy failed; copying through the client from now on");
                        self.server_unreachable.store(true, Ordering::Relaxed);
                        self.streamed.copy_blob(r).await
                    }
                }
            }
        }
    }
}
