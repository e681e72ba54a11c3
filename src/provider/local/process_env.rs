//! The environment every sandbox process starts with, and the shells that run its commands.
//!
//! Nothing from the host's environment is taken: a process gets the base variables here, the
//! sandbox's own env, then its request's, which may hold secrets. This file builds maps of
//! variables; it never puts a value on a command line and never writes or logs one.

use std::collections::BTreeMap;
use std::path::Path;

/// The `PATH` of every sandbox command: the standard system directories, never the host's.
pub(crate) const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The shell that runs exec command lines, with `sh` semantics as on Daytona.
pub(crate) const COMMAND_SHELL: &str = "/bin/sh";

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
