//! The command line, as clap types. No I/O here: handlers in the sibling files act on these.

use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::progress::ProgressMode;
use crate::provider::ProviderKind;
use crate::workflow::{DEFAULT_PARALLEL, DEFAULT_PROBE_PARALLEL};

/// Declare a team of coding-agent sandboxes in `team.toml`; `up` creates them, `down` removes
/// them.
#[derive(Debug, Parser)]
#[command(name = "ralph-town", version, about, max_term_width = 100)]
pub struct Arguments {
    #[command(subcommand)]
    pub command: Command,
    /// Show diagnostic codes (`run::not_found`, `team::unknown_key`) with errors and warnings
    #[arg(long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starter `team.toml`
    Init(InitArgs),
    /// Load, interpolate and check a team file
    Validate(FileArgs),
    /// Print the team file as ralph-town reads it: interpolated, defaults merged (secrets by
    /// name)
    Config(ConfigArgs),
    /// Show what `up` would change
    Plan(PlanArgs),
    /// Create, update and set up the team's sandboxes to match the team file
    Up(UpArgs),
    /// Delete the team's sandboxes: shows what goes, asks on a terminal
    #[command(long_about = DOWN_ABOUT)]
    Down(DownArgs),
    /// List the teams that have sandboxes, with their states and age
    Ls(LsArgs),
    /// Remove `local` sandboxes whose `ttl` has passed, and what crashed runs left behind
    Gc(GcArgs),
    /// Show the team's sandboxes
    #[command(visible_alias = "ps")]
    Status(StatusArgs),
    /// Run a command in a teammate's sandbox; exits with its exit code (125: ralph-town failed)
    Exec(ExecArgs),
    /// Open a shell in a teammate's sandbox
    Ssh(SshArgs),
    /// Show the output of the teammates' commands
    Logs(LogsArgs),
    /// Attach to a teammate's command: its terminal (`tty = true`), else its output and stdin
    Attach(AttachArgs),
    /// Wait until the teammates' commands are done; exit 0 when every one succeeded
    Wait(WaitArgs),
    /// Stop the teammates' commands (the sandboxes keep running)
    Stop(CommandArgs),
    /// Start the teammates' commands that are not running
    Start(CommandArgs),
    /// Stop, then start the teammates' commands
    Restart(CommandArgs),
    /// One sandbox at a time: create, list, ssh, exec, delete, preflight, snapshot, env
    Sandbox(super::sandbox::args::SandboxArgs),
    /// Run a command in a disposable sandbox (optionally in a fresh clone), then delete it
    Run(RunArgs),
    /// Serve the Daytona API over local sandboxes (for Daytona's SDKs and the `daytona` provider)
    Serve(ServeArgs),
    /// Serve the team and sandbox tools to an MCP client on stdio
    Mcp,
    /// Print the JSON Schema of `team.toml`
    Schema,
    /// Print shell completions
    Completions(CompletionsArgs),
}

/// The team file argument shared by most commands.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// The team file
    #[arg(value_name = "FILE", default_value = "team.toml")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub file: FileArgs,
    /// Print JSON instead of TOML
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the team file
    #[arg(value_name = "FILE", default_value = "team.toml")]
    pub file: PathBuf,
    /// The provider the starter file uses
    #[arg(long, value_parser = provider_kind(), default_value_t = ProviderKind::Local)]
    pub provider: ProviderKind,
    /// Overwrite an existing file
    #[arg(long)]
    pub force: bool,
}

/// Options that shape a plan, shared by `plan` and `up`.
#[derive(Debug, Args)]
pub struct PlanFlags {
    /// Also remove sandboxes of teammates no longer in the file
    #[arg(long)]
    pub prune: bool,
    /// Act only on these teammates (repeatable, or comma-separated)
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Recreate the selected teammates' sandboxes even when up to date
    #[arg(long)]
    pub force_recreate: bool,
    /// Take over sandboxes of this team that another team file made (left alone otherwise)
    #[arg(long)]
    pub adopt: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub file: FileArgs,
    #[command(flatten)]
    pub plan: PlanFlags,
    /// Show what `down` would remove instead
    #[arg(long, conflicts_with_all = ["prune", "only", "force_recreate"])]
    pub destroy: bool,
    /// Print the plan as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Exit 0 when there is nothing to do and 2 when there are changes; failures keep their
    /// own exit codes (3: the team file is invalid; 1: anything else)
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub file: FileArgs,
    #[command(flatten)]
    pub plan: PlanFlags,
    /// Apply destructive changes (recreate, remove) without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// How many teammates to work on at once
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PARALLEL, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: u16,
    /// Create sandboxes without running the setup script
    #[arg(long)]
    pub no_setup: bool,
    /// Remove or recreate sandboxes even when their repository has unsaved work
    #[arg(long)]
    pub force: bool,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// How to show progress on stderr
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Set up the sandboxes without starting the teammates' commands
    #[arg(long, conflicts_with = "wait")]
    pub no_start: bool,
    /// Then wait until the commands are done, as `wait` does (exit 1 when one failed)
    #[arg(long)]
    pub wait: bool,
    /// With `--wait`: give up after this many seconds (exit 124)
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    pub wait_timeout: Option<u64>,
}

/// `down --help`: what a person needs before deleting anything.
const DOWN_ABOUT: &str = "Delete the team's sandboxes.

Shows what it removes, as `plan --destroy` does, then asks on a terminal (`--yes` skips the \
question). Without a terminal (CI, scripts) running `down` is the confirmation, as with \
`docker compose down`. Either way the work-loss guard still looks into every running sandbox \
first and deletes nothing while any holds uncommitted changes or unpushed commits, unless \
`--force`.";

#[derive(Debug, Args)]
pub struct DownArgs {
    /// The team file (ignored with `--team`)
    #[arg(value_name = "FILE", default_value = "team.toml")]
    pub file: PathBuf,
    /// Tear down the team with this name, without a team file (local provider unless
    /// `--provider` says otherwise)
    #[arg(long, value_name = "NAME")]
    pub team: Option<String>,
    /// The provider of `--team` (a team file names its own)
    #[arg(long, value_parser = provider_kind(), env = "RALPH_TOWN_PROVIDER")]
    pub provider: Option<ProviderKind>,
    /// Delete without asking, also on a terminal
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Delete even when a sandbox's repository has unsaved work
    #[arg(long)]
    pub force: bool,
    /// Only the sandboxes created longer ago than this (`90m`, `4h`, `2d`)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub older_than: Option<std::time::Duration>,
    /// Also delete the team's sandboxes that another team file made (left alone otherwise)
    #[arg(long, conflicts_with = "team")]
    pub adopt: bool,
    /// How many sandboxes to check and delete at once
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PARALLEL, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: u16,
    /// Print the result as JSON on stdout (also when refused)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// The provider whose teams to list
    #[arg(long, value_parser = provider_kind(), env = "RALPH_TOWN_PROVIDER", default_value_t = ProviderKind::Local)]
    pub provider: ProviderKind,
    /// Print as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Remove an unfinished sandbox or snapshot (in the state root's `staging/` or `trash/`)
    /// once nothing in it has changed for this long
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    pub stale_after: std::time::Duration,
    /// Print what was removed as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub file: FileArgs,
    /// Print as JSON on stdout
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Redraw every two seconds until interrupted
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// How many teammates to probe at once
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PROBE_PARALLEL, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: u16,
}

/// The team file and teammates of the commands that act on teammates' commands.
#[derive(Debug, Args)]
pub struct CommandArgs {
    /// The teammates (default: every teammate with a `command`)
    #[arg(value_name = "TEAMMATE")]
    pub teammates: Vec<String>,
    /// The team file
    #[arg(long, short = 'f', value_name = "FILE", default_value = "team.toml")]
    pub file: PathBuf,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The teammates (default: every teammate with a `command`)
    #[arg(value_name = "TEAMMATE")]
    pub teammates: Vec<String>,
    /// The team file
    #[arg(long, value_name = "FILE", default_value = "team.toml")]
    pub file: PathBuf,
    /// Keep following the output until the commands end
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only the last N lines of each teammate
    #[arg(long, short = 'n', value_name = "N")]
    pub tail: Option<usize>,
    /// Only lines written since then: a duration (`10m`, `1h`) or a time (`2025-01-31T12:00:00Z`)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Show the time each line was written
    #[arg(long, short = 't')]
    pub timestamps: bool,
    /// One JSON object per line (NDJSON) on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The teammate whose command to attach to
    pub teammate: String,
    /// The team file
    #[arg(long, short = 'f', value_name = "FILE", default_value = "team.toml")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The teammates (default: every teammate with a `command`)
    #[arg(value_name = "TEAMMATE")]
    pub teammates: Vec<String>,
    /// The team file
    #[arg(long, short = 'f', value_name = "FILE", default_value = "team.toml")]
    pub file: PathBuf,
    /// Give up after this many seconds (exit 124)
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Print each teammate's runs and exit codes as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The teammate whose sandbox runs the command
    pub teammate: String,
    /// The command and its arguments (after `--`)
    #[arg(required = true, last = true, value_name = "CMD")]
    pub command: Vec<String>,
    /// The team file
    #[arg(long, short = 'f', value_name = "FILE", default_value = "team.toml")]
    pub file: PathBuf,
    /// Kill the command after this many seconds (exit code 124)
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Run the command on a terminal (the default when stdin and stdout are terminals)
    #[arg(long, short = 't', conflicts_with = "no_tty")]
    pub tty: bool,
    /// Never allocate a terminal: stdout and stderr stay apart
    #[arg(long = "no-tty", short = 'T')]
    pub no_tty: bool,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    /// The teammate whose sandbox to enter
    pub teammate: String,
    /// The team file
    #[arg(long, short = 'f', value_name = "FILE", default_value = "team.toml")]
    pub file: PathBuf,
    /// Print how to connect instead of connecting
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The command: its words after `--`, or one shell command line in quotes
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
    /// Clone this repository (URL or local path; no credentials) and run the command in it
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
    /// The branch to check out (default: the remote's default)
    #[arg(long, requires = "repo", value_parser = branch_name)]
    pub branch: Option<String>,
    /// Working directory, relative to the clone (or to the sandbox home without `--repo`)
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// Environment of the command (repeatable; split at the first `=`)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The snapshot to create the sandbox from
    #[arg(long)]
    pub snapshot: Option<String>,
    /// Kill the command after this many seconds (exit code 124)
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Keep the sandbox afterwards
    #[arg(long)]
    pub keep: bool,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// The provider
    #[arg(long, value_parser = provider_kind(), env = "RALPH_TOWN_PROVIDER", default_value_t = ProviderKind::Local)]
    pub provider: ProviderKind,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; beyond loopback it needs a key you chose, or
    /// `--insecure-accept-any-token`
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    pub listen: std::net::SocketAddr,
    /// Read the API key from this file. Without it: `RALPH_TOWN_SERVE_API_KEY`, then
    /// `--api-key`, else a key `serve` makes and keeps in `<state root>/serve/api-key`
    #[arg(long, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,
    /// The API key itself: visible to every user in `ps`, so prefer `--api-key-file`
    #[arg(long, value_name = "KEY", conflicts_with = "api_key_file", value_parser = parse_secret)]
    pub api_key: Option<crate::secret::Secret>,
    /// Accept ANY bearer token, also beyond loopback: whoever reaches the port, every sandbox
    /// included, can then run commands in every sandbox
    #[arg(long)]
    pub insecure_accept_any_token: bool,
    /// The URL clients reach this server at, when it differs from the listen address
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// `host[:port]` written into SSH access commands (default: the `--ssh-listen` address)
    #[arg(long, value_name = "HOST:PORT")]
    pub ssh_gateway: Option<String>,
    /// A host path sandboxes may read (e.g. a local repository to clone); under bubblewrap,
    /// `/tmp` and home directories are hidden otherwise. Repeatable
    #[arg(long = "read-only", value_name = "PATH")]
    pub read_only: Vec<PathBuf>,
    /// Also listen for SSH here: the user name is a token from `POST /api/sandbox/{id}/ssh-access`
    #[arg(long, value_name = "ADDR")]
    pub ssh_listen: Option<std::net::SocketAddr>,
    /// A PEM file of CAs the egress proxy also trusts when it forwards sandboxes' HTTPS (besides
    /// this machine's roots)
    #[arg(long, value_name = "PATH")]
    pub upstream_ca: Option<PathBuf>,
    /// Simulate the cloud, e.g. `latency=50ms,create-delay=1.3s,rate-create=300/60s,quota-cpu=10`
    #[arg(long, value_name = "SPEC", value_parser = parse_simulation)]
    pub simulate: Option<Box<crate::serve::Simulation>>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Shells `completions` supports.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

fn parse_secret(text: &str) -> Result<crate::secret::Secret, std::convert::Infallible> {
    Ok(crate::secret::Secret::new(text.to_string()))
}

/// A branch by the team file's rule (`crate::names::BranchName`).
fn branch_name(text: &str) -> Result<String, crate::names::Violation> {
    crate::names::BranchName::parse(text).map(|branch| branch.to_string())
}

fn parse_simulation(text: &str) -> Result<Box<crate::serve::Simulation>, String> {
    text.parse()
        .map(Box::new)
        .map_err(|error| format!("{error}"))
}

/// Parses `--provider` (and `RALPH_TOWN_PROVIDER`): the CLI's mapping of [`ProviderKind`], so
/// that a bad value is a usage error listing the possible values, and completions offer them.
pub(crate) fn provider_kind() -> impl clap::builder::TypedValueParser<Value = ProviderKind> {
    clap::builder::PossibleValuesParser::new(ProviderKind::ALL.map(ProviderKind::as_str)).map(
        |name| {
            name.parse::<ProviderKind>()
                .expect("a possible value is a provider kind")
        },
    )
}
