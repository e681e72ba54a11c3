//! The starter `team.toml` that `init` writes, one per provider, named after its directory.
//!
//! It must load cleanly as written (a test loads each one), so every value in it is valid and
//! every variable it uses has a default. The team name is the ownership label of every
//! sandbox, so two projects must not share it: it is derived from the directory the file is
//! written in, as docker compose names a project.

use crate::names::label;
use crate::vocabulary::ProviderKind;

/// Where the team name goes in the templates.
const NAME: &str = "@NAME@";
/// Room left in a name for the `-${PR_NUMBER:-local}` suffix of the Daytona starter: a dash and
/// a pull request number of up to twelve digits.
const SUFFIX_ROOM: usize = 13;

const HEADER: &str = r#"#:schema ./team.schema.json
# A ralph-town team: one sandbox per teammate, each with its own clone on its own branch.
# `ralph-town schema > team.schema.json` writes the schema named on the first line (editor
# completion); `ralph-town validate` checks this file; `ralph-town up` creates the team.
# String values interpolate ${VAR}, ${VAR:-default} and ${VAR:?message}; `$$` is a `$`.
"#;

const LOCAL: &str = r#"
name = "@NAME@"
provider = "local"                  # sandboxes are directories on this machine

[defaults]                          # every teammate inherits these, key by key
repo = "."                          # this repository (relative to this file), or a clone URL
# base_branch = "main"              # new branches fork from here (default: the remote's HEAD)
env = ["LOG_LEVEL=info"]            # plain configuration: NAME=value, or NAME to copy the host's
# secrets = ["GH_TOKEN"]            # credentials: read from the host at `up`, never in plans
git = { user_name = "Ralph Bot", user_email = "ralph@example.com" }
"#;

const DAYTONA: &str = r#"
name = "@NAME@-${PR_NUMBER:-local}"  # one team per pull request in CI
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

/// A starter team file for `provider`, for a file in the directory named `directory` (its last
/// path component; anything, the name is made valid).
pub fn starter(provider: ProviderKind, directory: &str) -> String {
    let (body, max) = match provider {
        ProviderKind::Local => (LOCAL, label::MAX_NAME),
        ProviderKind::Daytona => (DAYTONA, label::MAX_NAME - SUFFIX_ROOM),
    };
    let name = label::from_directory(directory, max);
    [HEADER, &body.replace(NAME, &name), TEAMMATES].concat()
}
