//! The team file as written: the serde model of `team.toml`, with the byte span of every value.
//!
//! These types are the single description of the file format: the loader deserializes into
//! them and `schemas/team.schema.json` is generated from them (doc comments become the schema's
//! descriptions). They hold raw text only: no interpolation, no defaults, no validation; that
//! is the job of `resolve`. Keep the key lists in `keys` in step with these fields (a unit test
//! compares them with the schema).

use std::borrow::Cow;
use std::ops::Range;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use toml::Spanned;

use crate::vocabulary::ProviderKind;

/// A value with the byte range it occupies in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub(crate) struct Located<T>(pub Spanned<T>);

impl<T> Located<T> {
    pub(crate) fn value(&self) -> &T {
        self.0.get_ref()
    }

    pub(crate) fn span(&self) -> Range<usize> {
        self.0.span()
    }
}

// The span is invisible in the file, so the schema is the inner value's.
impl<T: JsonSchema> JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

type Text = Option<Located<String>>;
type Entries = Option<Located<Vec<Located<String>>>>;
type Minutes = Option<Located<DurationText>>;

/// A ralph-town team: one sandbox per teammate, each on its own branch.
///
/// Every string value may use `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`,
/// `${VAR?message}` and `$VAR` from the host environment (docker compose rules); `$$` is a
/// literal `$`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "ralph-town team file")]
pub(crate) struct TeamFile {
    /// The team name, the ownership label of every sandbox: lowercase letters, digits and `-`,
    /// starting with a letter or digit, at most 63 characters.
    #[schemars(required)]
    pub name: Text,
    /// Where sandboxes come from: `local` (the default: directories on this machine) or
    /// `daytona`. Interpolated like every string, e.g. `"${RALPH_TOWN_PROVIDER:-local}"`.
    #[schemars(with = "Option<ProviderKind>")]
    pub provider: Text,
    /// Daytona only: the API base URL (default `https://app.daytona.io/api`;
    /// `DAYTONA_API_URL` overrides it). Credentials never go in this file.
    pub api_url: Text,
    /// Daytona only: the target region (`DAYTONA_TARGET` overrides it).
    pub target: Text,
    /// A setup template (`*.sh.j2`) replacing the built-in one, relative to this file.
    pub setup: Text,
    /// Settings every teammate inherits; a teammate overrides them key by key (`env` and
    /// `secrets` are merged by variable name).
    pub defaults: Option<Located<Defaults>>,
    /// A teammate: one sandbox with its own clone of the repository on its own branch.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub teammate: Vec<Located<Teammate>>,
}

/// Declares the settings a teammate shares with `[defaults]`, so that the two tables cannot
/// drift apart, and a borrowed view of them for the merge.
macro_rules! with_settings {
    ($(#[$meta:meta])* pub(crate) struct $name:ident { $($own:tt)* }) => {
        $(#[$meta])*
        pub(crate) struct $name {
            $($own)*
            /// The repository: a clone URL (`https://`, `http://`, `ssh://`, `git://`,
            /// `file://`, `git@host:path`) or a local path, relative to this file, that exists.
            pub repo: Text,
            /// New branches fork from this branch (default: the remote's HEAD).
            pub base_branch: Text,
            /// The sandbox snapshot (image) name; default: the provider's.
            pub snapshot: Text,
            /// Plain configuration environment, sent to the provider and visible in its API:
            /// `NAME=value`, or `NAME` to copy the host's value at load time. Only the value is
            /// interpolated. Credentials belong in `secrets`.
            pub env: Entries,
            /// Credentials, read from the host at `up` and given only to the setup process:
            /// `NAME` (host variable of the same name) or `NAME=HOST_VAR`. Not interpolated.
            pub secrets: Entries,
            /// The git author identity in the sandbox.
            pub git: Option<Located<GitIdentity>>,
            /// Stop the sandbox after this much idle time (`"30m"`, `"4h"`, `"1d"`, or minutes);
            /// `"0"` or `"never"`: never.
            pub auto_stop: Minutes,
            /// Archive a stopped sandbox after this long; `"0"` or `"never"`: as late as the
            /// provider allows (Daytona: 30 days).
            pub auto_archive: Minutes,
            /// Delete a stopped sandbox after this long; `"0"` or `"never"`: never;
            /// `"immediately"`: as soon as it stops.
            pub auto_delete: Minutes,
            /// Destroy the sandbox this long after creation, whatever its state: a safety net
            /// for CI. `"0"` or `"never"`: no limit.
            pub ttl: Minutes,
            /// Compute resources of the sandbox.
            pub resources: Option<Located<Resources>>,
            /// Where the repository is cloned: a directory inside the sandbox home (`app`,
            /// `~/app`), or an absolute path outside `/home/daytona` other than `/`; default:
            /// the repository's own name (`app` for `.../app.git`).
            pub workdir: Text,
            /// The teammate's command: shell text run by bash in its workdir once setup has
            /// succeeded, with its `env` and `secrets` and `RALPH_TOWN_TEAMMATE`,
            /// `RALPH_TOWN_TASK_FILE` and `RALPH_TOWN_RUN` (1, 2, ...). Not interpolated: `$`
            /// is the shell's.
            pub command: Text,
            /// When the command runs again: `no` (the default), `on-failure` (after a non-zero
            /// exit) or `always` (a loop of runs), at most `max_runs` runs in all.
            #[schemars(with = "Option<RestartPolicy>")]
            pub restart: Text,
            /// The most runs of a restarting command (default 10; `restart = "no"` runs once).
            #[schemars(range(min = 1))]
            pub max_runs: Option<Located<i64>>,
            /// Run the command inside tmux, so that `ralph-town attach` shows its live terminal.
            pub tty: Option<Located<bool>>,
        }

        impl $name {
            pub(crate) fn settings(&self) -> Settings<'_> {
                Settings {
                    repo: self.repo.as_ref(),
                    base_branch: self.base_branch.as_ref(),
                    snapshot: self.snapshot.as_ref(),
                    env: self.env.as_ref(),
                    secrets: self.secrets.as_ref(),
                    git: self.git.as_ref(),
                    auto_stop: self.auto_stop.as_ref(),
                    auto_archive: self.auto_archive.as_ref(),
                    auto_delete: self.auto_delete.as_ref(),
                    ttl: self.ttl.as_ref(),
                    resources: self.resources.as_ref(),
                    workdir: self.workdir.as_ref(),
                    command: self.command.as_ref(),
                    restart: self.restart.as_ref(),
                    max_runs: self.max_runs.as_ref(),
                    tty: self.tty.as_ref(),
                }
            }
        }
    };
}

with_settings! {
    /// Settings every teammate inherits unless it sets the key itself.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct Defaults {}
}

with_settings! {
    /// One teammate. `name` and `branch` are required; `repo` is required here or in
    /// `[defaults]`.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct Teammate {
        /// The teammate name: lowercase letters, digits and `-`, starting with a letter or
        /// digit, at most 63 characters; unique in the team.
        #[schemars(required)]
        pub name: Text,
        /// The teammate's own branch (a valid git branch name of at most 200 bytes), created
        /// from `base_branch` when the remote does not have it.
        #[schemars(required)]
        pub branch: Text,
        /// A setup template (`*.sh.j2`) for this teammate only, relative to this file.
        pub setup: Text,
        /// The teammate's task, written into its sandbox for its `command`
        /// (`RALPH_TOWN_TASK_FILE`). Not interpolated. Excludes `task_file`.
        pub task: Text,
        /// A file holding the teammate's task, relative to this file. Excludes `task`.
        pub task_file: Text,
    }
}

/// The settings shared by `[defaults]` and `[[teammate]]`, borrowed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Settings<'a> {
    pub repo: Option<&'a Located<String>>,
    pub base_branch: Option<&'a Located<String>>,
    pub snapshot: Option<&'a Located<String>>,
    pub env: Option<&'a Located<Vec<Located<String>>>>,
    pub secrets: Option<&'a Located<Vec<Located<String>>>>,
    pub git: Option<&'a Located<GitIdentity>>,
    pub auto_stop: Option<&'a Located<DurationText>>,
    pub auto_archive: Option<&'a Located<DurationText>>,
    pub auto_delete: Option<&'a Located<DurationText>>,
    pub ttl: Option<&'a Located<DurationText>>,
    pub resources: Option<&'a Located<Resources>>,
    pub workdir: Option<&'a Located<String>>,
    pub command: Option<&'a Located<String>>,
    pub restart: Option<&'a Located<String>>,
    pub max_runs: Option<&'a Located<i64>>,
    pub tty: Option<&'a Located<bool>>,
}

/// When a teammate's command runs again (the schema of `restart`).
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
pub(crate) enum RestartPolicy {
    /// Run once.
    No,
    /// Run again after a non-zero exit.
    OnFailure,
    /// Run again after every exit: a loop of runs.
    Always,
}

/// The git author identity configured in the sandbox.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GitIdentity {
    /// `user.name` (default `ralph-town`).
    pub user_name: Text,
    /// `user.email` (default `ralph-town@localhost`).
    pub user_email: Text,
}

/// Compute resources; the provider's defaults apply to what is left out.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Resources {
    /// vCPUs.
    #[schemars(range(min = 1))]
    pub cpu: Option<Located<u32>>,
    /// Memory in GiB.
    #[schemars(range(min = 1))]
    pub memory: Option<Located<u32>>,
    /// Disk in GiB.
    #[schemars(range(min = 1))]
    pub disk: Option<Located<u32>>,
}

/// A duration as written: text such as `"30m"` (interpolated like every string) or a whole
/// number of minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DurationText {
    Text(String),
    Minutes(i64),
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = DurationText;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter
                    .write_str("a duration like \"30m\", \"4h\", \"1d\", or a number of minutes")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DurationText, E> {
                Ok(DurationText::Text(text.to_string()))
            }

            fn visit_i64<E: serde::de::Error>(self, minutes: i64) -> Result<DurationText, E> {
                Ok(DurationText::Minutes(minutes))
            }

            fn visit_u64<E: serde::de::Error>(self, minutes: u64) -> Result<DurationText, E> {
                i64::try_from(minutes)
                    .map(DurationText::Minutes)
                    .map_err(|_| E::custom("the number of minutes is too large"))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for DurationText {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: whole minutes, or text made of numbers with a unit \
                            (`m` minutes, `h` hours, `d` days, `w` weeks) such as \"30m\", \
                            \"1h30m\", \"4h\", \"1d\"; \"0\" or \"never\": never \
                            (`auto_archive`: as late as the provider allows); \
                            \"immediately\" (`auto_delete` only): as soon as it stops.",
            "anyOf": [
                { "type": "string" },
                { "type": "integer", "minimum": 0 }
            ]
        })
    }
}
