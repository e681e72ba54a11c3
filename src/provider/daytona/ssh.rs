//! SSH access to a sandbox: a token-based login from `POST /sandbox/{id}/ssh-access`.
//!
//! The token is the SSH user name and a credential the user asked for; it is returned to the
//! caller and never logged. Issuing a token revokes the sandbox's earlier ones (Daytona keeps one
//! live token per sandbox).

use std::time::{Duration, SystemTime};

use super::DaytonaProvider;
use super::http::{REQUEST_TIMEOUT, Repeat};
use super::sandbox::sandbox_what;
use crate::daytona_api as wire;
use crate::provider::{Result, ShellAccess};

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
                client.post(url.clone()).timeout(REQUEST_TIMEOUT)
            })
            .await?;
        let expires_at = humantime::parse_rfc3339_weak(&access.expires_at).unwrap_or_else(|_| {
            SystemTime::now() + Duration::from_secs(u64::from(expires_in_minutes) * 60)
        });
        Ok(ShellAccess::Ssh {
            token: access.token,
            command: ssh_command(&access.ssh_command, cwd),
            expires_at,
        })
    }

    /// Revokes one SSH token (`DELETE /sandbox/{id}/ssh-access?token=`).
    pub async fn revoke_ssh_access(&self, id: &str, token: &str) -> Result<()> {
        let mut url = self.http.api(&["sandbox", id, "ssh-access"])?;
        url.query_pairs_mut().append_pair("token", token);
        self.http.delete(&sandbox_what(id), &url).await
    }
}

/// The server's SSH command, made to start in `cwd` when one is given.
fn ssh_command(command: &str, cwd: Option<&str>) -> String {
    let Some(cwd) = cwd.filter(|cwd| !cwd.is_empty()) else {
        return command.to_string();
    };
    let quoted = shlex::try_quote(cwd).map(|quoted| quoted.into_owned());
    let Ok(quoted) = quoted else {
        return command.to_string();
    };
    let remote = format!("cd {quoted}; exec \"${{SHELL:-/bin/sh}}\" -l");
    let remote = shlex::try_quote(&remote)
        .map(|remote| remote.into_owned())
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
