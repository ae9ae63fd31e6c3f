//! The demo's live end: A's and B's origins behind an in-process front, whose page plays the
//! asset and shows which data center answers, until Ctrl-C. A's origin sits behind an
//! [`Outage`] switch that only the demo builds: while it is on, A answers every request
//! (its `/healthz` too) with a 503, so the front's probes take A down and viewers go to B.
//!
//! The switch is flipped from the page through `/_demo/a`, a route the demo merges into its
//! own front's router: `mirrorcast front` has no such route. It answers loopback peers only,
//! and a change must carry the `x-mirrorcast-demo` header, which a page of another origin
//! cannot send without a CORS preflight this route never answers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mirrorcast_front::{Front, FrontConfig, OriginSpec};
use mirrorcast_http::{serve, ConnectionLimits};

/// The header a request to change the switch must carry (see the module's docs).
pub(crate) const CONTROL_HEADER: &str = "x-mirrorcast-demo";

/// Whether data center A is "down": shared by A's origin (which refuses while it is on) and
/// the page's control route.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outage(Arc<AtomicBool>);

impl Outage {
    fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }

    /// `origin` behind this switch: while it is on, every request gets a 503.
    pub(crate) fn gate(&self, origin: Router) -> Router {
        origin.layer(middleware::from_fn_with_state(self.clone(), refuse_while_on))
    }
}

async fn refuse_while_on(State(outage): State<Outage>, request: Request, next: Next) -> Response {
    if outage.is_on() {
        return (StatusCode::SERVICE_UNAVAILABLE, "data center A is down (the demo's outage switch)\n").into_response();
    }
    next.run(request).await
}

#[derive(serde::Serialize)]
struct SwitchState {
    /// The data center the switch acts on.
    origin: &'static str,
    /// Whether its origin refuses every request.
    failing: bool,
}

/// `GET /_demo/a`: the switch; `POST /_demo/a/fail`, `POST /_demo/a/restore`: flip it.
fn control_routes(outage: Outage) -> Router {
    Router::new()
        .route("/_demo/a", get(state))
        .route("/_demo/a/fail", post(|o, p, h| change(o, p, h, true)))
        .route("/_demo/a/restore", post(|o, p, h| change(o, p, h, false)))
        .with_state(outage)
}

async fn state(State(outage): State<Outage>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    if !peer.ip().is_loopback() {
        return (StatusCode::FORBIDDEN, "the demo's control answers this machine only\n").into_response();
    }
    Json(SwitchState { origin: "a", failing: outage.is_on() }).into_response()
}

async fn change(
    State(outage): State<Outage>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    failing: bool,
) -> Response {
    if !peer.ip().is_loopback() {
        return (StatusCode::FORBIDDEN, "the demo's control answers this machine only\n").into_response();
    }
    if !headers.contains_key(CONTROL_HEADER) {
        return (
            StatusCode::FORBIDDEN,
            format!("a change needs the {CONTROL_HEADER} header (the demo page sends it)\n"),
        )
            .into_response();
    }
    outage.set(failing);
    Json(SwitchState { origin: "a", failing }).into_response()
}

/// The front over A and B, serving on a free loopback port until `stop` completes.
pub(crate) struct LiveFront {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    probes: Vec<tokio::task::JoinHandle<()>>,
}

impl LiveFront {
    /// Starts the front (A first, then B) with its probes, the page's players from `players`,
    /// and the control of `outage`; returns once A answers as the active origin.
    pub(crate) async fn start(
        origin_a: &str,
        origin_b: &str,
        players: Option<PathBuf>,
        outage: Outage,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<LiveFront> {
        let mut config = FrontConfig::new(vec![
            OriginSpec::parse(&format!("a={origin_a}"))?,
            OriginSpec::parse(&format!("b={origin_b}"))?,
        ]);
        // Quick probes: a click on the page shows its effect within a couple of seconds.
        config.probe.interval = Duration::from_millis(500);
        config.players = players;
        let front = Front::new(config)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let probes = front.start_probes();
        let app = mirrorcast_front::router(front.clone()).merge(control_routes(outage));
        let serving =
            tokio::spawn(serve(listener, app, ConnectionLimits::default(), stop, mirrorcast_http::access_log::flush));
        // The page opens on a settled front: A up and taking the viewers.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while front.active() != Some(0) {
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "the demo's front saw no healthy origin A in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(LiveFront { base, serving, probes })
    }

    /// The page playing `stream` (a path on the origins), with the demo's control shown.
    pub(crate) fn page_url(&self, stream: &str) -> String {
        format!("{}/_front/?demo&src={}", self.base, mirrorcast_core::streaming::encode_segment(stream))
    }

    /// Waits for the front to stop serving (its `stop` completed), then ends the probes.
    pub(crate) async fn stopped(self) {
        let _ = self.serving.await;
        self.probes.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// The page's players: `--players`, else `tools/players/node_modules` (what `cargo xtask setup`
/// installs) above the working directory or this source tree, if it is there.
pub(crate) fn players(given: Option<PathBuf>) -> Option<PathBuf> {
    if given.is_some() {
        return given;
    }
    let relative = Path::new("tools/players/node_modules");
    let starts = [std::env::current_dir().ok(), Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")))];
    starts
        .into_iter()
        .flatten()
        .flat_map(|start| start.ancestors().map(|d| d.join(relative)).collect::<Vec<_>>())
        .find(|candidate| candidate.join("hls.js/dist/hls.min.js").is_file())
}
