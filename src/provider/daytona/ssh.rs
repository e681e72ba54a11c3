//! SSH to a sandbox: a token-based login from `POST /sandbox/{id}/ssh-access`, the interactive
//! shell over it, and the fallback for Daytona's old `exitCode: -1` defect (daytonaio/daytona#2283):
//! when the toolbox answers -1 with no output, the command runs again over SSH with a short-lived
//! token, revoked afterwards. The defect could strike after the command ran, so such a command
//! may run twice; the original ralph-town accepted the same.
//!
//! The token is the SSH user name and a credential the user asked for; it is returned to the
//! caller and never logged, and reaches `ssh` in a 0600 config file, never on its command line.
//! Issuing a token revokes the sandbox's earlier ones (Daytona keeps one live token per
//! sandbox).

use std::time::{Duration, SystemTime};

use super::DaytonaProvider;
use super::http::Repeat;
use super::sandbox::sandbox_what;
use crate::daytona_api as wire;
use crate::provider::ssh_client::{self, SshSession, SshTarget};
use crate::provider::{AttachRequest, ExecOutput, ExecRequest, ProviderError, Result, ShellAccess};

/// Minutes a short-lived SSH token lives beyond the command's own timeout.
const FALLBACK_TOKEN_MINUTES: u64 = 10;

impl DaytonaProvider {
    pub(crate) async fn ssh_access(
        &self,
        id: &str,
        cwd: Option<&str>,
        expires_in_minutes: u32,
    ) -> Result<ShellAccess> {
        let mut url = self.http.api(&["sandbox", id, "ssh-access"])?;
        url.query_pairs_mut()
            .append_pair("expiresInMinutes", &expires_in_minutes.to_string());
        let access: wire::SshAccessDto = self
            .http
            .json(&sandbox_what(id), Repeat::Safe, |client| {
                client
                    .post(url.clone())
                    .timeout(self.http.request_timeout())
            })
            .await?;
        let expires_at = humantime::parse_rfc3339_weak(&access.expires_at).unwrap_or_else(|_| {
            SystemTime::now() + Duration::from_secs(u64::from(expires_in_minutes) * 60)
        });
        let target = SshTarget::parse(&access.ssh_command, &access.token)?;
        Ok(ShellAccess::Ssh {
            sandbox_id: id.to_string(),
            command: ssh_command(&access.ssh_command, cwd),
            token: access.token,
            host: target.host,
            port: target.port,
            expires_at: humantime::format_rfc3339_seconds(expires_at).to_string(),
        })
    }

    /// Runs the toolbox exec, and the command again over SSH when the toolbox answers with
    /// Daytona's `-1` defect (unless the request says not to).
    pub(crate) async fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecOutput> {
        let output = self.execute(id, request).await?;
        if request.no_ssh_fallback || output.exit_code != -1 || !output.output.is_empty() {
            return Ok(output);
        }
        let access = self.short_lived_access(id, request.timeout).await?;
        let outcome = async {
            let target = target_of(&access)?;
            let script = ssh_client::script(request.cwd.as_deref(), &request.env, &request.command);
            ssh_client::run_script(&target, &script, request.timeout).await
        }
        .await;
        // The token is revoked on every path; a revoke that fails leaves it to its short expiry.
        self.revoke(id, &access).await;
        outcome?.ok_or_else(|| ProviderError::Timeout {
            message: format!(
                "the command did not finish within {}",
                humantime::format_duration(request.timeout.unwrap_or_default())
            ),
        })
    }

    /// A command or the login shell over SSH on this process's stdio; the token is revoked
    /// afterwards.
    pub(crate) async fn ssh_attach(
        &self,
        id: &str,
        request: &AttachRequest,
    ) -> Result<Option<i32>> {
        let access = self.short_lived_access(id, request.timeout).await?;
        let outcome = async {
            let target = target_of(&access)?;
            let remote =
                ssh_client::remote_command(request.cwd.as_deref(), request.command.as_deref());
            let terminal = request.terminal || request.command.is_none();
            let session = SshSession::remote(&target, &remote, terminal)?;
            let mut ssh = tokio::process::Command::from(session.command());
            ssh.kill_on_drop(true);
            let mut child = ssh.spawn().map_err(ssh_client::ssh_missing)?;
            let status = match request.timeout {
                Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
                    Ok(status) => status,
                    Err(_) => return Ok(None),
                },
                None => child.wait().await,
            }
            .map_err(|error| {
                ProviderError::transport(format!("lost the `ssh` session: {error}"))
            })?;
            drop(session);
            Ok(Some(status.code().unwrap_or(255)))
        }
        .await;
        self.revoke(id, &access).await;
        outcome
    }

    /// A token for one command or shell over SSH (the caller revokes it): it lives as long as
    /// the command may, plus a margin.
    async fn short_lived_access(&self, id: &str, timeout: Option<Duration>) -> Result<ShellAccess> {
        let minutes =
            timeout.map_or(0, |timeout| timeout.as_secs().div_ceil(60)) + FALLBACK_TOKEN_MINUTES;
        self.ssh_access(id, None, u32::try_from(minutes).unwrap_or(u32::MAX))
            .await
    }

    async fn revoke(&self, id: &str, access: &ShellAccess) {
        if let ShellAccess::Ssh { token, .. } = access {
            let _ = self.revoke_ssh_access(id, token).await;
        }
    }

    /// Revokes one SSH token (`DELETE /sandbox/{id}/ssh-access?token=`).
    pub async fn revoke_ssh_access(&self, id: &str, token: &str) -> Result<()> {
        let mut url = self.http.api(&["sandbox", id, "ssh-access"])?;
        url.query_pairs_mut().append_pair("token", token);
        self.http.delete(&sandbox_what(id), &url).await
    }
}

fn target_of(access: &ShellAccess) -> Result<SshTarget> {
    match access {
        ShellAccess::Ssh {
            host, port, token, ..
        } => Ok(SshTarget {
            host: host.clone(),
            port: *port,
            user: token.clone(),
        }),
        ShellAccess::Local { .. } => Err(ProviderError::transport("no SSH access was given")),
    }
}

/// The server's SSH command, made to start in `cwd` when one is given.
fn ssh_command(command: &str, cwd: Option<&str>) -> String {
    let Some(cwd) = cwd.filter(|cwd| !cwd.is_empty()) else {
        return command.to_string();
    };
    let quoted = shlex::try_quote(cwd).map(std::borrow::Cow::into_owned);
    let Ok(quoted) = quoted else {
        return command.to_string();
    };
    let remote = format!("cd {quoted}; exec \"${{SHELL:-/bin/sh}}\" -l");
    let remote = shlex::try_quote(&remote)
        .map(std::borrow::Cow::into_owned)
        .unwrap_or_default();
    format!("{command} -t {remote}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_command_starts_in_the_directory() {
        let base = "ssh -p 2222 token@localhost";
        assert_eq!(ssh_command(base, None), base);
        let command = ssh_command(base, Some("work dir"));
        let argv = shlex::split(&command).unwrap();
        assert_eq!(&argv[..5], ["ssh", "-p", "2222", "token@localhost", "-t"]);
        assert_eq!(argv[5], "cd 'work dir'; exec \"${SHELL:-/bin/sh}\" -l");
    }
}
