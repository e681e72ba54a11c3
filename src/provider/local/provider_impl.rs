//! The [`Provider`] calls of [`LocalProvider`], mapped onto the store (metadata, locks), the
//! launcher (how a command starts), the process tracker, the cgroups and the files of each
//! concern (`exec`, `files`, `env`, `session`, `sandbox_network`, `copies`, ...). It never
//! prints, and never writes or logs the environment of an exec request: that is where secrets
//! travel.

use async_trait::async_trait;

use super::layer_build::ImageLayers;
use super::store::{self, Metadata};
use super::{LocalProvider, blocking, gc, process_group, session_files};
use crate::provider::{
    AttachRequest, CommandLogs, CreateSandbox, ExecOutput, ExecRequest, HostCommandRequest,
    InnerListener, Labels, Lifecycle, LogStream, Network, Provider, ProviderError, ProviderKind,
    ResourceUsage, Resources, Result, Sandbox, SandboxState, SessionCommand, SessionExecOutput,
    SessionExecRequest, SessionInfo, ShellAccess, TrackedProcess,
};

#[async_trait]
impl Provider for LocalProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Local
    }

    async fn list(&self, labels: &Labels) -> Result<Vec<Sandbox>> {
        let (store, expire) = (self.store.clone(), self.expire);
        let all = blocking(move || {
            let listed = store.list()?;
            if expire {
                return Ok(gc::expire(&store, listed, std::time::SystemTime::now())?.live);
            }
            Ok(listed)
        })
        .await?;
        Ok(all
            .into_iter()
            .filter(|metadata| {
                labels
                    .iter()
                    .all(|(key, value)| metadata.labels.get(key) == Some(value))
            })
            .map(Metadata::into_sandbox)
            .collect())
    }

    async fn get(&self, id: &str) -> Result<Sandbox> {
        Ok(self.blocking_resolve(id).await?.to_sandbox())
    }

    async fn create(&self, request: &CreateSandbox) -> Result<Sandbox> {
        self.create_from(request, None).await
    }

    async fn start(&self, id: &str) -> Result<Sandbox> {
        self.update(id, |_, metadata| metadata.state = SandboxState::Started)
            .await
    }

    async fn stop(&self, id: &str) -> Result<Sandbox> {
        let cgroups = self.launcher.cgroups().clone();
        self.update(id, move |store, metadata| {
            metadata.state = SandboxState::Stopped;
            // Under the lock: an exec that passed its state check has registered by now.
            process_group::kill_registered(&store.run_dir(&metadata.id));
            cgroups.kill(&metadata.id);
            session_files::forget_all(store, &metadata.id);
        })
        .await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        let (store, id) = (self.store.clone(), id.to_string());
        let cgroups = self.launcher.cgroups().clone();
        blocking(move || {
            let (trashed, key) = {
                let _lock = store.lock(true)?;
                let metadata = store.resolve(&id)?;
                (store.move_to_trash(&metadata.id)?, metadata.id)
            };
            process_group::kill_registered(&trashed.join("run"));
            cgroups.remove(&key);
            store::remove_trashed(&trashed)
        })
        .await
    }

    async fn set_labels(&self, id: &str, labels: &Labels) -> Result<Sandbox> {
        let labels = labels.clone();
        self.update(id, move |_, metadata| metadata.labels = labels)
            .await
    }

    async fn set_lifecycle(&self, id: &str, lifecycle: &Lifecycle) -> Result<Sandbox> {
        let lifecycle = *lifecycle;
        self.update(id, move |_, metadata| {
            let current = &mut metadata.lifecycle;
            current.auto_stop = lifecycle.auto_stop.or(current.auto_stop);
            current.auto_archive = lifecycle.auto_archive.or(current.auto_archive);
            current.auto_delete = lifecycle.auto_delete.or(current.auto_delete);
        })
        .await
    }

    /// The memory limit of a live cgroup changes with the record, under the root lock, so
    /// that no command starts with the old one; when the kernel refuses it (v1 cannot take
    /// a limit below what the processes hold) nothing changes.
    async fn set_resources(&self, id: &str, resources: &Resources) -> Result<Sandbox> {
        let (store, id, resources) = (self.store.clone(), id.to_string(), *resources);
        let cgroups = self.launcher.cgroups().clone();
        blocking(move || {
            let _lock = store.lock(true)?;
            let mut metadata = store.resolve(&id)?;
            let current = &mut metadata.resources;
            current.cpu = resources.cpu.or(current.cpu);
            current.memory = resources.memory.or(current.memory);
            current.disk = resources.disk.or(current.disk);
            if let Some(cgroup) = cgroups.sandbox(&metadata.id) {
                match cgroup.limit(metadata.resources.memory) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        return Err(ProviderError::Api {
                            status: None,
                            message: format!(
                                "cannot set the memory of sandbox `{}`: {error}",
                                metadata.name
                            ),
                            retryable: false,
                        });
                    }
                    _ => {}
                }
            }
            store.write(&metadata)?;
            Ok(metadata.to_sandbox())
        })
        .await
    }

    async fn set_network(&self, id: &str, network: &Network) -> Result<()> {
        LocalProvider::set_network(self, id, network).await
    }

    async fn connect_port(&self, id: &str, port: u16) -> Result<Option<std::net::TcpStream>> {
        LocalProvider::connect_port(self, id, port).await
    }

    async fn holds_sockets(&self, id: &str, inodes: &[u64]) -> Result<Option<bool>> {
        LocalProvider::holds_sockets(self, id, inodes).await
    }

    async fn listen_port(&self, id: &str, port: u16) -> Result<Option<InnerListener>> {
        LocalProvider::listen_port(self, id, port).await
    }

    async fn network_identity(&self, id: &str) -> Result<Option<u64>> {
        LocalProvider::network_identity(self, id).await
    }

    async fn usage(&self, id: &str) -> Result<Option<ResourceUsage>> {
        LocalProvider::usage(self, id).await
    }

    async fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecOutput> {
        self.run(id, request).await
    }

    async fn work_dir(&self, id: &str) -> Result<Option<String>> {
        let metadata = self.blocking_resolve(id).await?;
        let dirs = self.store.dirs(&metadata);
        Ok(self.image_workdir(&metadata, &dirs).map(str::to_string))
    }

    async fn upload(&self, id: &str, path: &str, contents: &[u8]) -> Result<()> {
        self.write_file(id, path, contents.to_vec()).await
    }

    async fn download(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        self.read_file(id, path).await
    }

    /// A command of ours that opens the shell (in `cwd`, as `ssh TEAMMATE` does): the
    /// launcher's own command line would carry the sandbox's environment, whose values may be
    /// credentials.
    async fn shell_access(
        &self,
        id: &str,
        cwd: Option<&str>,
        _expires_in_minutes: u32,
    ) -> Result<ShellAccess> {
        let metadata = self.blocking_resolve(id).await?;
        let quoted = shlex::try_quote(&metadata.id).unwrap_or_default();
        let mut command = format!("ralph-town sandbox ssh {quoted} --provider local --connect");
        if let Some(cwd) = cwd.and_then(|cwd| shlex::try_quote(cwd).ok()) {
            command.push_str(&format!(" --cwd={cwd}"));
        }
        Ok(ShellAccess::Local {
            sandbox_id: metadata.id.clone(),
            command,
        })
    }

    /// The command stays in this process's group, so the user's terminal signals reach it. As
    /// with `docker exec`, a command that this process leaves behind by dying runs on in the
    /// sandbox until it ends or the sandbox stops.
    async fn attach(&self, id: &str, request: &AttachRequest) -> Result<Option<i32>> {
        let terminal = (request.terminal || request.command.is_none())
            .then(|| std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".to_string()));
        let command = self
            .command(
                id,
                request.cwd.as_deref(),
                request.command.as_deref(),
                terminal.as_deref(),
            )
            .await?;
        let mut child = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                ProviderError::transport(format!("cannot start a command: {error}"))
            })?;
        let status = match request.timeout {
            Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
                Ok(status) => status,
                Err(_) => return Ok(None),
            },
            None => child.wait().await,
        }
        .map_err(|error| ProviderError::transport(format!("lost a command: {error}")))?;
        Ok(Some(status.code().unwrap_or(1)))
    }

    async fn host_command(
        &self,
        id: &str,
        request: &HostCommandRequest,
    ) -> Result<std::process::Command> {
        let mut command = self
            .command(
                id,
                request.cwd.as_deref(),
                request.command.as_deref(),
                request.terminal.as_deref(),
            )
            .await?;
        command.envs(&request.env);
        Ok(command)
    }

    fn image_layers(&self) -> Option<&dyn ImageLayers> {
        Some(self)
    }

    async fn track_process(&self, id: &str, pgid: u32) -> Result<TrackedProcess> {
        Ok(TrackedProcess::new(self.register_group(id, pgid).await?))
    }

    async fn set_env(
        &self,
        id: &str,
        set: &std::collections::BTreeMap<String, String>,
        unset: &[String],
    ) -> Result<()> {
        self.change_env(id, set, unset).await
    }

    async fn fork(&self, id: &str, request: &CreateSandbox) -> Result<Sandbox> {
        let source = self.blocking_resolve(id).await?;
        // A copy runs as its source's user unless asked otherwise.
        let request = CreateSandbox {
            user: request.user.clone().or(Some(source.user.clone())),
            ..request.clone()
        };
        self.create_from(&request, Some(self.store.home_dir(&source.id)))
            .await
    }

    async fn capture_snapshot(&self, id: &str, name: &str) -> Result<()> {
        self.capture_home(id, name).await
    }

    async fn os_user(&self, id: &str) -> Result<Option<String>> {
        Ok(Some(self.blocking_resolve(id).await?.user))
    }

    async fn remove_snapshot(&self, name: &str) -> Result<()> {
        self.remove_captured_home(name).await
    }

    async fn remove_volume(&self, volume_id: &str) -> Result<()> {
        self.remove_volume_files(volume_id).await
    }

    async fn create_session(&self, id: &str, session_id: &str) -> Result<()> {
        LocalProvider::create_session(self, id, session_id).await
    }

    async fn list_sessions(&self, id: &str) -> Result<Vec<SessionInfo>> {
        LocalProvider::list_sessions(self, id).await
    }

    async fn get_session(&self, id: &str, session_id: &str) -> Result<SessionInfo> {
        LocalProvider::get_session(self, id, session_id).await
    }

    async fn delete_session(&self, id: &str, session_id: &str) -> Result<()> {
        LocalProvider::delete_session(self, id, session_id).await
    }

    async fn session_exec(
        &self,
        id: &str,
        session_id: &str,
        request: &SessionExecRequest,
    ) -> Result<SessionExecOutput> {
        LocalProvider::session_exec(self, id, session_id, request).await
    }

    async fn session_command(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
    ) -> Result<SessionCommand> {
        LocalProvider::session_command(self, id, session_id, command_id).await
    }

    async fn session_command_logs(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
    ) -> Result<CommandLogs> {
        LocalProvider::session_command_logs(self, id, session_id, command_id).await
    }

    async fn follow_session_command_logs(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
    ) -> Result<LogStream> {
        LocalProvider::follow_session_command_logs(self, id, session_id, command_id).await
    }

    async fn send_session_input(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
        data: &str,
    ) -> Result<()> {
        LocalProvider::send_session_input(self, id, session_id, command_id, data).await
    }
}
