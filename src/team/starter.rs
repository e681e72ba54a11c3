//! The starter `team.toml` that `init` writes, one per provider.
//!
//! It must load cleanly as written (a test loads each one), so every value in it is valid and
//! every variable it uses has a default.

use crate::vocabulary::ProviderKind;

const HEADER: &str = r#"#:schema ./team.schema.json
# A ralph-town team: one sandbox per teammate, each with its own clone on its own branch.
# `ralph-town schema > team.schema.json` writes the schema named on the first line (editor
# completion); `ralph-town validate` checks this file; `ralph-town up` creates the team.
# String values interpolate ${VAR}, ${VAR:-default} and ${VAR:?message}; `$$` is a `$`.
"#;

const LOCAL: &str = r#"
name = "my-team"
provider = "local"                  # sandboxes are directories on this machine

[defaults]                          # every teammate inherits these, key by key
repo = "."                          # this repository (relative to this file), or a clone URL
# base_branch = "main"              # new branches fork from here (default: the remote's HEAD)
env = ["LOG_LEVEL=info"]            # plain configuration: NAME=value, or NAME to copy the host's
# secrets = ["GH_TOKEN"]            # credentials: read from the host at `up`, never in plans
git = { user_name = "Ralph Bot", user_email = "ralph@example.com" }
"#;

const DAYTONA: &str = r#"
name = "my-team-${PR_NUMBER:-local}"  # one team per pull request in CI
provider = "daytona"                # needs DAYTONA_API_KEY in the environment

[defaults]                          # every teammate inherits these, key by key
repo = "https://github.com/acme/app.git"  # replace with your repository's clone URL
base_branch = "main"                # new branches fork from here
env = ["LOG_LEVEL=info"]            # plain configuration: visible in Daytona's API
secrets = ["GH_TOKEN"]              # credentials: read from the host at `up`, never in the API
git = { user_name = "Ralph Bot", user_email = "ralph@example.com" }
auto_stop = "30m"                   # stop after 30 idle minutes ("0" = never)
ttl = "8h"                          # destroyed 8 hours after creation, even if `down` never runs
"#;

const TEAMMATES: &str = r#"
[[teammate]]
name = "alice"
branch = "ralph/alice"

[[teammate]]
name = "bob"
branch = "ralph/bob"
# env = ["FEATURE_FLAG=signup"]     # merged with the defaults by name
"#;

/// A starter team file for `provider`.
pub fn starter(provider: ProviderKind) -> String {
    let body = match provider {
        ProviderKind::Local => LOCAL,
        ProviderKind::Daytona => DAYTONA,
    };
    [HEADER, body, TEAMMATES].concat()
}
