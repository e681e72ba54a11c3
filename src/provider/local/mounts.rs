//! What a bubblewrap sandbox sees, as an ordered list of mounts: the host read-only, the
//! sandbox's own home (at `/home/daytona`, and at `/root` too for a root sandbox) and `/tmp`, the read-only paths, and the hides (the state root with every
//! sandbox's home, the host's home directories).
//!
//! The order is the whole point: a mount covers everything mounted before it at or below its
//! path, so mounts go from the shallowest path to the deepest, and at one path a hide goes after
//! the bind it must cover. A read-only path inside a hidden host home is shown (it was asked
//! for), but the state root is hidden wherever it appears, even inside a read-only path that
//! contains it, and so is a host home inside one. This file is pure: it touches no file and
//! knows nothing of bubblewrap's flags.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::paths::{SANDBOX_HOME, under};

/// Where a root sandbox's home is bound besides [`SANDBOX_HOME`].
const ROOT_HOME: &str = "/root";

/// Where a bind's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The sandbox's home directory.
    Home,
    /// The sandbox's own `/tmp`.
    Tmp,
    /// A host path (a read-only path, by its real location).
    Host(PathBuf),
    /// A volume's directory under the state root, shared read-write by the sandboxes that
    /// mount it.
    Volume(PathBuf),
    /// A directory of an image layer under the state root (the image's `/root`).
    Layer(PathBuf),
    /// A file made for sandboxes under the state root (the user database naming `daytona`),
    /// bound read-only over the host's.
    Identity(PathBuf),
    /// A path of the command's own mount namespace as it is when bubblewrap starts (a layer's
    /// overlay): bound as it is, never staged.
    Namespace(PathBuf),
}

/// One mount, in the order they are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mount {
    /// The host's file system, read-only, at `/`.
    HostRoot,
    /// An empty tmpfs replacing a directory of the read-only host (`/home`, so that
    /// `/home/daytona` can exist).
    Replaced(PathBuf),
    /// `source` at `target`, read-write or read-only.
    Bind {
        source: Source,
        target: PathBuf,
        writable: bool,
    },
    /// An empty tmpfs over `path`, hiding what `within` shows there.
    Hide { path: PathBuf, within: Within },
}

/// What a hide covers: the host's file system, or a read-only path that contains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Within {
    Host,
    ReadOnly(ReadOnlyPath),
}

/// A host path every sandbox sees read-only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ReadOnlyPath {
    /// Where it appears inside the sandbox: the path as it was given, absolute and normalized.
    pub shown_at: PathBuf,
    /// Where it really is (symlinks resolved): what the hides are compared with.
    pub real: PathBuf,
}

/// The host paths a sandbox's view is made of. Every path is absolute; `state_root` and
/// `host_homes` have their symlinks resolved.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    /// Every sandbox's directory (homes, secrets): never visible.
    pub state_root: PathBuf,
    /// Home directories of the host (root's, the invoking user's): hidden, except the
    /// read-only paths inside them.
    pub host_homes: Vec<PathBuf>,
    pub read_only: Vec<ReadOnlyPath>,
    /// The sandbox is `root`: its home is bound at `/root` too (over the hidden host home; a
    /// read-only path below it still shows).
    pub home_at_root: bool,
}

/// What a mount at one path does, in the order mounts at the same path are made: the later
/// one wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Host,
    /// `/home`: replaced by a tmpfs, because `/` is read-only and `/home/daytona` must exist.
    Replaced,
    ReadOnly,
    /// Hides a host home; skipped where nothing of the host shows anyway.
    HostHome,
    Own,
    /// Hides the state root; skipped where nothing of the host shows anyway.
    StateRoot,
}

/// The mounts of a sandbox, in order.
pub(crate) fn plan(layout: &Layout) -> Vec<Mount> {
    let state_root = layout.state_root.as_path();
    let mut entries = vec![
        (PathBuf::from("/"), Role::Host),
        (PathBuf::from("/home"), Role::Replaced),
        (PathBuf::from(SANDBOX_HOME), Role::Own),
        (PathBuf::from("/tmp"), Role::Own),
    ];
    if layout.home_at_root {
        entries.push((PathBuf::from(ROOT_HOME), Role::Own));
    }
    let read_only: BTreeSet<&ReadOnlyPath> = layout
        .read_only
        .iter()
        // Nothing inside the state root is ever shown: it holds other sandboxes' secrets.
        .filter(|path| !path.real.starts_with(state_root))
        .collect();
    let hidden = layout
        .host_homes
        .iter()
        .map(|home| (home.as_path(), Role::HostHome))
        .chain([(state_root, Role::StateRoot)]);
    for (path, role) in hidden {
        entries.push((path.to_path_buf(), role));
        // A read-only path that contains a hidden path shows it again at its own location:
        // hide it there too.
        for shown in &read_only {
            if let Ok(below) = path.strip_prefix(&shown.real) {
                entries.push((under(&shown.shown_at, below), role));
            }
        }
    }
    entries.extend(
        read_only
            .iter()
            .map(|path| (path.shown_at.clone(), Role::ReadOnly)),
    );
    // Shallow paths first; at one path, by role. Paths of one depth do not overlap, so their
    // order only keeps the plan deterministic.
    entries.sort_by(|(left, left_role), (right, right_role)| {
        (left.components().count(), left_role, left).cmp(&(
            right.components().count(),
            right_role,
            right,
        ))
    });
    entries.dedup();

    let mut placed: Vec<(PathBuf, Role)> = Vec::new();
    let mut mounts = Vec::new();
    for (path, role) in entries {
        let mount = match role {
            Role::HostHome | Role::StateRoot => {
                // The deepest mount at or above it (the last placed, as they go shallow to
                // deep) says what shows there; a hide is needed only where the host shows.
                let covering = placed
                    .iter()
                    .rev()
                    .find(|(target, _)| path.starts_with(target));
                let within = match covering {
                    Some((_, Role::Host)) => Within::Host,
                    Some((target, Role::ReadOnly)) => {
                        Within::ReadOnly(read_only_at(&read_only, target))
                    }
                    _ => continue,
                };
                Mount::Hide {
                    path: path.clone(),
                    within,
                }
            }
            Role::Host => Mount::HostRoot,
            Role::Replaced => Mount::Replaced(path.clone()),
            Role::ReadOnly => Mount::Bind {
                source: Source::Host(read_only_at(&read_only, &path).real),
                target: path.clone(),
                writable: false,
            },
            Role::Own => Mount::Bind {
                source: if path == Path::new("/tmp") {
                    Source::Tmp
                } else {
                    Source::Home
                },
                target: path.clone(),
                writable: true,
            },
        };
        mounts.push(mount);
        placed.push((path, role));
    }
    mounts
}

/// The read-only path shown at `shown_at` (one of `read_only`).
fn read_only_at(read_only: &BTreeSet<&ReadOnlyPath>, shown_at: &Path) -> ReadOnlyPath {
    read_only
        .iter()
        .find(|path| path.shown_at == shown_at)
        .map_or_else(
            || ReadOnlyPath {
                shown_at: shown_at.to_path_buf(),
                real: shown_at.to_path_buf(),
            },
            |path| (*path).clone(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(state_root: &str, host_homes: &[&str], read_only: &[(&str, &str)]) -> Layout {
        Layout {
            state_root: state_root.into(),
            host_homes: host_homes.iter().map(PathBuf::from).collect(),
            read_only: read_only
                .iter()
                .map(|(shown_at, real)| ReadOnlyPath {
                    shown_at: shown_at.into(),
                    real: real.into(),
                })
                .collect(),
            home_at_root: false,
        }
    }

    /// The plan as one line per mount, in bubblewrap's words.
    fn render(mounts: &[Mount]) -> String {
        let mut lines = Vec::new();
        for mount in mounts {
            lines.push(match mount {
                Mount::HostRoot => "ro-bind / /".to_string(),
                Mount::Replaced(path) => format!("tmpfs {}", path.display()),
                Mount::Hide {
                    path,
                    within: Within::Host,
                } => format!("hide {}", path.display()),
                Mount::Hide {
                    path,
                    within: Within::ReadOnly(shown),
                } => format!("hide {} in {}", path.display(), shown.shown_at.display()),
                Mount::Bind {
                    source,
                    target,
                    writable,
                } => format!(
                    "{} {} {}",
                    if *writable { "bind" } else { "ro-bind" },
                    match source {
                        Source::Home => "<home>".to_string(),
                        Source::Tmp => "<tmp>".to_string(),
                        Source::Host(path)
                        | Source::Volume(path)
                        | Source::Layer(path)
                        | Source::Identity(path)
                        | Source::Namespace(path) => path.display().to_string(),
                    },
                    target.display()
                ),
            });
        }
        lines.join("\n")
    }

    #[track_caller]
    fn case(layout: Layout, expected: &str) {
        assert_eq!(render(&plan(&layout)), expected.trim());
    }

    #[test]
    fn hides_are_skipped_where_the_host_does_not_show() {
        // The state root and a home under `/home` or `/tmp` are covered already; `/root` is not.
        case(
            layout("/tmp/x/state", &["/root", "/home/ann"], &[]),
            "
ro-bind / /
tmpfs /home
hide /root
bind <tmp> /tmp
bind <home> /home/daytona",
        );
        case(
            layout("/srv/rt", &["/root"], &[]),
            "
ro-bind / /
tmpfs /home
hide /root
bind <tmp> /tmp
bind <home> /home/daytona
hide /srv/rt",
        );
    }

    #[test]
    fn a_root_sandbox_sees_its_home_over_the_hidden_root_home_and_read_only_paths_over_it() {
        // As root without `RALPH_TOWN_HOME` the state root is under `/root`: the home bound
        // there covers it, and it stays hidden inside a read-only path below.
        case(
            Layout {
                home_at_root: true,
                ..layout(
                    "/root/.local/state/rt",
                    &["/root"],
                    &[("/root/.local", "/root/.local")],
                )
            },
            "
ro-bind / /
tmpfs /home
hide /root
bind <home> /root
bind <tmp> /tmp
ro-bind /root/.local /root/.local
bind <home> /home/daytona
hide /root/.local/state/rt in /root/.local",
        );
    }

    #[test]
    fn state_root_inside_a_read_only_path_is_hidden_after_the_bind() {
        // `repo = "."` with the state root inside the repository, under `/tmp` and elsewhere.
        case(
            layout(
                "/tmp/w/state",
                &["/root"],
                &[("/tmp/w", "/tmp/w"), ("/srv/repo", "/srv/repo")],
            ),
            "
ro-bind / /
tmpfs /home
hide /root
bind <tmp> /tmp
ro-bind /srv/repo /srv/repo
ro-bind /tmp/w /tmp/w
bind <home> /home/daytona
hide /tmp/w/state in /tmp/w",
        );
        // Elsewhere, and inside a hidden host home: the read-only path shows, the state root
        // inside it does not.
        for repository in ["/srv/repo", "/root/app"] {
            let state_root = format!("{repository}/.rt");
            case(
                layout(&state_root, &["/root"], &[(repository, repository)]),
                &format!(
                    "
ro-bind / /
tmpfs /home
hide /root
bind <tmp> /tmp
ro-bind {repository} {repository}
bind <home> /home/daytona
hide {state_root} in {repository}"
                ),
            );
        }
    }

    #[test]
    fn read_only_path_equal_to_or_above_a_hidden_path_does_not_show_it() {
        // The home itself, `/` and the whole state root (or a path inside it) as read-only paths.
        case(
            layout(
                "/srv/rt",
                &["/root"],
                &[
                    ("/root", "/root"),
                    ("/", "/"),
                    ("/srv/rt", "/srv/rt"),
                    ("/srv/rt/sandboxes/a/home", "/srv/rt/sandboxes/a/home"),
                ],
            ),
            "
ro-bind / /
ro-bind / /
tmpfs /home
ro-bind /root /root
hide /root in /root
bind <tmp> /tmp
bind <home> /home/daytona
hide /srv/rt in /",
        );
    }

    #[test]
    fn a_read_only_path_shown_through_a_symlink_hides_at_the_shown_location() {
        // `/srv/current` links to `/data/release`, which contains the state root.
        case(
            layout(
                "/data/release/.rt",
                &[],
                &[("/srv/current", "/data/release")],
            ),
            "
ro-bind / /
tmpfs /home
bind <tmp> /tmp
ro-bind /data/release /srv/current
bind <home> /home/daytona
hide /data/release/.rt
hide /srv/current/.rt in /srv/current",
        );
    }
}
