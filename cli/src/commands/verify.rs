use std::io::Write;
use std::process::ExitCode;

use mirrorcast_core::Error;
use mirrorcast_verify::served::{verify_served, Fetch, Fetched, Served};
use mirrorcast_verify::{verify, Report, RequestsSent};

use crate::args::verify::{ReportFormat, Verify};
use crate::args::VerifyArgs;
use crate::context::Context;
use crate::progress::{Mode, Work};

pub(crate) async fn run(ctx: &Context<'_>, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let Verify { from, to, selected, http, mut options, format } = args.resolve(ctx.json)?;
    // Only JSON lists the `=` entries (one per blob); text and JUnit print their counts.
    options.same_entries = format == ReportFormat::Json;
    let (a, b) = (ctx.dc(&from)?, ctx.dc(&to)?);
    // Keys are compared only with both KEKs; without one their entries say what to set.
    options.keks = mirrorcast_core::replicate::Keks { source: a.kek.access().await?, target: b.kek.access().await? };
    // Stores compared with themselves always agree: such a report would be a pass that checked
    // nothing. Two origins (--http) may serve one account and still differ, so they are compared.
    if http.is_none() {
        a.check_apart_from(&b, "comparing a data center with itself proves nothing: give --to its replica")?;
    }
    let selected = selected.as_deref();
    // The verify crate reports nothing while it works: a spinner with the time spent.
    let spinner = Work::spinner(Mode::detect(ctx.json), format!("verify {} against {}", a.name, b.name));
    let sent_before = (a.store.requests_sent(), b.store.requests_sent());
    let mut report = match http {
        Some(bases) => {
            let a_base = origin_base(&a.name, bases.from_url.as_deref(), &a.origin, "--from-url")?;
            let b_base = origin_base(&b.name, bases.to_url.as_deref(), &b.origin, "--to-url")?;
            let fetch = HttpFetch::new(ctx.settings.retry_for)?;
            verify_served(
                a.store.clone(),
                Served { name: &a.name, base: &a_base },
                Served { name: &b.name, base: &b_base },
                selected,
                &fetch,
                options.parallel,
            )
            .await?
        }
        None => {
            verify((&a.name, a.store.clone(), &a.origin), (&b.name, b.store.clone(), &b.origin), selected, &options)
                .await?
        }
    };
    spinner.finish();
    report.requests = Some(RequestsSent {
        source: a.store.requests_sent() - sent_before.0,
        target: b.store.requests_sent() - sent_before.1,
    });
    print(&report, format)?;
    Ok(ExitCode::from(report.exit_code()))
}

/// Written as read back, one asset at a time: a large report is never whole in memory.
fn print(report: &Report, format: ReportFormat) -> anyhow::Result<()> {
    let mut out = crate::output::stdout_writer();
    match format {
        ReportFormat::Json => return crate::output::json(report),
        ReportFormat::Junit => report.write_junit(&mut out)?,
        ReportFormat::Text => report.write_text(&mut out)?,
    }
    out.flush()?;
    Ok(())
}

/// The base of a data center's streaming URLs for --http: the flag, else its configured origin.
fn origin_base(dc: &str, flag: Option<&str>, configured: &str, flag_name: &str) -> Result<String, Error> {
    let base = flag.unwrap_or(configured).trim().trim_end_matches('/');
    if base.is_empty() {
        return Err(Error::invalid_input(format!(
            "no origin for data center '{dc}': give {flag_name} http://host:port, or set origin/serve in [dc.{dc}] (or MIRRORCAST_ORIGIN_{})",
            dc.to_ascii_uppercase()
        )));
    }
    let parsed = reqwest::Url::parse(base).map_err(|e| {
        Error::invalid_input(format!("{flag_name} '{base}' is not a URL ({e}): use e.g. http://127.0.0.1:8080"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
        return Err(Error::invalid_input(format!(
            "{flag_name} '{base}' must be an http:// or https:// base URL without a query"
        )));
    }
    Ok(base.to_owned())
}

/// verify --http's GETs: redirects followed, bounded by --retry-for.
struct HttpFetch {
    client: reqwest::Client,
}

impl HttpFetch {
    fn new(timeout: std::time::Duration) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| Error::invalid_input(format!("cannot set up the HTTP client: {e}")))?;
        Ok(HttpFetch { client })
    }
}

#[async_trait::async_trait]
impl Fetch for HttpFetch {
    async fn get(&self, url: &str) -> Fetched {
        let response = match self.client.get(url).send().await {
            Ok(r) => r,
            Err(e) => return Fetched::Failed(if e.is_connect() { "cannot connect" } else { "no answer" }.into()),
        };
        let status = response.status().as_u16();
        match response.bytes().await {
            Ok(body) => Fetched::Response { status, body: body.to_vec() },
            Err(_) => Fetched::Failed("response body cut off".into()),
        }
    }
}
