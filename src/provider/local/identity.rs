//! Who the sandbox user is, by name: `/etc/passwd` and `/etc/group` as sandboxes see them; the
//! `/etc/hosts` of a sandbox that resolves names of its own (a linked sandbox's owner); and the
//! `/etc/resolv.conf` of a sandbox with a network of its own.
//!
//! Inside bubblewrap the sandbox user is uid and gid 1000, `daytona`, as on Daytona. The host's
//! user database names uid 1000 after one of its own users, or not at all (`whoami` failed,
//! shells prompted `I have no name!`, ssh looked for its configuration in that user's home).
//! So each sandbox sees the host's files with any entry for uid or gid 1000, or for the name
//! `daytona`, replaced by `daytona` at `/home/daytona`. The two files are made from the host's
//! under the state root (hidden from sandboxes like the rest of it) and bound read-only over
//! the host's; they are rewritten only when the host's change. This file makes the contents; it
//! mounts nothing.
//!
//! A sandbox may instead run as `root`, uid 0 of its own user namespace: still the sandbox's
//! unprivileged host id outside, with no capability, so it owns its home and nothing of the
//! host. The host's own `root` entry names it.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use super::paths::SANDBOX_HOME;
use super::user::INSIDE_ID;

/// The sandbox user's name, uid and gid inside bubblewrap.
pub(crate) const SANDBOX_USER: &str = "daytona";
const SANDBOX_ID: &str = "1000";

/// The name, and the home, of uid 0 inside a sandbox.
const ROOT_USER: &str = "root";
const ROOT_HOME: &str = "/root";

/// Whom a sandbox's commands run as inside: `daytona` (uid 1000, the default) or `root` (uid 0
/// of the sandbox's user namespace, which needs bubblewrap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum SandboxUser {
    #[default]
    Daytona,
    Root,
}

impl SandboxUser {
    /// The user a name or uid means (`root`/`0`, `daytona`/`1000`, spaces around ignored);
    /// `None` for any other.
    pub(crate) fn parse(name: &str) -> Option<SandboxUser> {
        match name.trim() {
            ROOT_USER | "0" => Some(SandboxUser::Root),
            SANDBOX_USER | SANDBOX_ID => Some(SandboxUser::Daytona),
            _ => None,
        }
    }

    /// The user of a sandbox record, where only valid names are written: a record from before
    /// users could be chosen, or one that says nothing sensible, is `daytona`'s.
    pub(crate) fn of_record(name: &str) -> SandboxUser {
        SandboxUser::parse(name).unwrap_or_default()
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            SandboxUser::Daytona => SANDBOX_USER,
            SandboxUser::Root => ROOT_USER,
        }
    }

    /// The uid and gid inside bubblewrap.
    pub(crate) fn inside_id(self) -> u32 {
        match self {
            SandboxUser::Daytona => INSIDE_ID,
            SandboxUser::Root => 0,
        }
    }

    /// The home directory inside bubblewrap: the sandbox's home is bound there (and, for
    /// `root`, at `/home/daytona` too, so that paths written either way reach the same files).
    pub(crate) fn home(self) -> &'static str {
        match self {
            SandboxUser::Daytona => SANDBOX_HOME,
            SandboxUser::Root => ROOT_HOME,
        }
    }
}

/// The users a sandbox may be, for messages.
pub(crate) const POSSIBLE_USERS: &str = "`daytona` (uid 1000, the default) or `root` (uid 0 of the sandbox's own user namespace, with bubblewrap)";

/// The files to bind over `/etc/passwd` and `/etc/group`, made under `state_root` from the
/// host's.
pub(crate) fn files(state_root: &Path) -> io::Result<[(PathBuf, &'static str); 2]> {
    let directory = state_root.join("identity");
    std::fs::create_dir_all(&directory)?;
    let shell = ["/bin/bash", "/bin/sh"]
        .into_iter()
        .find(|shell| Path::new(shell).exists())
        .unwrap_or("/bin/sh");
    let passwd = with_sandbox_user(
        &read_or_empty("/etc/passwd")?,
        2,
        &format!(
            "{SANDBOX_USER}:x:{SANDBOX_ID}:{SANDBOX_ID}:{SANDBOX_USER}:{SANDBOX_HOME}:{shell}"
        ),
    );
    let group = with_sandbox_user(
        &read_or_empty("/etc/group")?,
        2,
        &format!("{SANDBOX_USER}:x:{SANDBOX_ID}:"),
    );
    Ok([
        (made(&directory.join("passwd"), &passwd)?, "/etc/passwd"),
        (made(&directory.join("group"), &group)?, "/etc/group"),
    ])
}

/// The file to bind over `/etc/resolv.conf` in a sandbox with a network of its own, whose
/// name server is `name_server` (this machine's may listen on a loopback it cannot reach).
pub(crate) fn resolv_conf(state_root: &Path, name_server: &str) -> io::Result<PathBuf> {
    let directory = state_root.join("identity");
    std::fs::create_dir_all(&directory)?;
    made(
        &directory.join("resolv.conf"),
        &format!("nameserver {name_server}\n"),
    )
}

/// The `/etc/hosts` of a sandbox: the host's (`host`), then one line per name it resolves.
pub(crate) fn hosts(host: &str, names: &BTreeMap<String, String>) -> String {
    let mut contents = host.to_string();
    if !contents.is_empty() && !contents.ends_with('\n') {
        contents.push('\n');
    }
    for (name, address) in names {
        contents.push_str(&format!("{address}\t{name}\n"));
    }
    contents
}

/// `path` holding `contents`, written only when it holds something else.
fn made(path: &Path, contents: &str) -> io::Result<PathBuf> {
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        crate::durable::write_shared(path, contents.as_bytes())?;
    }
    Ok(path.to_path_buf())
}

fn read_or_empty(path: &str) -> io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(contents) => Ok(contents),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(error) => Err(error),
    }
}

/// `database` (passwd or group lines) without the entries for the sandbox's id (field
/// `id_field`) or name, and with `entry` at the end.
fn with_sandbox_user(database: &str, id_field: usize, entry: &str) -> String {
    let mut lines: Vec<&str> = database
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            fields.first() != Some(&SANDBOX_USER) && fields.get(id_field) != Some(&SANDBOX_ID)
        })
        .collect();
    lines.push(entry);
    let mut contents = lines.join("\n");
    contents.push('\n');
    contents
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_entry_for_the_sandbox_id_or_name_gives_way_to_daytona() {
        let host = "root:x:0:0:root:/root:/bin/bash\n\
                    cloudsdk:x:1000:1000::/home/cloudsdk:/bin/sh\n\
                    daytona:x:1001:1001::/home/daytona:/bin/sh\n\
                    builder:x:1002:1002::/home/builder:/bin/sh\n";
        let entry = "daytona:x:1000:1000:daytona:/home/daytona:/bin/bash";
        assert_eq!(
            with_sandbox_user(host, 2, entry),
            "root:x:0:0:root:/root:/bin/bash\n\
             builder:x:1002:1002::/home/builder:/bin/sh\n\
             daytona:x:1000:1000:daytona:/home/daytona:/bin/bash\n"
        );
    }

    #[test]
    fn users_are_named_by_name_or_uid_and_records_fall_back_to_daytona() {
        for (name, user) in [
            ("root", Some(SandboxUser::Root)),
            (" 0 ", Some(SandboxUser::Root)),
            ("daytona", Some(SandboxUser::Daytona)),
            ("1000", Some(SandboxUser::Daytona)),
            ("nobody", None),
            ("", None),
        ] {
            assert_eq!(SandboxUser::parse(name), user, "{name:?}");
        }
        assert_eq!(SandboxUser::of_record("root"), SandboxUser::Root);
        assert_eq!(SandboxUser::of_record(""), SandboxUser::Daytona);
        assert_eq!(
            (SandboxUser::Root.inside_id(), SandboxUser::Root.home()),
            (0, "/root")
        );
        assert_eq!(
            (
                SandboxUser::Daytona.inside_id(),
                SandboxUser::Daytona.home()
            ),
            (1000, "/home/daytona")
        );
    }

    #[test]
    fn groups_lose_only_the_sandbox_gid_and_name() {
        let host = "root:x:0:\nusers:x:100:cloudsdk\ncloudsdk:x:1000:\n";
        assert_eq!(
            with_sandbox_user(host, 2, "daytona:x:1000:"),
            "root:x:0:\nusers:x:100:cloudsdk\ndaytona:x:1000:\n"
        );
    }
}
