//! A sandbox's image entrypoint, run as Daytona's daemon runs it (v0.190,
//! `apps/daemon/cmd/daemon/main.go`): the words, each shell-quoted and joined, are one async
//! command with the id `entrypoint_command` in a session of its own, `entrypoint`, its input
//! echo suppressed and its stdout and stderr kept apart. Here that session is an ordinary
//! session of the provider, so the entrypoint runs under the sandbox's isolation, user,
//! environment, cgroup and network like any session command, and a stop or a delete ends it as
//! it ends the others.
//!
//! What a sandbox runs is recorded on its record when it is created (`SandboxRecord::
//! entrypoint`): its snapshot's `entrypoint`, or its Dockerfile's final `ENTRYPOINT`; forks and
//! snapshots of it keep it. This file runs it each time the sandbox starts: when it is created
//! (or its image is built), started again, forked, and when `serve` starts and finds it started
//! without it. It owns no route: the session routes (`toolbox_session.rs`) show it.
//!
//! NOTES-style: Daytona gives every built image an entrypoint, `["sleep", "infinity"]` when its
//! Dockerfile has no `ENTRYPOINT` (`snapshot.service.ts`, `getEntrypointFromDockerfile`), and its
//! default snapshots run that too, since a container needs a process to stay up. A local
//! sandbox needs none, and a process always running would make every change of network
//! settings on a running sandbox a 422 naming what runs (a sandbox given a network of its own
//! must have nothing of its own running, `platform.rs`): so the default snapshots and images
//! without an `ENTRYPOINT` have none here, and their entrypoint session is the daemon's
//! "session not found". A shell-form `ENTRYPOINT echo hi` is `["/bin/sh", "-c", "echo hi"]`, as
//! Docker keeps it; Daytona's regex records `["echo hi"]`, which its daemon then quotes into one
//! word that no shell can run.

use std::sync::Arc;

use super::sandbox::is_started;
use super::state::{AppState, BuildPhase};
use crate::provider::{ProviderError, SessionExecRequest};

/// The session the entrypoint runs in (Daytona's `EntrypointSessionID`).
pub(crate) const SESSION: &str = "entrypoint";
/// The id of its one command (Daytona's `EntrypointCommandID`).
pub(crate) const COMMAND: &str = "entrypoint_command";

/// An entrypoint as Daytona records one (`processEntrypoint`): empty words dropped, and no
/// entrypoint when none is left.
pub(crate) fn normalized(words: Vec<String>) -> Option<Vec<String>> {
    let words: Vec<String> = words
        .into_iter()
        .filter(|word| !word.trim().is_empty())
        .collect();
    (!words.is_empty()).then_some(words)
}

/// The command line the daemon runs (`ShellQuoteJoin`): every word in single quotes, so that
/// none is read as shell syntax.
pub(crate) fn command_line(words: &[String]) -> String {
    words
        .iter()
        .map(|word| format!("'{}'", word.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the sandbox's entrypoint, when it has one and it is not running already. The sandbox
/// must be started; an error means its session could not start (the entrypoint failing is its
/// exit code, not an error).
pub(crate) async fn run(state: &AppState, id: &str) -> Result<(), ProviderError> {
    let Some(words) = state.store.sandbox(id).entrypoint else {
        return Ok(());
    };
    match state.provider.create_session(id, SESSION).await {
        Ok(()) => {}
        // Made by a start that came first (or a `serve` before a restart): it runs already.
        Err(ProviderError::Conflict { .. }) => return Ok(()),
        Err(error) => return Err(error),
    }
    let request = SessionExecRequest {
        command: command_line(&words),
        run_async: true,
        suppress_input_echo: true,
        command_id: Some(COMMAND.to_string()),
    };
    match state.provider.session_exec(id, SESSION, &request).await {
        Ok(_) | Err(ProviderError::Conflict { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Runs the entrypoints of the started sandboxes that have none running, in the background:
/// what a restarted `serve` finds. A running entrypoint outlives `serve`, as every session does;
/// one that cannot start now shows as no session, and the sandbox's next start runs it.
pub(crate) fn resume(state: &Arc<AppState>) {
    let waiting: Vec<String> = state.store.read(|records| {
        records
            .sandboxes
            .iter()
            // A sandbox whose image is not built (yet, or ever) has nothing to run it in.
            .filter(|(_, record)| {
                record.entrypoint.is_some()
                    && record
                        .build
                        .as_ref()
                        .is_none_or(|build| build.phase == BuildPhase::Built)
            })
            .map(|(id, _)| id.clone())
            .collect()
    });
    if waiting.is_empty() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        for id in waiting {
            if is_started(&state, &id).await {
                let _ = run(&state, &id).await;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(words: &[&str]) -> Vec<String> {
        words.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn words_are_quoted_one_by_one_as_the_daemon_quotes_them() {
        assert_eq!(
            command_line(&words(&["sleep", "infinity"])),
            "'sleep' 'infinity'"
        );
        assert_eq!(
            command_line(&words(&["/bin/sh", "-c", "echo 'hi' $HOME"])),
            r#"'/bin/sh' '-c' 'echo '\''hi'\'' $HOME'"#
        );
    }

    #[test]
    fn empty_words_are_dropped_and_nothing_left_is_no_entrypoint() {
        assert_eq!(normalized(words(&["", "run", " "])), Some(words(&["run"])));
        assert_eq!(normalized(words(&["", " "])), None);
        assert_eq!(normalized(Vec::new()), None);
    }
}
