//! `mirrorcast job list|show|cancel`: encode jobs, from any shell.

use std::process::ExitCode;

use mirrorcast_encode::{JobId, Jobs};

use super::Context;
use crate::args::JobCommand;
use crate::output;

pub async fn run(ctx: &Context<'_>, command: JobCommand) -> anyhow::Result<ExitCode> {
    match command {
        JobCommand::List { dc } => {
            let dc = ctx.dc(&dc.dc)?;
            let jobs = Jobs::new(dc.store.clone()).list().await?;
            if ctx.json {
                output::json(&jobs)?;
            } else {
                let rows: Vec<Vec<String>> = jobs
                    .iter()
                    .map(|j| {
                        vec![
                            j.id.to_string(),
                            j.name.clone(),
                            j.state.to_string(),
                            format!("{:.0}%", j.progress),
                            j.output_asset.map(|a| a.to_string()).unwrap_or_default(),
                            j.created.format("%Y-%m-%d %H:%M:%S").to_string(),
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
            if ctx.json {
                let mut value = serde_json::to_value(&record)?;
                value["log"] = serde_json::json!(log);
                output::json(&value)?;
            } else {
                println!(
                    "id:        {}\nname:      {}\nstate:     {}\nprogress:  {:.0}%\npreset:    {}\ninput:     {}\noutput:    {}\ncreated:   {}\nended:     {}",
                    record.id,
                    record.name,
                    record.state,
                    record.progress,
                    record.preset,
                    record.input_asset,
                    record.output_asset.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
                    record.created.to_rfc3339(),
                    record.ended.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into()),
                );
                if let Some(e) = &record.error {
                    println!("error:     {e}");
                }
                if let Some(log) = log {
                    println!("\n{}", log.trim_end());
                }
            }
        }
        JobCommand::Cancel { dc, job } => {
            let id = JobId::parse(&job)?;
            let dc = ctx.dc(&dc.dc)?;
            let record = Jobs::new(dc.store.clone()).request_cancel(&id).await?;
            if ctx.json {
                output::json(&record)?;
            } else {
                println!("cancel requested for {} ({})", record.id, record.state);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
