//! `mirrorcast job list|show|cancel`: encode jobs, from any shell.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use mirrorcast_encode::{JobId, JobRecord, Jobs};

use crate::args::JobCommand;
use crate::context::Context;
use crate::output;

pub(crate) async fn run(ctx: &Context<'_>, command: JobCommand) -> anyhow::Result<ExitCode> {
    match command {
        JobCommand::List { dc } => {
            let dc = ctx.dc(&dc.dc)?;
            let jobs = Jobs::new(dc.store.clone()).list().await?;
            let now = Utc::now();
            if ctx.json {
                output::json(&jobs.iter().map(|j| with_stale(j, now)).collect::<anyhow::Result<Vec<_>>>()?)?;
            } else {
                let rows: Vec<Vec<String>> = jobs
                    .iter()
                    .map(|j| {
                        vec![
                            j.id.to_string(),
                            j.name.clone(),
                            j.shown_state(now),
                            format!("{:.0}%", j.progress),
                            j.output_asset.map(|a| a.to_string()).unwrap_or_default(),
                            output::time(j.created),
                        ]
                    })
                    .collect();
                output::table(&["ID", "NAME", "STATE", "PROGRESS", "OUTPUT", "CREATED"], &rows);
            }
        }
        JobCommand::Show { dc, job } => {
            let id = JobId::parse(&job)?;
            let dc = ctx.dc(&dc.dc)?;
            let jobs = Jobs::new(dc.store.clone());
            let record = jobs.get(&id).await?.value;
            let log = jobs.log(&id).await?;
            let now = Utc::now();
            if ctx.json {
                let mut value = with_stale(&record, now)?;
                value["log"] = serde_json::json!(log);
                output::json(&value)?;
            } else {
                outln!(
                    "id:        {}\nname:      {}\nstate:     {}\nprogress:  {:.0}%\npreset:    {}\ninput:     {}\noutput:    {}\ncreated:   {}\nended:     {}",
                    record.id,
                    record.name,
                    record.shown_state(now),
                    record.progress,
                    record.preset,
                    record.input_asset,
                    record.output_asset.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
                    output::time(record.created),
                    record.ended.map(output::time).unwrap_or_else(|| "-".into()),
                );
                if let Some(e) = &record.error {
                    outln!("error:     {e}");
                }
                if let Some(log) = log {
                    outln!("\n{}", log.trim_end());
                }
            }
        }
        JobCommand::Cancel { dc, job } => {
            let id = JobId::parse(&job)?;
            let dc = ctx.dc(&dc.dc)?;
            let record = mirrorcast_encode::run::cancel(&dc.catalog(), &Jobs::new(dc.store.clone()), &id).await?;
            if ctx.json {
                output::json(&record)?;
            } else {
                outln!("cancel requested for {} ({})", record.id, record.state);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The record as JSON with `stale`: whether its encoder stopped writing before the job ended.
fn with_stale(job: &JobRecord, now: DateTime<Utc>) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(job)?;
    value["stale"] = serde_json::json!(job.is_stale(now));
    Ok(value)
}
