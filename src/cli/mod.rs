//! The command line: clap types in `args.rs`, one thin handler per command in the sibling files.
//!
//! Handlers turn arguments into calls of the library (`team`, `desired`, `plan`, `apply`,
//! `provider`) and print results on stdout; progress, warnings and diagnostics go to stderr.

mod args;
mod attach;
mod config;
mod down;
mod exec;
mod gc;
mod hooks;
mod init;
mod logs;
mod ls;
mod plan;
mod run;
mod sandbox;
mod serve;
mod serve_start;
mod signals;
mod status;
mod up;
mod work;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

pub use args::{Arguments, Command};
use clap::CommandFactory;
pub use hooks::install as install_hooks;

use crate::error::{Error, Result, exit};
use crate::provider::local::LocalProvider;
use crate::provider::{Provider, ProviderKind};
use crate::team::{self, LoadOptions, Team};

/// Runs one command; returns the process exit code.
pub async fn run(arguments: Arguments) -> Result<i32> {
    match arguments.command {
        Command::Init(args) => init::run(&args),
        Command::Validate(args) => {
            let team = load_team(&args.file, true)?;
            out(&format!(
                "`{}` is valid: team `{}`, {} teammate{} on `{}`\n",
                args.file.display(),
                team.name,
                team.teammates.len(),
                plural(team.teammates.len()),
                team.provider
            ))?;
            Ok(exit::SUCCESS)
        }
        Command::Config(args) => config::run(&args),
        Command::Plan(args) => plan::run(&args).await,
        Command::Up(args) => up::run(&args).await,
        Command::Down(args) => down::run(&args).await,
        Command::Ls(args) => ls::run(&args).await,
        Command::Gc(args) => gc::run(&args).await,
        Command::Status(args) => status::run(&args).await,
        Command::Exec(args) => exec::run(&args).await,
        Command::Ssh(args) => exec::ssh(&args).await,
        Command::Logs(args) => logs::run(&args).await,
        Command::Attach(args) => attach::run(&args).await,
        Command::Wait(args) => work::wait(&args).await,
        Command::Stop(args) => work::act(&args, crate::workflow::Act::Stop).await,
        Command::Start(args) => work::act(&args, crate::workflow::Act::Start).await,
        Command::Restart(args) => work::act(&args, crate::workflow::Act::Restart).await,
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Run(args) => run::run(&args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Mcp => {
            crate::mcp::serve_stdio().await?;
            Ok(exit::SUCCESS)
        }
        Command::Schema => {
            out(&team::schema_json())?;
            Ok(exit::SUCCESS)
        }
        Command::Completions(args) => {
            out(&completions(args.shell))?;
            Ok(exit::SUCCESS)
        }
    }
}

/// The completion script for `shell`.
fn completions(shell: args::Shell) -> String {
    let shell = match shell {
        args::Shell::Bash => clap_complete::Shell::Bash,
        args::Shell::Zsh => clap_complete::Shell::Zsh,
        args::Shell::Fish => clap_complete::Shell::Fish,
        args::Shell::Elvish => clap_complete::Shell::Elvish,
        args::Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    let mut command = Arguments::command();
    let mut script = Vec::new();
    if shell != clap_complete::Shell::Bash {
        clap_complete::generate(shell, &mut command, BIN, &mut script);
        return String::from_utf8_lossy(&script).into_owned();
    }
    // clap_complete's bash script spells the state of a subcommand two ways when the binary's
    // name has a dash (clap-rs/clap#6421), so no subcommand's options ever complete. Under a
    // name without one the two agree; then only the `complete` lines name the real binary.
    let stand_in = BIN.replace('-', "_");
    clap_complete::generate(shell, &mut command, &stand_in, &mut script);
    String::from_utf8_lossy(&script)
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("complete ") {
                line.replace(&format!(" {stand_in}"), &format!(" {BIN}"))
            } else {
                line.to_string()
            }
        })
        .map(|line| line + "\n")
        .collect()
}

/// The binary's name, as shells know it.
const BIN: &str = "ralph-town";

/// Writes results to stdout. A closed stdout (`ralph-town ... | head`) ends the command as a
/// success: the reader has what it wanted.
fn out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Err(Error::ClosedStdout),
        Err(error) => Err(Error::io("cannot write to stdout", error)),
    }
}

/// Loads a team file and prints its warnings on stderr.
fn load_team(path: &Path, require_secrets: bool) -> Result<Team> {
    let loaded = team::load(path, &LoadOptions { require_secrets })?;
    // One buffered writer: miette writes a report in many small pieces.
    let mut stderr = std::io::BufWriter::new(std::io::stderr().lock());
    for warning in loaded.warnings {
        let _ = writeln!(stderr, "{:?}", miette::Report::new(warning));
    }
    let _ = stderr.flush();
    Ok(loaded.team)
}

/// The local provider on the state root, with `read_only_paths` visible inside sandboxes;
/// warns once when bubblewrap is missing.
fn local_provider(read_only_paths: Vec<std::path::PathBuf>) -> Result<LocalProvider> {
    let (provider, warnings) = crate::workflow::open_local(read_only_paths)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    Ok(provider)
}

/// The provider a team uses; its warnings go to stderr.
fn provider_for(kind: ProviderKind, team: Option<&Team>) -> Result<Arc<dyn Provider>> {
    warned(crate::workflow::open_provider(kind, team)?)
}

/// The provider for a command that only reads sandboxes and starts nothing in one (`plan`).
fn provider_to_read(kind: ProviderKind, team: Option<&Team>) -> Result<Arc<dyn Provider>> {
    warned(crate::workflow::open_provider_to_read(kind, team)?)
}

fn warned(opened: crate::workflow::Opened) -> Result<Arc<dyn Provider>> {
    for warning in &opened.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(opened.provider)
}

/// Asks a yes/no question on the terminal; `None` when there is no terminal to ask on.
fn confirm(question: &str) -> Option<bool> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return None;
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).ok()?;
    Some(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Prints `value` as pretty JSON on stdout.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("results serialize");
    out(&format!("{text}\n"))
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// A short age: `42s`, `5m`, `3h`, `2d`.
fn age(since: std::time::SystemTime) -> String {
    let seconds = since.elapsed().map(|d| d.as_secs()).unwrap_or(0);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86400),
    }
}

/// Renders rows as left-aligned columns separated by two spaces.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[column]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
