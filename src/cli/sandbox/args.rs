//! `ralph-town sandbox ...` as clap types. No I/O here.
//!
//! `KEY=VALUE` arguments stay plain strings: they are split by the handlers, whose errors never
//! echo a value (clap's would).

use clap::{Args, Subcommand};

use crate::provider::ProviderKind;

/// The imperative single-sandbox commands.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[command(subcommand)]
    pub command: SandboxCommand,
    /// The provider
    #[arg(
        long,
        value_parser = crate::cli::args::provider_kind(),
        global = true,
        env = "RALPH_TOWN_PROVIDER",
        default_value_t = ProviderKind::Local
    )]
    pub provider: ProviderKind,
    /// Print the result as JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Create a sandbox and print its id
    Create(CreateArgs),
    /// List sandboxes
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Print SSH access to a sandbox (Daytona), or open a shell in it (`--connect`; local)
    Ssh(SshArgs),
    /// Run a command in a sandbox; exits with its exit code
    Exec(ExecArgs),
    /// Delete sandboxes
    #[command(visible_alias = "rm")]
    Delete(DeleteArgs),
    /// Check that a snapshot has the tools teammates need (in a temporary sandbox)
    Preflight(PreflightArgs),
    /// Snapshots: build the default one
    Snapshot(SnapshotArgs),
    /// The environment of a running sandbox
    Env(EnvArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The sandbox's name (default: its id)
    #[arg(long)]
    pub name: Option<String>,
    /// The snapshot to create it from (default: the provider's)
    #[arg(long)]
    pub snapshot: Option<String>,
    /// Plain environment, visible through the provider's API (repeatable; split at the first
    /// `=`)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// A label (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Stop after this many idle minutes (0: never)
    #[arg(long, value_name = "MINUTES")]
    pub auto_stop: Option<u32>,
    /// Delete after this many stopped minutes (0: when it stops; -1: never)
    #[arg(long, value_name = "MINUTES", allow_negative_numbers = true)]
    pub auto_delete: Option<i32>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only sandboxes with this label (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    /// The sandbox's id or name
    pub id: String,
    /// Minutes the SSH access stays valid
    #[arg(long, value_name = "MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub expires: u32,
    /// Connect now with the system `ssh` (the `local` provider always opens a shell)
    #[arg(long)]
    pub connect: bool,
    /// Start the shell in this directory (relative to the sandbox's home, or absolute)
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The sandbox's id or name
    pub id: String,
    /// The command: its words after `--`, or one shell command line in quotes
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
    /// Working directory (relative to the sandbox's work directory: the image's `WORKDIR`, else the home)
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// Kill the command after this many seconds (exit code 124)
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Do not retry over SSH when Daytona answers exit code -1 with no output
    #[arg(long)]
    pub no_ssh_fallback: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The sandboxes' ids or names
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// The snapshot to check
    #[arg(long, default_value = crate::sandbox::DEFAULT_SNAPSHOT)]
    pub snapshot: String,
    /// A tool to check, by full path (repeatable; default: gh, git, bun, curl)
    #[arg(long = "tool", value_name = "PATH")]
    pub tools: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(subcommand)]
    pub command: SnapshotCommand,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Build the default snapshot (Daytona): gh, git, curl, Bun and the Claude Agent SDK
    Create(SnapshotCreateArgs),
    /// Print the default snapshot's Dockerfile
    Dockerfile,
}

#[derive(Debug, Args)]
pub struct SnapshotCreateArgs {
    /// The snapshot's name
    #[arg(long, default_value = crate::sandbox::DEFAULT_SNAPSHOT)]
    pub name: String,
    /// Delete an existing snapshot of that name and build it again
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    #[command(subcommand)]
    pub command: EnvCommand,
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Set variables for every command and shell started later
    Set(EnvSetArgs),
    /// Remove variables for every command and shell started later
    Unset(EnvUnsetArgs),
    /// Show the environment a new command starts with (credentials redacted)
    #[command(visible_alias = "ls")]
    List(EnvListArgs),
}

#[derive(Debug, Args)]
pub struct EnvSetArgs {
    /// The sandbox's id or name
    pub id: String,
    /// The variables (split at the first `=`)
    #[arg(required = true, value_name = "KEY=VALUE")]
    pub assignments: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EnvUnsetArgs {
    /// The sandbox's id or name
    pub id: String,
    /// The variables' names
    #[arg(required = true, value_name = "KEY")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EnvListArgs {
    /// The sandbox's id or name
    pub id: String,
}
