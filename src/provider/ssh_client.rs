//! The system OpenSSH client, run against a sandbox's token-based SSH login (Daytona's, or
//! `serve`'s gateway): a script over `/bin/sh -s` (the exec fallback) or an interactive session.
//!
//! The token is a credential. It reaches `ssh` through a 0600 config file (`-F`), never its
//! argv, and is masked in any `ssh` error text. SSH sessions on Daytona start with a broken
//! `PATH`; scripts here extend it themselves.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::{ExecChannel, ExecOutput, ProviderError, Result};

/// The host name the config file defines; the real host is its `HostName`.
const HOST_ALIAS: &str = "ralph-town-sandbox";

/// `ssh` could not be started.
pub(crate) fn ssh_missing(error: std::io::Error) -> ProviderError {
    ProviderError::transport(format!(
        "cannot run `ssh`: {error} (install the OpenSSH client, `openssh-client`)"
    ))
}

/// Where an SSH login goes. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SshTarget {
    pub host: String,
    pub port: u16,
    /// The token, which is the SSH user name.
    pub user: String,
}

impl std::fmt::Debug for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &"<token>")
            .finish()
    }
}

impl SshTarget {
    /// Reads host and port from Daytona's `sshCommand` (`ssh [-p PORT] TOKEN@HOST`).
    pub(crate) fn parse(command: &str, token: &str) -> Result<SshTarget> {
        let unusable = |why: &str| {
            ProviderError::transport(format!(
                "cannot use the SSH access the provider gave: {why}"
            ))
        };
        let argv = shlex::split(command).ok_or_else(|| unusable("the command does not parse"))?;
        let mut port = 22u16;
        let mut host = None;
        let mut args = argv.iter().skip(1);
        while let Some(arg) = args.next() {
            let port_text = match arg.as_str() {
                "-p" => args.next().map(String::as_str),
                other => other.strip_prefix("-p").filter(|rest| !rest.is_empty()),
            };
            if let Some(text) = port_text {
                port = text
                    .parse()
                    .map_err(|_| unusable("the port is not a number"))?;
            } else if !arg.starts_with('-')
                && let Some((_, name)) = arg.rsplit_once('@')
            {
                host = Some(name.to_string());
            }
        }
        let host = host.ok_or_else(|| unusable("it names no `user@host`"))?;
        // Both end up in a config file: nothing that could start another line or option.
        let plain = |text: &str, extra: &str| {
            !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
        };
        if !plain(&host, ".-_:[]") {
            return Err(unusable("the host name has unexpected characters"));
        }
        if !plain(token, "-_") {
            return Err(unusable("the token has unexpected characters"));
        }
        Ok(SshTarget {
            host,
            port,
            user: token.to_string(),
        })
    }

    /// Replaces the token in `text` (an `ssh` error says `user@host`).
    fn mask(&self, text: &str) -> String {
        text.replace(&self.user, "<token>")
    }
}

/// A prepared `ssh` invocation and the config file it reads (removed when this is dropped).
pub(crate) struct SshSession {
    config: ConfigFile,
    args: Vec<String>,
}

impl SshSession {
    /// `remote` (a shell command line) on this process's stdio, on a terminal when asked.
    pub(crate) fn remote(target: &SshTarget, remote: &str, terminal: bool) -> Result<SshSession> {
        let config = ConfigFile::write(target)?;
        let args = [
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "LogLevel=ERROR",
            if terminal { "-t" } else { "-T" },
            HOST_ALIAS,
            remote,
        ];
        Ok(SshSession {
            config,
            args: args.map(String::from).to_vec(),
        })
    }

    /// A non-interactive session for scripts, as the original ralph-town ran it.
    fn batch(target: &SshTarget, remote: &[&str]) -> Result<SshSession> {
        let config = ConfigFile::write(target)?;
        let mut args: Vec<String> = [
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-T",
            HOST_ALIAS,
        ]
        .map(String::from)
        .to_vec();
        args.extend(remote.iter().map(std::string::ToString::to_string));
        Ok(SshSession { config, args })
    }

    /// The `ssh` command; stdio is the caller's to set. Keep `self` alive while it runs.
    pub(crate) fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new("ssh");
        command.arg("-F").arg(&self.config.path).args(&self.args);
        command
    }
}

/// The script a fallback exec sends to `/bin/sh -s`: stderr merged into stdout (as the toolbox
/// does), the usual `PATH` directories appended, then `cwd`, `env` and the command. The script
/// travels on stdin, so `env` values stay off every command line.
pub(crate) fn script(cwd: Option<&str>, env: &BTreeMap<String, String>, command: &str) -> String {
    let quote = |text: &str| {
        shlex::try_quote(text)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_else(|_| "''".to_string())
    };
    let mut script = String::from(
        "exec 2>&1\nPATH=\"${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\nexport PATH\n",
    );
    if let Some(cwd) = cwd.filter(|cwd| !cwd.is_empty()) {
        script.push_str(&format!("cd -- {} || exit 1\n", quote(cwd)));
    }
    for (name, value) in env {
        script.push_str(&format!("export {name}={}\n", quote(value)));
    }
    script.push_str(command);
    script.push('\n');
    script
}

/// The remote command line of an attached session: `PATH` repaired, `cwd`, then `command`, or
/// the login shell.
pub(crate) fn remote_command(cwd: Option<&str>, command: Option<&str>) -> String {
    let quote = |text: &str| {
        shlex::try_quote(text)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_else(|_| "''".to_string())
    };
    let mut remote = String::from(
        "PATH=\"${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"; export PATH; ",
    );
    if let Some(cwd) = cwd.filter(|cwd| !cwd.is_empty()) {
        remote.push_str(&format!("cd -- {} || exit 1; ", quote(cwd)));
    }
    match command {
        Some(command) => remote.push_str(&format!("exec /bin/sh -c {}", quote(command))),
        None => remote.push_str("exec \"${SHELL:-/bin/sh}\" -l"),
    }
    remote
}

/// Runs `script` with `/bin/sh -s` over SSH; `None` when `timeout` passed first (the session is
/// killed).
pub(crate) async fn run_script(
    target: &SshTarget,
    script: &str,
    timeout: Option<Duration>,
) -> Result<Option<ExecOutput>> {
    let session = SshSession::batch(target, &["/bin/sh", "-s"])?;
    let mut command = tokio::process::Command::from(session.command());
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(ssh_missing)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let script = script.as_bytes().to_vec();
    let writer = async move {
        // A session that ends early closes the pipe; its exit status tells why.
        let _ = stdin.write_all(&script).await;
        drop(stdin);
    };
    let finished = async { tokio::join!(writer, child.wait_with_output()).1 };
    let output = match timeout {
        Some(limit) => match tokio::time::timeout(limit, finished).await {
            Ok(output) => output,
            Err(_) => return Ok(None),
        },
        None => finished.await,
    }
    .map_err(|error| ProviderError::transport(format!("lost the `ssh` session: {error}")))?;
    let stderr = target.mask(String::from_utf8_lossy(&output.stderr).trim());
    match output.status.code() {
        // 255 is ssh's own failure; the remote side's stderr is merged into stdout.
        Some(255) if !stderr.is_empty() => Err(ProviderError::transport(format!(
            "ssh to `{}` port {} failed: {stderr}",
            target.host, target.port
        ))),
        Some(code) => Ok(Some(ExecOutput {
            exit_code: code,
            output: String::from_utf8_lossy(&output.stdout).into_owned(),
            via: ExecChannel::Ssh,
        })),
        None => Err(ProviderError::transport("`ssh` was killed by a signal")),
    }
}

/// A 0600 `ssh_config` naming the host, port and user, removed on drop.
struct ConfigFile {
    path: PathBuf,
}

impl ConfigFile {
    fn write(target: &SshTarget) -> Result<ConfigFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = std::env::temp_dir().join(format!(
            "ralph-town-ssh-{}.conf",
            uuid::Uuid::new_v4().simple()
        ));
        let text = format!(
            "Host {HOST_ALIAS}\n  HostName {}\n  Port {}\n  User {}\n",
            target.host, target.port, target.user
        );
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| file.write_all(text.as_bytes()));
        let config = ConfigFile { path };
        written.map_err(|error| {
            ProviderError::transport(format!(
                "cannot write an ssh config file `{}`: {error}",
                config.path.display()
            ))
        })?;
        Ok(config)
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_come_from_daytona_commands() {
        let target = SshTarget::parse("ssh -p 2222 abc123@localhost", "abc123").unwrap();
        assert_eq!((target.host.as_str(), target.port), ("localhost", 2222));
        let target = SshTarget::parse("ssh abc@ssh.app.daytona.io", "abc").unwrap();
        assert_eq!(
            (target.host.as_str(), target.port),
            ("ssh.app.daytona.io", 22)
        );
        assert!(!format!("{target:?}").contains("abc"));
        assert!(SshTarget::parse("ssh localhost", "abc").is_err());
        assert!(SshTarget::parse("ssh 'x@host\nProxyCommand evil'", "x").is_err());
        assert!(SshTarget::parse("ssh x@host", "x\nProxyCommand evil").is_err());
    }

    #[test]
    fn scripts_quote_values_and_directories() {
        let env = BTreeMap::from([("A".to_string(), "it's $(here)".to_string())]);
        let script = script(Some("my dir"), &env, "echo \"$A\"");
        assert!(script.starts_with("exec 2>&1\n"), "{script}");
        assert!(script.contains("cd -- 'my dir' || exit 1\n"), "{script}");
        assert!(script.ends_with("echo \"$A\"\n"), "{script}");
        let output = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script.replace("cd -- 'my dir' || exit 1\n", ""))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout), "it's $(here)\n");
    }
}
