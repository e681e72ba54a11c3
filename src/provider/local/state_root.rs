//! Where the `local` provider keeps its state when nothing else is said: the state root.

use std::path::PathBuf;

/// The state root: `$RALPH_TOWN_HOME`, else `$XDG_STATE_HOME/ralph-town`, else
/// `~/.local/state/ralph-town`.
pub fn state_root() -> PathBuf {
    state_root_from(|name| std::env::var_os(name), std::env::home_dir())
}

fn state_root_from(
    variable: impl Fn(&str) -> Option<std::ffi::OsString>,
    home: Option<PathBuf>,
) -> PathBuf {
    let variable = |name: &str| {
        variable(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    if let Some(root) = variable("RALPH_TOWN_HOME") {
        return root;
    }
    if let Some(state) = variable("XDG_STATE_HOME") {
        return state.join("ralph-town");
    }
    home.unwrap_or_else(|| PathBuf::from("/"))
        .join(".local/state/ralph-town")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_root_prefers_ralph_town_home_then_xdg_state_then_home() {
        let home = Some(PathBuf::from("/users/ann"));
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.into())
            }
        };
        let both = lookup(&[("RALPH_TOWN_HOME", "/srv/rt"), ("XDG_STATE_HOME", "/state")]);
        assert_eq!(
            state_root_from(both, home.clone()),
            PathBuf::from("/srv/rt")
        );
        let xdg = lookup(&[("RALPH_TOWN_HOME", ""), ("XDG_STATE_HOME", "/state")]);
        assert_eq!(
            state_root_from(xdg, home.clone()),
            PathBuf::from("/state/ralph-town")
        );
        assert_eq!(
            state_root_from(lookup(&[]), home),
            PathBuf::from("/users/ann/.local/state/ralph-town")
        );
    }
}
