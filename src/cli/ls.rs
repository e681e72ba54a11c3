//! `ralph-town ls`: the teams a provider holds sandboxes of (compose's `ls`), without any team
//! file: a team per pull request whose branch is gone still shows, with its age.

use super::args::LsArgs;
use super::{age, out, print_json, provider_for, table};
use crate::error::{Result, exit};
use crate::workflow;

pub(super) async fn run(args: &LsArgs) -> Result<i32> {
    let provider = provider_for(args.provider, None)?;
    let teams = workflow::teams(provider.as_ref()).await?;
    if args.json {
        print_json(&teams)?;
        return Ok(exit::SUCCESS);
    }
    if teams.is_empty() {
        eprintln!("no teams on `{}`", args.provider);
        return Ok(exit::SUCCESS);
    }
    let mut rows = vec![
        ["TEAM", "PROVIDER", "SANDBOXES", "STATES", "OLDEST", "FILE"]
            .map(String::from)
            .to_vec(),
    ];
    for team in &teams {
        let states: Vec<String> = team
            .states
            .iter()
            .map(|(state, count)| format!("{count} {state}"))
            .collect();
        rows.push(vec![
            team.team.clone(),
            team.provider.to_string(),
            team.sandboxes.to_string(),
            states.join(", "),
            age(team.oldest_created_at),
            team.file.clone().unwrap_or_else(|| "-".to_string()),
        ]);
    }
    out(&table(&rows))?;
    Ok(exit::SUCCESS)
}
