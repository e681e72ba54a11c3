//! What a teammate's command and repository are doing, read from the work probe's output (see
//! `setup/templates/work_probe.sh`): the runner's state file (queued, each run's start, end and
//! exit code, done) and its heartbeat, and the repository's work fields.
//!
//! Pure: parsing and judging only. Output that did not finish reads as not probed, never as a
//! state that could let `wait` succeed.

use serde::Serialize;

/// A heartbeat older than this means the runner is gone (the sandbox stopped, it was killed).
const STALE_SECONDS: u64 = 10;
/// A runner queued this long ago that never said it started is taken as lost.
const QUEUE_SECONDS: f64 = 60.0;

/// The state of a teammate's command, as `status` and `wait` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// No command was ever started in this sandbox.
    NotStarted,
    /// Started by ralph-town; the runner has not reported yet.
    Starting,
    /// A run is in progress.
    Running,
    /// Between two runs (backing off after a failure).
    Restarting,
    /// Done for good; the last run exited 0.
    Exited,
    /// Done for good; the last run failed (or the command could not start).
    Failed,
    /// Stopped on request.
    Stopped,
    /// The runner is gone without recording an end (the sandbox stopped, it was killed).
    Lost,
}

impl RunState {
    /// Whether the command will not run again by itself.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::NotStarted
                | RunState::Exited
                | RunState::Failed
                | RunState::Stopped
                | RunState::Lost
        )
    }

    /// Whether the runner is (about to be) at work.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            RunState::Starting | RunState::Running | RunState::Restarting
        )
    }
}

/// One run of the command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub run: u32,
    /// Seconds since the Unix epoch, as the sandbox's clock says.
    pub started_at: f64,
    pub ended_at: Option<f64>,
    /// `None` while it runs.
    pub exit_code: Option<i32>,
}

/// A teammate's command as its runner recorded it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandStatus {
    pub state: RunState,
    /// The `ralph-town/command` hash the runner runs.
    pub hash: Option<String>,
    pub max_runs: Option<u32>,
    /// Every run, oldest first.
    pub runs: Vec<Run>,
    /// The last run's exit code once done for good.
    pub exit_code: Option<i32>,
    /// Why the runner ended: `completed`, `exhausted`, `stopped`, `failed-to-start`.
    pub reason: Option<String>,
}

impl CommandStatus {
    /// A command no runner ever recorded.
    pub fn not_started() -> CommandStatus {
        CommandStatus {
            state: RunState::NotStarted,
            hash: None,
            max_runs: None,
            runs: Vec::new(),
            exit_code: None,
            reason: None,
        }
    }

    /// Done for good, and the last run succeeded.
    pub fn succeeded(&self) -> bool {
        self.state == RunState::Exited
    }

    /// `running 2/10`, `exited 0`, `failed 1`, `not started`, ...
    pub fn describe(&self) -> String {
        let run = self.runs.last().map_or(0, |run| run.run);
        let of = self
            .max_runs
            .map_or_else(String::new, |max| format!("/{max}"));
        let code = self
            .exit_code
            .map_or_else(String::new, |code| format!(" {code}"));
        match self.state {
            RunState::NotStarted => "not started".to_string(),
            RunState::Starting => "starting".to_string(),
            RunState::Running => format!("running {run}{of}"),
            RunState::Restarting => format!("restarting {}{of}", run + 1),
            RunState::Exited => format!("exited{code}"),
            RunState::Failed => format!("failed{code}"),
            RunState::Stopped => "stopped".to_string(),
            RunState::Lost => format!("lost (run {run}{of})"),
        }
    }
}

/// The teammate's repository, as `status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkFields {
    /// Commits on the branch that the base branch lacks (`None`: no base branch known).
    pub ahead: Option<u32>,
    /// Uncommitted files (untracked ones included).
    pub dirty: Option<u32>,
    /// The last commit's subject.
    pub last_commit: Option<String>,
    /// Whether the branch is on the remote with every commit (`None`: not pushed at all).
    pub pushed: Option<bool>,
    /// Commits the remote branch lacks.
    pub unpushed: Option<u32>,
    /// Why the repository could not be read.
    pub error: Option<String>,
}

/// The probe's findings.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub command: CommandStatus,
    /// `None` when there is no repository in the workdir.
    pub work: Option<WorkFields>,
}

/// Reads the probe's output; `None` when it did not run to its end.
pub fn parse_probe(output: &str) -> Option<Probe> {
    let mut state_lines: Vec<Vec<&str>> = Vec::new();
    let mut alive: Option<u64> = None;
    let mut now: Option<f64> = None;
    let mut work = WorkFields::default();
    let mut has_repo = false;
    let mut complete = false;
    let mut started = false;
    for line in output.lines() {
        let mut fields = line.split('\t');
        let kind = fields.next().unwrap_or_default();
        let value = fields.next().unwrap_or_default();
        match kind {
            "ralph-town-work" => started = true,
            "state" => state_lines.push(line.split('\t').skip(1).collect()),
            "alive" => alive = value.parse().ok(),
            "now" => now = value.parse().ok(),
            "end" => complete = started,
            "ahead" => (has_repo, work.ahead) = (true, value.parse().ok()),
            "dirty" => (has_repo, work.dirty) = (true, value.parse().ok()),
            "subject" => work.last_commit = Some(value.replace("\\t", "\t").replace("\\n", " ")),
            "pushed" => {
                has_repo = true;
                work.pushed = match value {
                    "yes" => Some(true),
                    "no" => Some(false),
                    _ => None,
                };
            }
            "unpushed" => work.unpushed = value.parse().ok(),
            "error" => (has_repo, work.error) = (true, Some(value.to_string())),
            _ => {}
        }
    }
    if !complete {
        return None;
    }
    Some(Probe {
        command: command_status(&state_lines, alive, now),
        work: has_repo.then_some(work),
    })
}

/// Judges the runner's records.
fn command_status(lines: &[Vec<&str>], alive: Option<u64>, now: Option<f64>) -> CommandStatus {
    let mut status = CommandStatus::not_started();
    let mut queued_at: Option<f64> = None;
    let mut runner = false;
    let mut done = false;
    for fields in lines {
        let field = |index: usize| fields.get(index).copied().unwrap_or_default();
        match field(0) {
            "queued" => {
                queued_at = field(1).parse().ok();
                status.hash = Some(field(2).to_string());
            }
            "runner" => {
                runner = true;
                status.hash = Some(field(2).to_string());
                status.max_runs = field(3).parse().ok();
            }
            "start" => status.runs.push(Run {
                run: field(1).parse().unwrap_or(0),
                started_at: field(2).parse().unwrap_or(0.0),
                ended_at: None,
                exit_code: None,
            }),
            "end" => {
                if let Some(run) = status.runs.last_mut() {
                    run.ended_at = field(2).parse().ok();
                    run.exit_code = field(3).parse().ok();
                }
            }
            "done" => {
                done = true;
                status.reason = Some(field(2).to_string());
                status.exit_code = field(3).parse().ok();
            }
            _ => {}
        }
    }
    let fresh = alive.is_some_and(|seconds| seconds < STALE_SECONDS);
    status.state = if done {
        match (status.reason.as_deref(), status.exit_code) {
            (Some("stopped"), _) => RunState::Stopped,
            (_, Some(0)) => RunState::Exited,
            _ => RunState::Failed,
        }
    } else if runner && fresh {
        match status.runs.last() {
            Some(run) if run.exit_code.is_some() => RunState::Restarting,
            _ => RunState::Running,
        }
    } else if runner {
        RunState::Lost
    } else if let Some(queued) = queued_at {
        let waited = now.map_or(0.0, |now| now - queued);
        if waited < QUEUE_SECONDS {
            RunState::Starting
        } else {
            RunState::Lost
        }
    } else {
        RunState::NotStarted
    };
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(body: &str) -> Probe {
        parse_probe(&format!("ralph-town-work\t1\nnow\t1000\n{body}end\n")).unwrap()
    }

    #[test]
    fn nothing_recorded_is_not_started() {
        let found = probe("alive\tnone\n");
        assert_eq!(found.command.state, RunState::NotStarted);
        assert_eq!(found.command.describe(), "not started");
        assert_eq!(found.work, None);
    }

    #[test]
    fn a_live_runner_in_its_second_run_is_running() {
        let found = probe(
            "state\tqueued\t900\tc1:x\nstate\trunner\t901\tc1:x\t10\nstate\tstart\t1\t901\n\
             state\tend\t1\t905\t1\nstate\tstart\t2\t907\nalive\t1\n",
        );
        assert_eq!(found.command.state, RunState::Running);
        assert_eq!(found.command.describe(), "running 2/10");
        assert_eq!(found.command.runs[0].exit_code, Some(1));
        assert_eq!(found.command.runs[1].exit_code, None);
    }

    #[test]
    fn done_records_decide_success_and_failure() {
        let done = |reason: &str, code: i32| {
            probe(&format!(
                "state\trunner\t1\tc1:x\t3\nstate\tstart\t1\t1\nstate\tend\t1\t2\t{code}\n\
                 state\tdone\t2\t{reason}\t{code}\nalive\t500\n"
            ))
            .command
        };
        assert_eq!(done("completed", 0).describe(), "exited 0");
        assert!(done("completed", 0).succeeded());
        assert_eq!(done("exhausted", 2).describe(), "failed 2");
        assert!(!done("exhausted", 2).succeeded());
        assert_eq!(done("stopped", 143).state, RunState::Stopped);
    }

    #[test]
    fn a_runner_without_heartbeat_or_end_is_lost() {
        let found = probe("state\trunner\t1\tc1:x\t1\nstate\tstart\t1\t1\nalive\t60\n");
        assert_eq!(found.command.state, RunState::Lost);
        assert!(found.command.state.is_final());
        let queued_long_ago = probe("state\tqueued\t10\tc1:x\nalive\tnone\n");
        assert_eq!(queued_long_ago.command.state, RunState::Lost);
        let just_queued = probe("state\tqueued\t990\tc1:x\nalive\tnone\n");
        assert_eq!(just_queued.command.state, RunState::Starting);
    }

    #[test]
    fn work_fields_are_read_and_a_cut_probe_is_none() {
        let found =
            probe("ahead\t2\ndirty\t1\nsubject\tAdd login\\tform\npushed\tno\nunpushed\t1\n");
        let work = found.work.unwrap();
        assert_eq!(work.ahead, Some(2));
        assert_eq!(work.dirty, Some(1));
        assert_eq!(work.last_commit.as_deref(), Some("Add login\tform"));
        assert_eq!(work.pushed, Some(false));
        assert_eq!(parse_probe("ralph-town-work\t1\nstate\trunner\n"), None);
    }
}
