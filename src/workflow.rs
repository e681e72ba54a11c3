//! The team workflow as a library: `plan`, `up`, `down` and `status` as functions that take
//! typed arguments and a provider and return serializable results.
//!
//! Every front end (the command line, the MCP server) calls these and only presents what they
//! return. Nothing here prints, prompts or reads the terminal: a confirmation is a parameter
//! ([`UpOptions::destructive_allowed`], the guard's `force`), warnings go to the caller's
//! `Reporter` or into the result, and refusals are errors that name the caller's own switch
//! (see [`Switches`]).

mod down;
pub mod files;
pub mod logs;
mod status;
mod teammate;
mod teams;
mod up;
mod wait;
mod work;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::runner::SESSION;
pub use crate::runner::state::{CommandStatus, Probe, Run, RunState, WorkFields, parse_probe};
pub use down::{
    DownOptions, DownOutcome, PreparedDown, Refusal, RefusalReason, RefusedSandbox, Removed,
    apply_down, down, prepare_down,
};
pub use logs::send_input;
pub use status::{StatusRow, status, status_with};
pub use teammate::{TeammateSandbox, find_teammate, teammate_sandbox, teammate_sandboxes};
pub use teams::{TeamSummary, teams};
pub use up::{Prepared, UpOptions, UpOutcome, apply_up, prepare_up};
pub use wait::{WaitOutcome, Waited, wait};
pub use work::{Act, CommandOutcome, TeammateWork, act, logs_selection, teammate_work};

use crate::desired;
use crate::error::{Error, Result};
use crate::guard::{self, Target};
use crate::plan::{Plan, PlanOptions};
use crate::provider::daytona::DaytonaProvider;
use crate::provider::local::{Isolation, LocalOptions, LocalProvider, state_root};
use crate::provider::{Labels, Provider, ProviderKind, Sandbox};
use crate::report::Reporter;
use crate::team::{ProviderSettings, Team};
use crate::vocabulary::labels;

/// How many teammates `up` and `down` work on at once unless told otherwise (`--parallel`):
/// well inside Daytona's Tier 1 rate of 300 creates a minute.
pub const DEFAULT_PARALLEL: u16 = 8;

/// How many teammates `status` probes at once unless told otherwise (`status --parallel`), and
/// `wait`, `start`, `stop` and `restart` work on at once: a probe only reads, one request each,
/// so a team of 64 answers in one wave.
pub const DEFAULT_PROBE_PARALLEL: u16 = 64;

/// How the caller names its switches, so that a refusal tells the user what to pass.
#[derive(Debug, Clone, Copy)]
pub struct Switches {
    /// The switch that skips the work-loss guard, quoted (`` `--force` ``).
    pub force: &'static str,
    /// The switch that confirms destructive changes, quoted (`` `--yes` ``).
    pub confirm: &'static str,
    /// The switch that removes sandboxes of undeclared teammates, quoted (`` `--prune` ``).
    pub prune: &'static str,
    /// The switch that takes over sandboxes another team file made, quoted (`` `--adopt` ``).
    pub adopt: &'static str,
}

impl Switches {
    /// The command line's names.
    pub const CLI: Switches = Switches {
        force: "`--force`",
        confirm: "`--yes`",
        prune: "`--prune`",
        adopt: "`--adopt`",
    };
}

/// An opened provider and what the user should know about it.
pub struct Opened {
    pub provider: Arc<dyn Provider>,
    /// Warnings to show (reduced isolation), without a `warning:` prefix.
    pub warnings: Vec<String>,
}

/// Opens the provider `kind`, configured for `team` when there is one: local repositories of
/// its teammates stay readable inside `local` sandboxes, and its Daytona settings apply. A
/// `local` provider opened here removes sandboxes whose `ttl` has passed whenever it lists.
pub fn open_provider(kind: ProviderKind, team: Option<&Team>) -> Result<Opened> {
    open_team_provider(kind, team, Check::Isolation)
}

/// [`open_provider`] for a command that starts nothing in a sandbox (`plan`): it does not
/// check isolation, which starts bubblewrap; the first command that needs it checks and warns.
pub fn open_provider_to_read(kind: ProviderKind, team: Option<&Team>) -> Result<Opened> {
    open_team_provider(kind, team, Check::Nothing)
}

/// Whether opening a `local` provider checks (and warns about) isolation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Isolation,
    Nothing,
}

fn open_team_provider(kind: ProviderKind, team: Option<&Team>, check: Check) -> Result<Opened> {
    // Teammates mostly share a repository: read each one's linked directories once.
    let repositories: BTreeSet<PathBuf> = team
        .into_iter()
        .flat_map(|team| &team.teammates)
        .map(|teammate| PathBuf::from(&teammate.repo))
        .collect();
    let repositories = repositories.into_iter().flat_map(|repository| {
        let linked = linked_git_dirs(&repository);
        std::iter::once(repository).chain(linked)
    });
    let settings = team
        .map(|team| team.provider_settings.clone())
        .unwrap_or_default();
    if let (ProviderKind::Local, Some(team)) = (kind, team) {
        let (provider, warnings) = local_checked(repositories, check)?;
        let provider = provider.expiring();
        for teammate in &team.teammates {
            provider.check_workdir(&teammate.name, &teammate.workdir)?;
        }
        let provider = Arc::new(provider);
        return Ok(Opened { provider, warnings });
    }
    open(kind, repositories, &settings)
}

/// Where a linked worktree keeps its repository (`git worktree add`): its `.git` is a file
/// naming a directory under the main repository's `.git`, which a clone inside a sandbox must
/// read too. Nothing for an ordinary repository, a URL, or anything unreadable.
fn linked_git_dirs(repository: &std::path::Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(repository.join(".git")) else {
        return Vec::new();
    };
    let Some(git_dir) = text.strip_prefix("gitdir:").map(str::trim) else {
        return Vec::new();
    };
    let git_dir = repository.join(git_dir);
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .map(|relative| git_dir.join(relative.trim()));
    let mut dirs = vec![git_dir];
    dirs.extend(common);
    dirs.into_iter()
        .filter_map(|dir| std::fs::canonicalize(dir).ok())
        .collect()
}

/// Opens the provider `kind` without a team; the absolute ones of `readable` (a repository to
/// clone, say) stay readable inside `local` sandboxes.
pub fn open_provider_reading(
    kind: ProviderKind,
    readable: impl IntoIterator<Item = PathBuf>,
) -> Result<Opened> {
    let readable = readable.into_iter().flat_map(|path| {
        let linked = linked_git_dirs(&path);
        std::iter::once(path).chain(linked)
    });
    open(kind, readable, &ProviderSettings::default())
}

fn open(
    kind: ProviderKind,
    readable: impl IntoIterator<Item = PathBuf>,
    settings: &ProviderSettings,
) -> Result<Opened> {
    match kind {
        ProviderKind::Local => {
            let (provider, warnings) = open_local(readable)?;
            Ok(Opened {
                provider: Arc::new(provider.expiring()),
                warnings,
            })
        }
        ProviderKind::Daytona => Ok(Opened {
            provider: Arc::new(DaytonaProvider::from_env(settings)?),
            warnings: Vec::new(),
        }),
    }
}

/// The local provider on the state root; the absolute ones of `readable` stay readable inside
/// its sandboxes. The warnings say when isolation is reduced, and why: only the first time in
/// a process (an MCP server opens a provider per tool call).
pub fn open_local(
    readable: impl IntoIterator<Item = PathBuf>,
) -> Result<(LocalProvider, Vec<String>)> {
    local_checked(readable, Check::Isolation)
}

fn local_checked(
    readable: impl IntoIterator<Item = PathBuf>,
    check: Check,
) -> Result<(LocalProvider, Vec<String>)> {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    // Bubblewrap hides `/tmp` and home directories, where local repositories often are.
    let read_only_paths: BTreeSet<PathBuf> = readable
        .into_iter()
        .filter(|path| path.is_absolute())
        .collect();
    let options = LocalOptions {
        read_only_paths: read_only_paths.into_iter().collect(),
        ..LocalOptions::default()
    };
    let provider = LocalProvider::with_options(state_root(), options)?;
    let mut warnings = Vec::new();
    if check == Check::Isolation
        && provider.isolation() == Isolation::Reduced
        && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        warnings.push(reduced_isolation());
    }
    Ok((provider, warnings))
}

/// Why sandboxes run without bubblewrap: it is missing, or it is there and cannot make the
/// namespaces a sandbox needs (user namespaces disabled, or not allowed to the sandbox user).
fn reduced_isolation() -> String {
    let effect = "sandboxes share this machine's file system (isolation is reduced)";
    match which::which("bwrap") {
        Ok(program) => format!(
            "`bwrap` (bubblewrap) is installed at `{}` but cannot create the namespaces a sandbox \
             needs here (are unprivileged user namespaces disabled?): {effect}",
            program.display()
        ),
        Err(_) => format!("`bwrap` (bubblewrap) is not installed: {effect}"),
    }
}

/// The team's live sandboxes, found by the ownership label.
pub async fn observe(provider: &dyn Provider, team: &str) -> Result<Vec<Sandbox>> {
    let selector = Labels::from([(labels::TEAM.to_string(), team.to_string())]);
    Ok(provider.list(&selector).await?)
}

/// What `up` would change for `team`, against what `provider` has now.
pub async fn plan(provider: &dyn Provider, team: &Team, options: &PlanOptions) -> Result<Plan> {
    Ok(survey(provider, team, options).await?.plan)
}

/// A team compared with its live sandboxes: the desired state, what was observed, the plan.
pub(crate) struct Survey {
    pub(crate) desired: Vec<desired::DesiredTeammate>,
    pub(crate) observed: Vec<Sandbox>,
    pub(crate) plan: Plan,
}

/// Resolves the desired state, observes the team and plans; checks `--only` names.
pub(crate) async fn survey(
    provider: &dyn Provider,
    team: &Team,
    options: &PlanOptions,
) -> Result<Survey> {
    let desired = desired::resolve(team)?;
    let observed = observe(provider, &team.name).await?;
    check_only(team, &observed, options)?;
    let wanted: Vec<crate::plan::Desired> =
        desired.iter().map(|entry| entry.desired.clone()).collect();
    let plan = crate::plan::reconcile(&wanted, &observed, options).for_file(team.path.as_deref());
    Ok(Survey {
        desired,
        observed,
        plan,
    })
}

/// Every name in `only` must be a declared teammate or own an observed sandbox (an orphan to
/// prune): a misspelt name would otherwise select nothing, silently.
fn check_only(team: &Team, observed: &[Sandbox], options: &PlanOptions) -> Result<()> {
    let Some(only) = &options.only else {
        return Ok(());
    };
    let known: BTreeSet<&str> = team
        .teammates
        .iter()
        .map(|teammate| teammate.name.as_str())
        .chain(
            observed
                .iter()
                .filter_map(|sandbox| sandbox.labels.get(labels::TEAMMATE))
                .map(String::as_str),
        )
        .collect();
    match only.iter().find(|name| !known.contains(name.as_str())) {
        Some(unknown) => Err(teammate::unknown_teammate(team, unknown, known.into_iter())),
        None => Ok(()),
    }
}

/// The warning for each observed sandbox of the plan the team file no longer declares.
/// (and one for sandboxes of the team that another team file made).
pub fn orphan_warnings(plan: &Plan, switches: &Switches) -> Vec<String> {
    let mut warnings: Vec<String> = plan
        .changes
        .iter()
        .filter(|change| change.action == crate::plan::Action::Orphan)
        .map(|change| {
            format!(
                "sandbox of `{}` is not in the team file; it is kept ({} removes it)",
                change.teammate, switches.prune
            )
        })
        .collect();
    let foreign: Vec<&str> = plan
        .changes
        .iter()
        .filter(|change| change.action == crate::plan::Action::Foreign)
        .map(|change| change.display.as_str())
        .collect();
    if !foreign.is_empty() {
        warnings.push(format!(
            "another team file uses this team name: its sandboxes ({}) are left alone; give this \
             team a name of its own, or pass {} to take them over",
            foreign.join(", "),
            switches.adopt
        ));
    }
    warnings
}

/// Refuses when a target may hold unsaved work: work was found, or the sandbox could not be
/// checked (the guard fails closed).
async fn guard_targets(
    provider: &Arc<dyn Provider>,
    targets: &[Target],
    parallel: usize,
    switches: &Switches,
    reporter: &dyn Reporter,
) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    let findings = guard::inspect(provider.clone(), targets, parallel, reporter).await;
    match guard::refusal(&findings) {
        None => Ok(()),
        Some(message) => Err(Error::Refused {
            message,
            hint: Some(format!(
                "push or commit the work first, or pass {} to discard it",
                switches.force
            )),
        }),
    }
}

/// The declared workdir of the teammate `sandbox` belongs to, when it is still declared: the
/// guard checks it even where its scan of the home would not reach.
fn declared_workdir(team: &Team, sandbox: &Sandbox) -> Option<String> {
    let teammate = sandbox.labels.get(labels::TEAMMATE)?;
    team.teammates
        .iter()
        .find(|declared| &declared.name == teammate)
        .map(|declared| declared.workdir.clone())
}
