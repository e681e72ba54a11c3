//! How a program is launched inside a `local` sandbox: the clean environment, and the
//! bubblewrap invocation (or, without bubblewrap, a plain one with the sandbox home as `HOME`).
//!
//! Nothing from the host's environment reaches a sandbox, and no environment value is ever put
//! on bubblewrap's command line: values travel in the process environment, which bubblewrap
//! passes through. This file builds commands; it does not run or track them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::paths::{self, Location, SANDBOX_HOME};
use super::store::SandboxDirs;

/// The `PATH` of every sandbox command: the standard system directories, never the host's.
pub(crate) const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The shell that runs exec command lines, with `sh` semantics as on Daytona.
pub(crate) const COMMAND_SHELL: &str = "/bin/sh";

/// The path of a working `bwrap`, looked up and tried once per process.
pub(crate) fn find_bubblewrap() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let program = which::which("bwrap").ok()?;
            // Installed is not enough: unprivileged user namespaces may be disabled.
            let works = Command::new(&program)
                .args(["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"])
                .args([
                    "--unshare-pid",
                    "--unshare-ipc",
                    "--unshare-uts",
                    "--die-with-parent",
                ])
                .args(["--", "/bin/true"])
                .env_clear()
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            works.then_some(program)
        })
        .clone()
}

/// The interactive shell: bash when the system has it.
pub(crate) fn login_shell() -> &'static str {
    if Path::new("/bin/bash").exists() {
        "/bin/bash"
    } else {
        "/bin/sh"
    }
}

/// The environment of a sandbox process, later entries winning: the base variables, the
/// sandbox's own env, then the request's (which may hold secrets).
pub(crate) fn environment(
    home: &str,
    user: &str,
    sandbox_env: &BTreeMap<String, String>,
    request_env: &BTreeMap<String, String>,
    terminal: Option<&str>,
) -> BTreeMap<String, String> {
    let mut environment = BTreeMap::new();
    for (name, value) in [
        ("HOME", home),
        ("PATH", SYSTEM_PATH),
        ("USER", user),
        ("LOGNAME", user),
        ("LANG", "C.UTF-8"),
        ("SHELL", login_shell()),
    ] {
        environment.insert(name.to_string(), value.to_string());
    }
    if let Some(terminal) = terminal {
        environment.insert("TERM".to_string(), terminal.to_string());
    }
    environment.extend(
        sandbox_env
            .iter()
            .map(|(name, value)| (name.clone(), value.clone())),
    );
    environment.extend(
        request_env
            .iter()
            .map(|(name, value)| (name.clone(), value.clone())),
    );
    environment
}

/// A program to run in a sandbox, not yet started.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    program: OsString,
    args: Vec<OsString>,
    environment: BTreeMap<String, String>,
    /// The host directory to start in (plain launches; bubblewrap changes directory itself).
    host_cwd: Option<PathBuf>,
}

impl Invocation {
    /// A command with exactly this environment; stdio is left to the caller.
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args).env_clear().envs(&self.environment);
        if let Some(cwd) = &self.host_cwd {
            command.current_dir(cwd);
        }
        command
    }

    /// The same as one argv (through `env -i`), for a user to run. The environment lands on
    /// the command line, so this is only for invocations without secrets.
    pub(crate) fn argv(&self) -> Vec<String> {
        let mut argv = vec!["env".to_string(), "-i".to_string()];
        argv.extend(
            self.environment
                .iter()
                .map(|(name, value)| format!("{name}={value}")),
        );
        if let Some(cwd) = &self.host_cwd {
            argv.extend(["/bin/sh", "-c", "cd -- \"$0\" && exec \"$@\""].map(String::from));
            argv.push(cwd.to_string_lossy().into_owned());
        }
        argv.push(self.program.to_string_lossy().into_owned());
        argv.extend(
            self.args
                .iter()
                .map(|arg| arg.to_string_lossy().into_owned()),
        );
        argv
    }
}

/// Builds invocations for one provider: with bubblewrap or without, and what the sandbox
/// must not see of the host.
#[derive(Debug, Clone)]
pub(crate) struct Launcher {
    bubblewrap: Option<PathBuf>,
    /// Host directories hidden behind an empty tmpfs: the state root (other sandboxes' homes)
    /// and the invoking user's home (their git credentials, keys).
    hidden: Vec<PathBuf>,
    /// Host paths shown read-only at the same path (a local repository to clone).
    read_only: Vec<PathBuf>,
}

impl Launcher {
    pub(crate) fn new(
        bubblewrap: Option<PathBuf>,
        state_root: &Path,
        read_only: Vec<PathBuf>,
    ) -> Launcher {
        let mut hidden = vec![state_root.to_path_buf(), PathBuf::from("/root")];
        if let Some(home) =
            std::env::home_dir().filter(|home| home.is_absolute() && home != Path::new("/"))
        {
            hidden.push(home);
        }
        hidden.retain(|path| path.is_dir());
        let hidden = prune_hidden(hidden);
        Launcher {
            bubblewrap,
            hidden,
            read_only,
        }
    }

    pub(crate) fn is_isolated(&self) -> bool {
        self.bubblewrap.is_some()
    }

    /// The value of `HOME` inside the sandbox.
    pub(crate) fn home_value(&self, dirs: &SandboxDirs) -> String {
        match self.bubblewrap {
            Some(_) => SANDBOX_HOME.to_string(),
            None => dirs.home.to_string_lossy().into_owned(),
        }
    }

    /// The host directory a sandbox location maps to, when it is the sandbox's own.
    pub(crate) fn host_path(&self, dirs: &SandboxDirs, location: &Location) -> Option<PathBuf> {
        match location {
            Location::Home(relative) => Some(under(&dirs.home, relative)),
            // Without bubblewrap `/tmp` is the host's, not the sandbox's.
            Location::Tmp(relative) if self.bubblewrap.is_some() => {
                Some(under(&dirs.tmp, relative))
            }
            Location::Tmp(_) | Location::Elsewhere(_) => None,
        }
    }

    /// Where a path a command gave lives. Without bubblewrap commands see the home at its
    /// host path, so that path names the home too.
    pub(crate) fn locate(&self, dirs: &SandboxDirs, path: &str) -> Location {
        if self.bubblewrap.is_none()
            && let Ok(relative) = paths::normalize(path).strip_prefix(&dirs.home)
        {
            return Location::Home(relative.to_path_buf());
        }
        paths::locate(path)
    }

    /// `program` run in the sandbox, started in `cwd`. `new_session` detaches it from any
    /// terminal (commands); an interactive shell keeps its terminal.
    pub(crate) fn invocation(
        &self,
        dirs: &SandboxDirs,
        cwd: &Location,
        environment: BTreeMap<String, String>,
        program: &[&str],
        new_session: bool,
    ) -> Invocation {
        let Some(bubblewrap) = &self.bubblewrap else {
            let host_cwd = match cwd {
                Location::Home(relative) => under(&dirs.home, relative),
                Location::Tmp(relative) => under(Path::new("/tmp"), relative),
                Location::Elsewhere(path) => path.clone(),
            };
            return Invocation {
                program: program[0].into(),
                args: program[1..].iter().map(OsString::from).collect(),
                environment,
                host_cwd: Some(host_cwd),
            };
        };
        let inside_cwd = match cwd {
            Location::Home(relative) => under(Path::new(SANDBOX_HOME), relative),
            Location::Tmp(relative) => under(Path::new("/tmp"), relative),
            Location::Elsewhere(path) => path.clone(),
        };
        let mut args: Vec<OsString> = Vec::new();
        let mut push =
            |parts: &[&std::ffi::OsStr]| args.extend(parts.iter().map(|part| part.to_os_string()));
        push(&["--ro-bind".as_ref(), "/".as_ref(), "/".as_ref()]);
        for hidden in &self.hidden {
            push(&["--tmpfs".as_ref(), hidden.as_os_str()]);
        }
        // `/` is read-only, so `/home/daytona` can only be created inside a fresh tmpfs.
        push(&["--tmpfs".as_ref(), "/home".as_ref()]);
        push(&[
            "--bind".as_ref(),
            dirs.home.as_os_str(),
            SANDBOX_HOME.as_ref(),
        ]);
        push(&["--bind".as_ref(), dirs.tmp.as_os_str(), "/tmp".as_ref()]);
        for path in &self.read_only {
            push(&["--ro-bind".as_ref(), path.as_os_str(), path.as_os_str()]);
        }
        // Volumes: each one's directory under the state root, read-write at its mount path,
        // after the home and `/tmp` so that mounts inside them land on top.
        for (host, mount) in &dirs.volumes {
            push(&["--bind".as_ref(), host.as_os_str(), mount.as_os_str()]);
        }
        push(&[
            "--proc".as_ref(),
            "/proc".as_ref(),
            "--dev".as_ref(),
            "/dev".as_ref(),
        ]);
        push(&[
            "--unshare-pid".as_ref(),
            "--unshare-ipc".as_ref(),
            "--unshare-uts".as_ref(),
        ]);
        push(&["--die-with-parent".as_ref()]);
        if new_session {
            push(&["--new-session".as_ref()]);
        }
        push(&["--chdir".as_ref(), inside_cwd.as_os_str(), "--".as_ref()]);
        args.extend(program.iter().map(OsString::from));
        Invocation {
            program: bubblewrap.clone().into_os_string(),
            args,
            environment,
            host_cwd: None,
        }
    }
}

/// The paths that need their own tmpfs: not `/home` or `/tmp` (replaced anyway), nor
/// anything inside those or inside another hidden path.
fn prune_hidden(mut hidden: Vec<PathBuf>) -> Vec<PathBuf> {
    hidden.sort();
    hidden.dedup();
    let all = hidden.clone();
    hidden.retain(|path| {
        let replaced = ["/home", "/tmp"].iter().any(|dir| path.starts_with(dir));
        let inside_other = all
            .iter()
            .any(|outer| outer != path && path.starts_with(outer));
        !replaced && !inside_other
    });
    hidden
}

/// `base/relative`, without the trailing slash `join` adds for an empty `relative`.
fn under(base: &Path, relative: &Path) -> PathBuf {
    if relative.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(relative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_paths_inside_others_or_in_replaced_directories_are_dropped() {
        let paths = |list: &[&str]| list.iter().map(PathBuf::from).collect::<Vec<_>>();
        let hidden = paths(&[
            "/root/.local/state/rt",
            "/root",
            "/root",
            "/srv/state",
            "/home/ann",
            "/tmp/x",
            "/home",
        ]);
        assert_eq!(prune_hidden(hidden), paths(&["/root", "/srv/state"]));
    }
}
