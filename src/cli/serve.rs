//! `ralph-town serve`: resolves who may use the server (the API key and where it came from,
//! or the insecure flag), refuses what would expose the sandboxes, then serves the local
//! provider until SIGINT or SIGTERM.
//!
//! Sandboxes share the host's network, so the key is what keeps one sandbox (or anyone who
//! reaches the port) out of the others. The key is never printed, logged or put in an error:
//! the start message names the key's file or variable and shows how to use it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::ServeArgs;
use super::local_provider;
use crate::error::{Error, Result, exit};
use crate::provider::local::Isolation;
use crate::secret::Secret;
use crate::serve::{ServeError, ServeOptions, api_key};

/// The variable a key may come from.
pub(crate) const KEY_VARIABLE: &str = "RALPH_TOWN_SERVE_API_KEY";

/// Where the key in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeySource {
    /// `--api-key-file PATH`.
    File(PathBuf),
    /// [`KEY_VARIABLE`].
    Variable,
    /// `--api-key KEY`, visible in `ps`.
    Argument,
    /// The key file `serve` keeps under the state root.
    Kept(PathBuf, api_key::Kept),
}

impl KeySource {
    /// How errors name the source.
    fn name(&self) -> String {
        match self {
            KeySource::File(path) | KeySource::Kept(path, _) => format!("`{}`", path.display()),
            KeySource::Variable => format!("`{KEY_VARIABLE}`"),
            KeySource::Argument => "`--api-key`".to_string(),
        }
    }
}

/// The key the user configured, first found of `--api-key-file`, [`KEY_VARIABLE`] and
/// `--api-key`, with warnings about how it was given.
fn configured_key(
    args: &ServeArgs,
    variable: Option<std::ffi::OsString>,
    warnings: &mut Vec<String>,
) -> Result<Option<(Secret, KeySource)>, ServeError> {
    let invalid = |source: KeySource| {
        move |problem| ServeError::InvalidApiKey {
            source_name: source.name(),
            problem,
        }
    };
    let found = if let Some(path) = &args.api_key_file {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        Some((api_key::read(&path)?, KeySource::File(path)))
    } else if let Some(value) = variable {
        let key = value
            .to_str()
            .ok_or(api_key::KeyProblem::NotPrintable)
            .and_then(api_key::parse)
            .map_err(invalid(KeySource::Variable))?;
        Some((key, KeySource::Variable))
    } else if let Some(key) = &args.api_key {
        let key = api_key::parse(key.expose()).map_err(invalid(KeySource::Argument))?;
        Some((key, KeySource::Argument))
    } else {
        None
    };
    const ON_ARGV: &str = "a key given with `--api-key` is visible to every user of this machine in `ps` (and stays in shell history); use `--api-key-file PATH` or `RALPH_TOWN_SERVE_API_KEY`";
    match (&found, &args.api_key) {
        (Some((_, KeySource::Argument)), _) => warnings.push(ON_ARGV.to_string()),
        (Some((_, source)), Some(_)) => warnings.push(format!(
            "`--api-key` is ignored: the key from {} comes first",
            source.name()
        )),
        _ => {}
    }
    Ok(found)
}

/// Beyond loopback a key must have been chosen (a key made here would have to be copied to
/// remote clients anyway), unless any token is accepted on purpose; a key and that purpose
/// contradict each other.
fn check_access(
    listen: SocketAddr,
    configured: Option<&KeySource>,
    insecure: bool,
) -> Result<(), ServeError> {
    match (configured, insecure) {
        (Some(source), true) => Err(ServeError::Contradiction {
            source_name: source.name(),
        }),
        (None, false) if !listen.ip().to_canonical().is_loopback() => {
            Err(ServeError::Exposed { address: listen })
        }
        _ => Ok(()),
    }
}

/// Bubblewrap hides the state root (and so the key file) from sandboxes, but a `--read-only`
/// path is shown even inside a hidden one: refuse any that would show a secret.
fn check_read_only(read_only: &[PathBuf], secrets: &[&Path]) -> Result<(), ServeError> {
    for path in read_only {
        let shown = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        for secret in secrets {
            let secret = std::fs::canonicalize(secret).unwrap_or_else(|_| secret.to_path_buf());
            // The state root is a directory: showing part of it shows other sandboxes too.
            let inside = secret.is_dir() && shown.starts_with(&secret);
            if secret.starts_with(&shown) || inside {
                return Err(ServeError::ShowsSecrets {
                    path: path.clone(),
                    hidden: secret,
                });
            }
        }
    }
    Ok(())
}

/// `ralph-town serve`: the local provider behind the Daytona API until SIGINT or SIGTERM.
pub(super) async fn run(args: ServeArgs) -> Result<i32> {
    let serve_error = |error| Error::Serve(Box::new(error));
    let mut warnings = Vec::new();
    let configured = configured_key(&args, std::env::var_os(KEY_VARIABLE), &mut warnings)
        .map_err(serve_error)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let insecure = args.insecure_accept_any_token;
    check_access(
        args.listen,
        configured.as_ref().map(|(_, source)| source),
        insecure,
    )
    .map_err(serve_error)?;
    let read_only: Vec<PathBuf> = args
        .read_only
        .iter()
        .map(|path| std::path::absolute(path).unwrap_or_else(|_| path.clone()))
        .collect();
    let provider = local_provider(read_only.clone())?;
    // Held until this process ends, however it ends.
    let _claim = super::serve_start::claim_state_root(provider.root()).map_err(serve_error)?;
    super::serve_start::tidy_after_a_killed_run(&provider).await?;
    let root = provider.root().to_path_buf();
    let provider = Arc::new(provider);
    let mut secrets = vec![root.as_path()];
    if let Some((_, KeySource::File(path))) = &configured {
        secrets.push(path);
    }
    check_read_only(&read_only, &secrets).map_err(serve_error)?;
    let access = match configured {
        Some((key, source)) => Some((key, source)),
        None if insecure => None,
        None => {
            let (key, path, kept) = api_key::load_or_create(&root).map_err(serve_error)?;
            Some((key, KeySource::Kept(path, kept)))
        }
    };
    let (api_key, source) = access.unzip();
    let options = ServeOptions {
        listen: args.listen,
        api_key,
        insecure_accept_any_token: insecure,
        public_url: args.public_url,
        ssh_gateway: args.ssh_gateway,
        ssh_listen: args.ssh_listen,
        state_dir: Some(root),
        upstream_ca: args.upstream_ca,
        simulation: args
            .simulate
            .map(|simulation| *simulation)
            .unwrap_or_default(),
    };
    let isolated = provider.isolation() == Isolation::Bubblewrap;
    if !provider.enforces_memory() {
        eprintln!(
            "warning: sandboxes' memory is recorded but not enforced: no cgroup memory controller this process may write (root on cgroup v1 or v2, or a systemd-delegated cgroup v2 slice, has one)"
        );
    }
    let server = crate::serve::bind(options, provider)
        .await
        .map_err(serve_error)?;
    // Before the announcement: a client told where the server is may stop it at once.
    let stop = shutdown();
    announce(&server, source.as_ref(), isolated);
    server.run(stop).await.map_err(serve_error)?;
    eprintln!("stopped; the next `serve` on this state root takes its sandboxes over");
    Ok(exit::SUCCESS)
}

/// Says once, on stderr, where the server listens and how clients get the key; never the key.
fn announce(server: &crate::serve::Server, source: Option<&KeySource>, isolated: bool) {
    let api_url = server.api_url();
    eprintln!("Daytona-compatible API at {api_url}");
    if let Some(address) = server.ssh_addr() {
        eprintln!("SSH gateway at {address}");
    }
    if let Some((ca, trusted)) = server.loopback_ca() {
        let trusted = if trusted {
            "trusted by this machine"
        } else {
            "not trusted by this machine"
        };
        eprintln!(
            "HTTPS on the same port, for loopback names, with the CA `{}` ({trusted})",
            ca.display()
        );
    }
    let quote = |path: &Path| {
        let text = path.to_string_lossy();
        shlex::try_quote(&text)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_else(|_| text.into_owned())
    };
    let (said, client_key) = match source {
        None => {
            eprintln!(
                "warning: INSECURE: `--insecure-accept-any-token` turns authentication off: any bearer token is accepted, so anyone who reaches {} (every sandbox on this machine included) can run commands in every sandbox and read its credentials",
                server.local_addr()
            );
            (
                "API key: none, any token is accepted".to_string(),
                "any".to_string(),
            )
        }
        Some(KeySource::Kept(path, kept)) => {
            let how = match kept {
                api_key::Kept::Reused => "kept from an earlier start".to_string(),
                api_key::Kept::Made => "made now, kept for the next start".to_string(),
                api_key::Kept::Replaced(reason) => {
                    format!("made now: the old file was not reused, {reason}")
                }
            };
            let said = format!("API key in `{}` ({how})", path.display());
            (said, format!("\"$(cat {})\"", quote(path)))
        }
        Some(KeySource::File(path)) => (
            format!("API key from `{}`", path.display()),
            format!("\"$(cat {})\"", quote(path)),
        ),
        Some(KeySource::Variable) => (
            format!("API key from `{KEY_VARIABLE}`"),
            format!("\"${KEY_VARIABLE}\""),
        ),
        Some(KeySource::Argument) => (
            "API key from `--api-key`".to_string(),
            "<the key given to --api-key>".to_string(),
        ),
    };
    eprintln!("{said}; clients use:");
    eprintln!("  export DAYTONA_API_URL={api_url} DAYTONA_API_KEY={client_key}");
    if let (Some(source @ (KeySource::Kept(..) | KeySource::File(_))), false) = (source, isolated) {
        eprintln!(
            "warning: without bubblewrap, sandboxes can read {} and so use the API key",
            source.name()
        );
    }
}

/// Completes on the first stop signal (SIGINT, SIGTERM, SIGHUP), listened for from the call on;
/// a second one ends the process at once.
fn shutdown() -> impl std::future::Future<Output = ()> {
    let stopped = super::signals::stopped_then_exit_on_another();
    async move {
        stopped.await;
        eprintln!(
            "shutting down: answering the requests in flight (for up to {} s; interrupt again to stop at once); sandboxes keep running",
            crate::serve::GRACE.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Arguments, Command};

    const SENTINEL_KEY: &str = "dtn_SENTINEL_key_0123456789abcdef";

    fn args(words: &[&str]) -> ServeArgs {
        let words = ["ralph-town", "serve"].iter().chain(words);
        match Arguments::parse_from(words).command {
            Command::Serve(args) => args,
            _ => unreachable!(),
        }
    }

    fn resolve(words: &[&str], variable: Option<&str>) -> (Option<KeySource>, Vec<String>) {
        let mut warnings = Vec::new();
        let found = configured_key(&args(words), variable.map(Into::into), &mut warnings)
            .unwrap()
            .map(|(key, source)| {
                assert_eq!(key.expose(), SENTINEL_KEY);
                source
            });
        (found, warnings)
    }

    #[test]
    fn keys_come_from_the_file_then_the_variable_then_the_argument() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, format!("{SENTINEL_KEY}\n")).unwrap();
        let file_arg = file.to_str().unwrap();
        let from_file = resolve(&["--api-key-file", file_arg], Some(SENTINEL_KEY));
        assert_eq!(from_file, (Some(KeySource::File(file.clone())), vec![]));
        let (source, warnings) = resolve(&["--api-key", SENTINEL_KEY], Some(SENTINEL_KEY));
        assert_eq!(source, Some(KeySource::Variable));
        assert!(
            warnings[0].contains("`--api-key` is ignored"),
            "{warnings:?}"
        );
        let (source, warnings) = resolve(&["--api-key", SENTINEL_KEY], None);
        assert_eq!(source, Some(KeySource::Argument));
        assert!(warnings[0].contains("`ps`"), "{warnings:?}");
        assert_eq!(resolve(&[], None), (None, vec![]));
        for warning in warnings {
            assert!(!warning.contains("SENTINEL"));
        }
    }

    #[test]
    fn a_bad_key_names_its_source_never_its_value() {
        let mut warnings = Vec::new();
        let short = "SENTINEL";
        let error = configured_key(&args(&[]), Some(short.into()), &mut warnings).unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(
            shown.contains(KEY_VARIABLE) && !shown.contains(short),
            "{shown}"
        );
        let missing = configured_key(
            &args(&["--api-key-file", "/nonexistent/key"]),
            None,
            &mut warnings,
        )
        .unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/key"),
            "{missing}"
        );
    }

    #[test]
    fn beyond_loopback_a_chosen_key_or_the_insecure_flag_is_required() {
        let address = |text: &str| text.parse::<SocketAddr>().unwrap();
        let file = KeySource::File("/k".into());
        let cases = [
            ("127.0.0.1:0", None, false, None),
            ("[::1]:0", None, false, None),
            ("[::ffff:127.0.0.1]:0", None, false, None),
            ("0.0.0.0:0", None, false, Some("serve::exposed")),
            ("[::]:0", None, false, Some("serve::exposed")),
            ("192.0.2.1:0", None, false, Some("serve::exposed")),
            ("0.0.0.0:0", Some(&file), false, None),
            ("0.0.0.0:0", None, true, None),
            (
                "127.0.0.1:0",
                Some(&file),
                true,
                Some("serve::contradiction"),
            ),
        ];
        for (listen, source, insecure, refused) in cases {
            let code = check_access(address(listen), source, insecure)
                .err()
                .and_then(|error| miette::Diagnostic::code(&error).map(|code| code.to_string()));
            assert_eq!(code.as_deref(), refused, "{listen} {source:?} {insecure}");
        }
    }

    #[test]
    fn read_only_paths_may_not_show_the_state_root_or_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("state");
        let repo = dir.path().join("repo");
        let key = dir.path().join("keys/key");
        std::fs::create_dir_all(root.join("serve")).unwrap();
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(key.parent().unwrap()).unwrap();
        std::fs::write(&key, SENTINEL_KEY).unwrap();
        let secrets = [root.as_path(), key.as_path()];
        assert!(check_read_only(std::slice::from_ref(&repo), &secrets).is_ok());
        for shown in [dir.path().to_path_buf(), root.join("serve"), key.clone()] {
            let error = check_read_only(std::slice::from_ref(&shown), &secrets).unwrap_err();
            assert!(
                matches!(error, ServeError::ShowsSecrets { .. }),
                "{shown:?}"
            );
        }
    }
}
