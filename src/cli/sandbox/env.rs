//! `ralph-town sandbox env set|unset|list`: a running sandbox's environment. Values are never
//! printed by `set`; `list` redacts credentials by name.

use super::args::{EnvArgs, EnvCommand};
use super::{assignments, print_json, provider};
use crate::error::{Result, exit};
use crate::provider::ProviderKind;
use crate::sandbox;

pub(super) async fn run(kind: ProviderKind, json: bool, args: EnvArgs) -> Result<i32> {
    match args.command {
        EnvCommand::Set(set) => {
            let values = assignments(&set.assignments)?;
            let provider = provider(kind)?;
            let change = sandbox::env_set(&provider, &set.id, &values, &[]).await?;
            if json {
                print_json(&change)?;
            } else {
                println!(
                    "set {} in sandbox `{}`",
                    names(&change.set),
                    change.sandbox_id
                );
            }
        }
        EnvCommand::Unset(unset) => {
            let provider = provider(kind)?;
            let change =
                sandbox::env_set(&provider, &unset.id, &Default::default(), &unset.names).await?;
            if json {
                print_json(&change)?;
            } else {
                println!(
                    "unset {} in sandbox `{}`",
                    names(&change.unset),
                    change.sandbox_id
                );
            }
        }
        EnvCommand::List(list) => {
            let provider = provider(kind)?;
            let listing = sandbox::env_list(&provider, &list.id).await?;
            if json {
                print_json(&listing)?;
            } else {
                for (name, value) in &listing.env {
                    println!("{name}={value}");
                }
            }
        }
    }
    Ok(exit::SUCCESS)
}

fn names(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
