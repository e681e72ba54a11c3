//! How the toolbox runs `git` in a sandbox: the command line (every value shell-quoted), the
//! credential channel, and the mapping of git's complaints onto the daemon's error codes.
//!
//! Credentials never reach a command line, a URL or a log: a username and password travel in
//! the environment of the one `git` process, and an inline credential helper (shell code naming
//! the variables, never their values) hands them to git when a remote asks. Error messages are
//! scrubbed of both values before they leave, in case a remote echoes them back.

use std::collections::BTreeMap;

use axum::http::StatusCode;

use super::error::DaemonError;
use super::state::AppState;
use super::toolbox::{ready, run_script};
pub(crate) use super::toolbox_files::{quote, quote_path};
use crate::provider;

/// Environment names the credential helper reads.
pub(crate) const GIT_USERNAME: &str = "RALPH_TOWN_GIT_USERNAME";
pub(crate) const GIT_PASSWORD: &str = "RALPH_TOWN_GIT_PASSWORD";

/// Refuses a ref, remote or branch name that git would read as an option.
pub(crate) fn not_an_option<'a>(what: &str, value: &'a str) -> Result<&'a str, DaemonError> {
    if value.is_empty() || value.starts_with('-') {
        return Err(DaemonError::bad_request(format!(
            "`{value}` is not a valid {what}"
        )));
    }
    Ok(value)
}

/// Basic auth for a remote: used only when both halves are set, as the daemon does.
#[derive(Clone, Default)]
pub(crate) struct Credentials {
    username: Option<String>,
    password: Option<String>,
}

impl Credentials {
    pub(crate) fn new(username: Option<&str>, password: Option<&str>) -> Credentials {
        match (username, password) {
            (Some(username), Some(password)) => Credentials {
                username: Some(username.to_string()),
                password: Some(password.to_string()),
            },
            _ => Credentials::default(),
        }
    }

    /// `git` options that replace any configured helper with one reading the environment.
    fn options(&self) -> Result<String, DaemonError> {
        if self.password.is_none() {
            return Ok(String::new());
        }
        let helper = format!(
            "!f() {{ test \"$1\" = get || return 0; printf 'username=%s\\npassword=%s\\n' \"${GIT_USERNAME}\" \"${GIT_PASSWORD}\"; }}; f"
        );
        Ok(format!(
            " -c credential.helper= -c {}",
            quote(&format!("credential.helper={helper}"))?
        ))
    }

    fn environment(&self, env: &mut BTreeMap<String, String>) {
        if let (Some(username), Some(password)) = (&self.username, &self.password) {
            env.insert(GIT_USERNAME.to_string(), username.clone());
            env.insert(GIT_PASSWORD.to_string(), password.clone());
        }
    }

    /// `text` without either value.
    fn scrub(&self, text: &str) -> String {
        let mut text = text.to_string();
        for value in [&self.password, &self.username].into_iter().flatten() {
            if !value.is_empty() {
                text = text.replace(value.as_str(), "***");
            }
        }
        text
    }
}

/// One `git` invocation: `git [-C repo] <options> <arguments>`, arguments already quoted.
pub(crate) struct GitCommand {
    /// What the error message calls the operation (`git push`).
    pub(crate) operation: &'static str,
    /// The repository, checked to exist first (go-git's `PlainOpen`: no search upwards).
    pub(crate) repository: Option<String>,
    /// Shell code run first, in the repository's context (`$repo`), e.g. to resolve a ref.
    pub(crate) prelude: String,
    pub(crate) options: String,
    pub(crate) arguments: String,
    pub(crate) credentials: Credentials,
    /// Whether git asks the inline helper for `credentials`; without it the credentials only
    /// travel in the environment (a script that hands them to git itself) and are scrubbed.
    inline_helper: bool,
    pub(crate) env: BTreeMap<String, String>,
}

impl GitCommand {
    pub(crate) fn new(operation: &'static str, arguments: String) -> GitCommand {
        GitCommand {
            operation,
            repository: None,
            prelude: String::new(),
            options: String::new(),
            arguments,
            credentials: Credentials::default(),
            inline_helper: true,
            env: BTreeMap::new(),
        }
    }

    pub(crate) fn in_repository(mut self, path: &str) -> Result<GitCommand, DaemonError> {
        if path.trim().is_empty() {
            return Err(DaemonError::bad_request("path is required"));
        }
        self.repository = Some(quote_path(path)?);
        Ok(self)
    }

    pub(crate) fn with_credentials(mut self, credentials: Credentials) -> GitCommand {
        self.credentials = credentials;
        self
    }

    /// `credentials` in the environment only (`$RALPH_TOWN_GIT_USERNAME`,
    /// `$RALPH_TOWN_GIT_PASSWORD`), for a prelude that hands them to git on its own terms.
    pub(crate) fn with_credentials_in_environment(
        mut self,
        credentials: Credentials,
    ) -> GitCommand {
        self.credentials = credentials;
        self.inline_helper = false;
        self
    }

    /// The shell command and its environment. Only the environment holds credentials.
    pub(crate) fn script(&self) -> Result<(String, BTreeMap<String, String>), DaemonError> {
        let mut env = self.env.clone();
        env.insert("GIT_TERMINAL_PROMPT".to_string(), "0".to_string());
        self.credentials.environment(&mut env);
        let credentials = if self.inline_helper {
            self.credentials.options()?
        } else {
            String::new()
        };
        let command = match &self.repository {
            Some(repository) => format!(
                "repo={repository}; {{ [ -e \"$repo/.git\" ] || [ -f \"$repo/HEAD\" ]; }} || \
                 {{ echo \"fatal: not a git repository: $repo\"; exit 128; }}; {}\
                 git -C \"$repo\"{credentials}{} {}",
                self.prelude, self.options, self.arguments
            ),
            None => format!(
                "{}git{credentials}{} {}",
                self.prelude, self.options, self.arguments
            ),
        };
        Ok((command, env))
    }

    /// Runs the command in sandbox `id` once it is started.
    pub(crate) async fn run_in(&self, state: &AppState, id: &str) -> Result<String, DaemonError> {
        let sandbox = ready(state, id).await?;
        self.run(state, &sandbox).await
    }

    /// Runs the command; its output on success, the daemon's git error otherwise.
    pub(crate) async fn run(
        &self,
        state: &AppState,
        sandbox: &provider::Sandbox,
    ) -> Result<String, DaemonError> {
        let (command, env) = self.script()?;
        let output = run_script(state, sandbox, command, env).await?;
        if output.exit_code == 0 {
            return Ok(output.output);
        }
        let detail = self.credentials.scrub(output.output.trim());
        Err(classify(self.operation, &detail))
    }
}

/// The daemon's status and code for what git said (the current daemon's domain codes, which
/// the pinned SDK maps to `DaytonaGit*Error`; v0.190's classifier in `git/errors.go` and
/// `cli_errors.go` gave the same statuses with generic codes). Unrecognised failures are 500.
pub(crate) fn classify(operation: &str, output: &str) -> DaemonError {
    let text = output.to_lowercase();
    let has = |needle: &str| text.contains(needle);
    let (status, code, prefix) = if has("authentication failed")
        || has("invalid username or password")
        || has("could not read username")
        || has("could not read password")
        || has("terminal prompts disabled")
    {
        (StatusCode::UNAUTHORIZED, "GIT_AUTH_FAILED", "unauthorized")
    } else if has("the requested url returned error: 403")
        || (has("remote: permission") && has("denied"))
    {
        (StatusCode::FORBIDDEN, "FORBIDDEN", "forbidden")
    } else if has("repository not found")
        || has("the requested url returned error: 404")
        || has("remote: not found")
        || has("does not appear to be a git repository")
        || has("not a git repository")
        // A local path that is not there: `fatal: repository '/x' does not exist`.
        || (has("repository '") && has("' does not exist"))
    {
        (StatusCode::NOT_FOUND, "GIT_REPO_NOT_FOUND", "not found")
    } else if has("could not resolve host")
        || has("failed to connect")
        || has("couldn't connect")
        || has("connection refused")
        || has("connection timed out")
        || has("ssl certificate problem")
    {
        (
            StatusCode::BAD_GATEWAY,
            "GIT_TRANSPORT_FAILED",
            "bad gateway",
        )
    } else if has("[remote rejected]") || has("hook declined") || has("protected branch") {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "GIT_REMOTE_REJECTED",
            "unprocessable entity",
        )
    } else if has("no such remote") {
        // go-git's `ErrRemoteNotFound`.
        (StatusCode::NOT_FOUND, "NOT_FOUND", "not found")
    } else if (operation == "git restore" || operation == "git reset")
        && has("did not match any file(s)")
    {
        // A path, not a branch: go-git's restore and reset name no domain code for it.
        (StatusCode::NOT_FOUND, "NOT_FOUND", "not found")
    } else if (has("src refspec") && has("does not match any"))
        || has("you are not currently on a branch")
        || has("unknown revision")
        || has("invalid reference")
        || has("couldn't find remote ref")
        || has("did not match any file(s) known to git")
        || (has("branch '") && has("' not found"))
        // `git clone --branch` of a branch the remote lacks.
        || (has("remote branch ") && has(" not found in upstream"))
    {
        (StatusCode::NOT_FOUND, "GIT_BRANCH_NOT_FOUND", "not found")
    } else if has("does not have any commits yet") {
        // go-git's `ErrReferenceNotFound` of an empty repository's HEAD.
        (StatusCode::NOT_FOUND, "NOT_FOUND", "not found")
    } else if has("is not a valid branch name")
        || has("invalid initial branch name")
        || has("is not a valid remote name")
        || has("reset with paths")
    {
        (StatusCode::BAD_REQUEST, "BAD_REQUEST", "bad request")
    } else if has("repository already exists") || (has("remote ") && has("already exists")) {
        // go-git's `ErrRepositoryAlreadyExists` and `ErrRemoteExists`.
        (StatusCode::CONFLICT, "CONFLICT", "conflict")
    } else if has("already exists") && has("branch") {
        (StatusCode::CONFLICT, "GIT_BRANCH_EXISTS", "conflict")
    } else if has("conflict (") || has("automatic merge failed") {
        (StatusCode::CONFLICT, "GIT_MERGE_CONFLICT", "conflict")
    } else if has("would be overwritten")
        || has("please commit your changes or stash them")
        || has("needs merge")
    {
        (StatusCode::CONFLICT, "GIT_DIRTY_WORKTREE", "conflict")
    } else if operation == "git push"
        && (has("non-fast-forward")
            || has("fetch first")
            || has("updates were rejected")
            || has("stale info"))
    {
        (StatusCode::CONFLICT, "GIT_PUSH_REJECTED", "conflict")
    } else if has("not possible to fast-forward") || has("diverging branches") {
        // A pull that cannot fast-forward: go-git's `ErrNonFastForwardUpdate`, a plain 409.
        (StatusCode::CONFLICT, "CONFLICT", "conflict")
    } else if has("checked out at") || has("cannot delete branch") {
        (StatusCode::CONFLICT, "CONFLICT", "conflict")
    } else {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "internal server error",
        )
    };
    DaemonError::new(status, format!("{prefix}: {operation} failed: {output}")).with_code(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_travel_only_in_the_environment() {
        let command = GitCommand::new("git push", "push origin".to_string())
            .in_repository("work/repo")
            .unwrap()
            .with_credentials(Credentials::new(
                Some("user"),
                Some("sentinel-password-4711"),
            ));
        let (script, env) = command.script().unwrap();
        assert!(!script.contains("sentinel-password-4711"), "{script}");
        assert!(!script.contains("user\n") && script.contains(GIT_PASSWORD));
        assert_eq!(env[GIT_PASSWORD], "sentinel-password-4711");
        assert!(script.contains("credential.helper="));
        let alone = Credentials::new(Some("user"), None);
        let mut env = BTreeMap::new();
        alone.environment(&mut env);
        assert!(env.is_empty(), "a username alone is no credential");
    }

    #[test]
    fn remote_output_is_scrubbed_of_credentials() {
        let credentials = Credentials::new(Some("ann"), Some("hunter2"));
        assert_eq!(
            credentials.scrub("https://ann:hunter2@example.com: denied"),
            "https://***:***@example.com: denied"
        );
    }

    #[track_caller]
    fn case(operation: &str, output: &str, status: u16, code: &str) {
        let error = classify(operation, output);
        assert_eq!(
            (error.status.as_u16(), error.code()),
            (status, code),
            "{output}"
        );
    }

    #[test]
    fn git_failures_map_to_the_daemon_codes() {
        case(
            "git status",
            "fatal: not a git repository: x",
            404,
            "GIT_REPO_NOT_FOUND",
        );
        case(
            "git clone",
            "fatal: Remote branch nope not found in upstream origin",
            404,
            "GIT_BRANCH_NOT_FOUND",
        );
        case(
            "git clone",
            "fatal: repository '/tmp/missing' does not exist",
            404,
            "GIT_REPO_NOT_FOUND",
        );
        case(
            "git push",
            "fatal: could not read Username for 'http://h': terminal prompts disabled",
            401,
            "GIT_AUTH_FAILED",
        );
        case(
            "git push",
            " ! [rejected]  main -> main (fetch first)\nerror: failed to push some refs",
            409,
            "GIT_PUSH_REJECTED",
        );
        case(
            "git branch",
            "fatal: a branch named 'x' already exists",
            409,
            "GIT_BRANCH_EXISTS",
        );
        case(
            "git branch",
            "error: branch 'x' not found.",
            404,
            "GIT_BRANCH_NOT_FOUND",
        );
        case(
            "git checkout",
            "error: Your local changes to the following files would be overwritten by checkout",
            409,
            "GIT_DIRTY_WORKTREE",
        );
        case(
            "git pull",
            "fatal: unable to access 'http://x/': Could not resolve host: x",
            502,
            "GIT_TRANSPORT_FAILED",
        );
        case(
            "git push",
            " ! [remote rejected] main -> main (pre-receive hook declined)",
            422,
            "GIT_REMOTE_REJECTED",
        );
        case(
            "git remote",
            "error: remote origin already exists.",
            409,
            "CONFLICT",
        );
        case("git remote", "error: No such remote: 'x'", 404, "NOT_FOUND");
        case(
            "git restore",
            "error: pathspec 'x' did not match any file(s) known to git",
            404,
            "NOT_FOUND",
        );
        case(
            "git init",
            "fatal: invalid initial branch name: 'a..b'",
            400,
            "BAD_REQUEST",
        );
        case("git commit", "something odd", 500, "INTERNAL_SERVER_ERROR");
    }
}
