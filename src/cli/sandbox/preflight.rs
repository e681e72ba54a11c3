//! `ralph-town sandbox preflight` and `ralph-town sandbox snapshot ...`: is the snapshot ready,
//! and build it when it is not.

use super::args::{PreflightArgs, SnapshotArgs, SnapshotCommand};
use super::{print_json, provider};
use crate::cli::signals;
use crate::error::{Result, exit};
use crate::provider::daytona::DaytonaProvider;
use crate::provider::{ProviderError, ProviderKind};
use crate::sandbox::{self, PreflightOptions, SnapshotOptions};

pub(super) async fn preflight(kind: ProviderKind, json: bool, args: &PreflightArgs) -> Result<i32> {
    let options = PreflightOptions {
        snapshot: Some(args.snapshot.clone()),
        tools: args.tools.clone(),
    };
    let provider = provider(kind)?;
    if !json {
        eprintln!(
            "checking snapshot `{}` in a temporary sandbox",
            args.snapshot
        );
    }
    let report = sandbox::preflight(&provider, &options, signals::stopped()).await?;
    if let Some(error) = &report.cleanup_error {
        eprintln!(
            "warning: the temporary sandbox `{}` could not be deleted ({error}): delete it with `ralph-town sandbox delete {}`",
            report.sandbox_id, report.sandbox_id
        );
    }
    if json {
        print_json(&report)?;
    } else {
        for tool in &report.tools {
            let mark = if tool.found { "ok     " } else { "MISSING" };
            println!("{mark} {}", tool.path);
        }
        let missing = report.tools.iter().filter(|tool| !tool.found).count();
        if report.passed {
            println!(
                "Preflight passed: snapshot `{}` has every tool",
                report.snapshot
            );
        } else {
            println!(
                "Preflight failed: {missing} of {} tools missing in snapshot `{}`",
                report.tools.len(),
                report.snapshot
            );
            eprintln!(
                "hint: rebuild the snapshot with `ralph-town sandbox snapshot create --name {} --force`",
                report.snapshot
            );
        }
    }
    Ok(if report.passed {
        exit::SUCCESS
    } else {
        exit::FAILURE
    })
}

pub(super) async fn snapshot(kind: ProviderKind, json: bool, args: SnapshotArgs) -> Result<i32> {
    let create = match args.command {
        SnapshotCommand::Dockerfile => {
            print!("{}", sandbox::default_dockerfile());
            return Ok(exit::SUCCESS);
        }
        SnapshotCommand::Create(create) => create,
    };
    if kind != ProviderKind::Daytona {
        return Err(ProviderError::Unsupported {
            provider: "local",
            operation: "building snapshots (a `local` snapshot is only a recorded name; use `--provider daytona`)".to_string(),
        }
        .into());
    }
    let provider = DaytonaProvider::from_env(&Default::default())?;
    if !json {
        eprintln!(
            "building snapshot `{}` from the default recipe (`ralph-town sandbox snapshot dockerfile`); this takes a few minutes",
            create.name
        );
    }
    let options = SnapshotOptions {
        name: Some(create.name.clone()),
        force: create.force,
    };
    let report = sandbox::snapshot_create(&provider, &options).await?;
    if json {
        print_json(&report)?;
    } else {
        if report.replaced {
            eprintln!("deleted the earlier snapshot `{}`", report.name);
        }
        println!(
            "snapshot `{}` is {} (id {})",
            report.name, report.state, report.id
        );
    }
    Ok(exit::SUCCESS)
}
