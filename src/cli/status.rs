//! `ralph-town status` (`ps`): the team's sandboxes, one line each.

use super::args::StatusArgs;
use super::{age, load_team, print_json, provider_for, table};
use crate::error::{Result, exit};
use crate::workflow;

pub(super) async fn run(args: &StatusArgs) -> Result<i32> {
    let team = load_team(&args.file.file, false)?;
    let provider = provider_for(team.provider, Some(&team))?;
    let rows = workflow::status(provider.as_ref(), &team).await?;
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
            row.setup.map(|setup| setup.to_string()).unwrap_or_else(|| {
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
