//! `ralph-town status` (`ps`): the team's sandboxes, one line each.

use std::time::SystemTime;

use serde::Serialize;

use super::args::StatusArgs;
use super::{age, load_team, print_json, provider_for, table};
use crate::desired;
use crate::error::{Result, exit};
use crate::plan::labels;

/// One row of `status`.
#[derive(Serialize)]
struct Row {
    teammate: String,
    /// `None` for a declared teammate without a sandbox.
    sandbox_id: Option<String>,
    state: String,
    branch: Option<String>,
    setup: Option<String>,
    #[serde(serialize_with = "crate::provider::humantime_serde_compat::option::serialize")]
    created_at: Option<SystemTime>,
    /// Whether the teammate is still declared in the team file.
    declared: bool,
}

pub(super) async fn run(args: &StatusArgs) -> Result<i32> {
    let team = load_team(&args.file.file, false)?;
    let provider = provider_for(team.provider, Some(&team))?;
    let sandboxes = desired::observe(provider.as_ref(), &team.name).await?;
    let mut rows: Vec<Row> = sandboxes
        .iter()
        .map(|sandbox| {
            let teammate = sandbox
                .labels
                .get(labels::TEAMMATE)
                .cloned()
                .unwrap_or_else(|| sandbox.name.clone());
            Row {
                declared: team.teammates.iter().any(|t| t.name == teammate),
                teammate,
                sandbox_id: Some(sandbox.id.clone()),
                state: sandbox.state.to_string(),
                branch: sandbox.labels.get(labels::BRANCH).cloned(),
                setup: sandbox.labels.get(labels::SETUP).cloned(),
                created_at: Some(sandbox.created_at),
            }
        })
        .collect();
    for teammate in &team.teammates {
        if !rows.iter().any(|row| row.teammate == teammate.name) {
            rows.push(Row {
                teammate: teammate.name.clone(),
                sandbox_id: None,
                state: "missing".to_string(),
                branch: Some(teammate.branch.clone()),
                setup: None,
                created_at: None,
                declared: true,
            });
        }
    }
    rows.sort_by(|a, b| (&a.teammate, &a.created_at).cmp(&(&b.teammate, &b.created_at)));
    if args.json {
        print_json(&rows)?;
        return Ok(exit::SUCCESS);
    }
    let mut lines = vec![
        ["TEAMMATE", "SANDBOX", "STATE", "BRANCH", "SETUP", "AGE"]
            .map(str::to_string)
            .to_vec(),
    ];
    for row in &rows {
        let dash = || "-".to_string();
        let name = if row.declared {
            row.teammate.clone()
        } else {
            format!("{} (orphan)", row.teammate)
        };
        lines.push(vec![
            name,
            row.sandbox_id.clone().unwrap_or_else(dash),
            row.state.clone(),
            row.branch.clone().unwrap_or_else(dash),
            row.setup.clone().unwrap_or_else(|| {
                if row.sandbox_id.is_some() {
                    "pending".into()
                } else {
                    dash()
                }
            }),
            row.created_at.map(age).unwrap_or_else(dash),
        ]);
    }
    println!("team `{}` on `{}`", team.name, team.provider);
    print!("{}", table(&lines));
    Ok(exit::SUCCESS)
}
