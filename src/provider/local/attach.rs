//! Commands attached to a `local` sandbox from outside, whose stdio the caller streams (the SSH
//! gateway of `serve`): a command line or a login shell, with or without a terminal, and the
//! registration that lets stop and delete end them like any exec.
//!
//! Like exec, the sandbox's environment travels only in the process environment; this file
//! never puts it on a command line or in an error.

use std::collections::BTreeMap;

use super::bubblewrap::SANDBOX;
use super::process_env;
use super::process_group::ProcessGroup;
use super::{LocalProvider, blocking};
use crate::provider::{ProviderError, Result, SandboxState};

/// A process group registered as running in a sandbox. Dropping it kills what is left of the
/// group and unregisters it.
pub struct Attached {
    _group: ProcessGroup,
}

impl std::fmt::Debug for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attached").finish_non_exhaustive()
    }
}

impl LocalProvider {
    /// A command that runs `command` with `/bin/sh -c` in sandbox `id` (the interactive login
    /// shell when `None`), in `cwd` (a sandbox path; the home when `None`), with the isolation
    /// and environment of exec. With a `terminal` (the `TERM` value) it is meant to run on a
    /// pseudo-terminal that the caller makes its controlling terminal; without one it runs
    /// detached from any terminal. The caller sets stdio, spawns it as the leader of its own
    /// process group or session, and then calls [`LocalProvider::attach`].
    pub(crate) async fn command(
        &self,
        id: &str,
        cwd: Option<&str>,
        command: Option<&str>,
        terminal: Option<&str>,
    ) -> Result<std::process::Command> {
        let metadata = self.blocking_resolve(id).await?;
        super::exec::ensure_started(&metadata)?;
        let dirs = self.store.dirs(&metadata);
        let location = self.working_directory(&metadata, &dirs, cwd)?;
        // SSH sessions start with the environment changes made since create, as exec does.
        let (store, key) = (self.store.clone(), metadata.id.clone());
        let changes = blocking(move || store.env_changes(&key)).await?;
        let environment = process_env::environment(
            &self.launcher.home_value(&dirs),
            &metadata.user,
            &changes.apply(&metadata.env),
            &BTreeMap::new(),
            terminal,
        );
        let program = match command {
            Some(command) => vec![process_env::COMMAND_SHELL, "-c", command],
            None => vec![process_env::login_shell(), "-l"],
        };
        let invocation = self.launcher.invocation(
            &dirs,
            &location,
            environment,
            &program,
            terminal.is_none(),
            SANDBOX,
        );
        invocation
            .command()
            .map_err(|error| super::exec::start_error(&metadata.name, &error))
    }

    /// Registers process group `pgid`, started from [`LocalProvider::command`], as running in
    /// sandbox `id`, so that stopping or deleting the sandbox kills it. When the sandbox stopped
    /// in the meantime the group is killed and this fails.
    pub(crate) async fn register_group(&self, id: &str, pgid: u32) -> Result<Attached> {
        let (store, key) = (self.store.clone(), id.to_string());
        blocking(move || {
            let metadata = store.resolve(&key)?;
            let group = ProcessGroup::register(pgid, &store.run_dir(&metadata.id));
            // Checked again after registering, under the shared lock: a stop either ran before
            // (and this sees it) or comes after (and kills the registered group).
            let _lock = store.lock(false)?;
            let metadata = store.resolve(&key)?;
            if metadata.state != SandboxState::Started {
                // Dropping the group kills it.
                return Err(ProviderError::Conflict {
                    message: format!(
                        "sandbox `{}` is not started (state: {})",
                        metadata.name, metadata.state
                    ),
                });
            }
            Ok(Attached { _group: group })
        })
        .await
    }
}
