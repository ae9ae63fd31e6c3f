use std::process::ExitCode;

use crate::args::PolicyCommand;
use crate::context::Context;
use crate::output;

pub(crate) async fn run(ctx: &Context<'_>, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::List { dc } => {
            let dc = ctx.dc(&dc.dc)?;
            let listed = dc.catalog().list_policies().await?;
            for p in &listed.problems {
                errln!("mirrorcast: skipped a bad record: {}", p.message);
            }
            let policies = &listed.records;
            if ctx.json {
                output::json(policies)?;
            } else {
                let rows: Vec<Vec<String>> = policies
                    .iter()
                    .map(|p| {
                        vec![
                            p.id.to_string(),
                            p.name.clone(),
                            p.duration_minutes.to_string(),
                            p.permissions.to_string(),
                        ]
                    })
                    .collect();
                output::table(&["ID", "NAME", "MINUTES", "PERMISSIONS"], &rows);
            }
            if !listed.problems.is_empty() {
                return Ok(ExitCode::from(crate::exit::FAILURE));
            }
        }
        PolicyCommand::Delete { dc, policy } => {
            let id = mirrorcast_core::id::PolicyId::parse(&policy)?;
            let dc = ctx.dc(&dc.dc)?;
            dc.catalog().delete_policy(&id).await?;
            if ctx.json {
                output::json(&serde_json::json!({ "deleted": id }))?;
            } else {
                outln!("deleted {id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
