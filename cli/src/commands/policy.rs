use std::process::ExitCode;

use super::Context;
use crate::args::PolicyCommand;
use crate::output;

pub async fn run(ctx: &Context<'_>, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::List { dc } => {
            let dc = ctx.dc(&dc.dc)?;
            let listed = dc.catalog().list_policies().await?;
            for p in &listed.problems {
                eprintln!("mirrorcast: skipped a bad record: {}", p.message);
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
    }
    Ok(ExitCode::SUCCESS)
}
