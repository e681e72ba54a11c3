//! `ralph-town sandbox ...`: thin handlers over [`crate::sandbox`]. They parse `KEY=VALUE`
//! arguments, build the provider, call the library and print: results on stdout (or JSON with
//! `--json`), notes and errors on stderr.

pub(crate) mod args;
mod env;
mod preflight;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use self::args::{
    CreateArgs, DeleteArgs, ExecArgs, ListArgs, SandboxArgs, SandboxCommand, SshArgs,
};
use super::{age, print_json, provider_for, table};
use crate::error::{Result, exit};
use crate::provider::{AttachRequest, Labels, Provider, ProviderKind, ShellAccess};
use crate::sandbox::{self, CreateOptions, ExecChannel, ExecOptions, SandboxError};

pub(super) async fn run(args: SandboxArgs) -> Result<i32> {
    let kind = args.provider;
    let json = args.json;
    match args.command {
        SandboxCommand::Create(create) => self::create(kind, json, &create).await,
        SandboxCommand::List(list) => self::list(kind, json, &list).await,
        SandboxCommand::Ssh(ssh) => self::ssh(kind, json, &ssh).await,
        SandboxCommand::Exec(exec) => self::exec(kind, json, &exec).await,
        SandboxCommand::Delete(delete) => self::delete(kind, json, &delete).await,
        SandboxCommand::Preflight(preflight) => preflight::preflight(kind, json, &preflight).await,
        SandboxCommand::Snapshot(snapshot) => preflight::snapshot(kind, json, snapshot).await,
        SandboxCommand::Env(env) => env::run(kind, json, env).await,
    }
}

async fn create(kind: ProviderKind, json: bool, args: &CreateArgs) -> Result<i32> {
    let options = CreateOptions {
        name: args.name.clone(),
        snapshot: args.snapshot.clone(),
        env: assignments(&args.env)?,
        labels: labels(&args.labels)?,
        auto_stop: args.auto_stop,
        auto_delete: args.auto_delete,
    };
    let provider = provider_for(kind, None)?;
    let created = sandbox::create(&provider, &options).await?;
    for warning in &created.warnings {
        eprintln!("warning: {warning}");
    }
    if json {
        print_json(&created)?;
    } else {
        eprintln!(
            "created sandbox `{}` ({})",
            created.sandbox.name, created.sandbox.state
        );
        println!("{}", created.sandbox.id);
    }
    Ok(exit::SUCCESS)
}

async fn list(kind: ProviderKind, json: bool, args: &ListArgs) -> Result<i32> {
    let labels = labels(&args.labels)?;
    let provider = provider_for(kind, None)?;
    let sandboxes = sandbox::list(&provider, &labels).await?;
    if json {
        print_json(&sandboxes)?;
        return Ok(exit::SUCCESS);
    }
    if sandboxes.is_empty() {
        eprintln!("no sandboxes");
        return Ok(exit::SUCCESS);
    }
    let mut rows = vec![
        ["ID", "NAME", "STATE", "SNAPSHOT", "AGE", "LABELS"]
            .map(String::from)
            .to_vec(),
    ];
    for sandbox in &sandboxes {
        let created = humantime::parse_rfc3339_weak(&sandbox.created_at)
            .unwrap_or(std::time::SystemTime::now());
        rows.push(vec![
            sandbox.id.clone(),
            sandbox.name.clone(),
            sandbox.state.clone(),
            sandbox.snapshot.clone().unwrap_or_else(|| "-".to_string()),
            age(created),
            sandbox
                .labels
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
                .join(","),
        ]);
    }
    print!("{}", table(&rows));
    Ok(exit::SUCCESS)
}

async fn ssh(kind: ProviderKind, json: bool, args: &SshArgs) -> Result<i32> {
    let provider = provider_for(kind, None)?;
    let access = sandbox::ssh_access(&provider, &args.id, args.expires).await?;
    match &access {
        // A local sandbox has nothing to hand out: its shell opens here.
        ShellAccess::Local { sandbox_id, .. } if !json => {
            let exit = provider
                .attach(sandbox_id, &AttachRequest::shell(args.cwd.as_deref()))
                .await?;
            Ok(exit.unwrap_or(exit::FAILURE))
        }
        ShellAccess::Ssh { .. } if args.connect => {
            // A fresh token of the provider's own, revoked when the session ends.
            let exit = provider
                .attach(&args.id, &AttachRequest::shell(args.cwd.as_deref()))
                .await?;
            Ok(exit.unwrap_or(exit::FAILURE))
        }
        _ if json => {
            print_json(&access)?;
            Ok(exit::SUCCESS)
        }
        _ => {
            print_shell_access(&access);
            Ok(exit::SUCCESS)
        }
    }
}

/// How to reach a sandbox's shell: the command on stdout, when an SSH token expires on stderr.
pub(super) fn print_shell_access(access: &ShellAccess) {
    match access {
        ShellAccess::Ssh {
            command,
            expires_at,
            ..
        } => {
            println!("{command}");
            eprintln!("expires at {expires_at}");
        }
        ShellAccess::Local { command, .. } => println!("{command}"),
    }
}

async fn exec(kind: ProviderKind, json: bool, args: &ExecArgs) -> Result<i32> {
    let options = ExecOptions {
        command: command_line(&args.command)?,
        cwd: args.cwd.clone(),
        env: BTreeMap::new(),
        timeout: args.timeout.map(Duration::from_secs),
        ssh_fallback: !args.no_ssh_fallback,
    };
    let provider = provider_for(kind, None)?;
    let result = sandbox::exec(&provider, &args.id, &options).await?;
    if json {
        print_json(&result)?;
    } else {
        write_stdout(&result.output)?;
    }
    if result.via == ExecChannel::Ssh {
        eprintln!(
            "note: the provider answered exit code -1 with no output; the command ran again over SSH"
        );
    }
    if result.timed_out {
        eprintln!(
            "error: the command did not finish within {}s",
            args.timeout.unwrap_or_default()
        );
    }
    Ok(result.exit_code)
}

async fn delete(kind: ProviderKind, json: bool, args: &DeleteArgs) -> Result<i32> {
    let provider = provider_for(kind, None)?;
    let outcomes = sandbox::delete(&provider, &args.ids).await;
    if json {
        print_json(&outcomes)?;
    }
    let mut failed = 0;
    for outcome in &outcomes {
        match &outcome.error {
            None if !json => println!("deleted {}", outcome.id),
            None => {}
            Some(error) => {
                failed += 1;
                eprintln!("error: cannot delete `{}`: {error}", outcome.id);
            }
        }
    }
    Ok(if failed == 0 {
        exit::SUCCESS
    } else {
        exit::FAILURE
    })
}

/// The provider for a sandbox command.
pub(super) fn provider(kind: ProviderKind) -> Result<Arc<dyn Provider>> {
    provider_for(kind, None)
}

/// One argument is a shell command line as written; several are words, quoted and joined.
pub(super) fn command_line(words: &[String]) -> Result<String> {
    match words {
        [line] => Ok(line.clone()),
        words => shlex::try_join(words.iter().map(String::as_str))
            .map_err(|_| SandboxError::invalid("the command contains a NUL byte", None).into()),
    }
}

/// `KEY=VALUE` arguments; a repeated key keeps its last value.
pub(super) fn assignments(texts: &[String]) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for text in texts {
        let (key, value) = sandbox::parse_assignment(text)?;
        env.insert(key, value);
    }
    Ok(env)
}

fn labels(texts: &[String]) -> Result<Labels> {
    let mut labels = Labels::new();
    for text in texts {
        match text.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                labels.insert(key.to_string(), value.to_string());
            }
            _ => {
                return Err(SandboxError::invalid(
                    format!("`{text}` is not a label"),
                    Some("write `--label KEY=VALUE`".to_string()),
                )
                .into());
            }
        }
    }
    Ok(labels)
}

pub(super) fn write_stdout(text: &str) -> Result<()> {
    super::out(text)
}
