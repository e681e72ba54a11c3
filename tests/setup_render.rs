//! Rendering setup scripts: the built-in template, team templates that extend it, and the
//! diagnostics of broken templates. Nothing here runs a script (see `setup_script.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use ralph_town::setup::{self, SetupError};
use ralph_town::team::{GitIdentity, SecretRef, Teammate};

fn teammate() -> Teammate {
    Teammate {
        name: "alice".into(),
        repo: "https://github.com/acme/app.git".into(),
        branch: "feature/login".into(),
        base_branch: Some("main".into()),
        snapshot: None,
        env: BTreeMap::from([("LOG_LEVEL".into(), "debug".into())]),
        env_from_host: Default::default(),
        secrets: vec![secret("ANTHROPIC_API_KEY"), secret("GH_TOKEN")],
        git: GitIdentity {
            user_name: "Ralph Bot".into(),
            user_email: "ralph@example.com".into(),
        },
        lifecycle: Default::default(),
        ttl_minutes: None,
        resources: Default::default(),
        workdir: "app".into(),
        setup: None,
    }
}

fn secret(name: &str) -> SecretRef {
    SecretRef {
        name: name.into(),
        host_var: format!("HOST_{name}"),
    }
}

/// The lines of `text` from the one that starts with `first` (trimmed) up to and including the
/// first one after it that starts with `last`.
fn section(text: &str, first: &str, last: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|line| line.trim_start().starts_with(first))
        .unwrap_or_else(|| panic!("no line starting with {first:?} in:\n{text}"));
    let end = start
        + lines[start..]
            .iter()
            .position(|line| line.trim_start().starts_with(last))
            .unwrap_or_else(|| panic!("no line starting with {last:?} after {first:?}"));
    lines[start..=end].join("\n")
}

fn render_error(teammate: &Teammate) -> (SetupError, String) {
    let error = setup::render(teammate, "squad").unwrap_err();
    let mut report = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut report, &error)
        .unwrap();
    (error, report)
}

#[test]
fn builtin_quotes_every_value_into_shell_variables() {
    let script = setup::render(&teammate(), "auth-squad").unwrap();
    assert!(script.starts_with("#!/usr/bin/env bash\n"));
    assert!(script.contains("set -Eeuo pipefail\n"));
    assert!(!script.contains("set -x"));
    assert_eq!(
        section(&script, "teammate=", "gh_token="),
        "  teammate='alice'
  team='auth-squad'
  repo='https://github.com/acme/app.git'
  branch='feature/login'
  base_branch='main'
  workdir='app'
  repo_host='github.com'
  git_token='GH_TOKEN'
  gh_token='GH_TOKEN'"
    );
    assert_eq!(
        section(&script, "log \"git identity\"", "git config --global push"),
        "  log \"git identity\"
  git config --global user.name 'Ralph Bot'
  git config --global user.email 'ralph@example.com'
  git config --global push.autoSetupRemote true"
    );
    assert_eq!(
        section(
            &script,
            "secret_value 'ANTHROPIC_API_KEY'",
            "log \"secrets:"
        ),
        "  secret_value 'ANTHROPIC_API_KEY' value
  export_line 'ANTHROPIC_API_KEY' \"$value\" >>\"$secrets_file\"
  secret_value 'GH_TOKEN' value
  export_line 'GH_TOKEN' \"$value\" >>\"$secrets_file\"
  unset value
  log \"secrets:\" 'ANTHROPIC_API_KEY' 'GH_TOKEN' \"in $secrets_file\""
    );
    // The plain environment is ralph-town's to write (so that it changes in place), never
    // the script's.
    assert!(!script.contains("LOG_LEVEL"), "{script}");
    assert!(script.ends_with("setup_main 2>&1 | tee -a \"$setup_log\"\n"));
}

#[test]
fn builtin_without_token_or_base_branch_renders_empty_words() {
    let mut teammate = teammate();
    teammate.repo = "git@github.com:acme/app.git".into();
    teammate.base_branch = None;
    teammate.secrets = vec![secret("OPENAI_API_KEY")];
    let script = setup::render(&teammate, "squad").unwrap();
    assert!(script.contains("  base_branch=''\n"));
    assert!(script.contains("  repo_host=''\n"));
    assert!(script.contains("  git_token=''\n"));
    assert!(script.contains("git credentials: none (no GH_TOKEN, GITHUB_TOKEN or GIT_TOKEN"));
    assert!(!script.contains("gh auth login"));
    assert!(!script.contains("x-access-token"));
}

#[test]
fn token_preference_is_gh_then_github_then_git() {
    let mut teammate = teammate();
    teammate.secrets = vec![secret("GIT_TOKEN"), secret("GITHUB_TOKEN")];
    let script = setup::render(&teammate, "squad").unwrap();
    assert!(script.contains("  git_token='GITHUB_TOKEN'\n"));
    assert!(script.contains("  gh_token='GITHUB_TOKEN'\n"));
    teammate.secrets = vec![secret("GIT_TOKEN")];
    let script = setup::render(&teammate, "squad").unwrap();
    assert!(script.contains("  git_token='GIT_TOKEN'\n"));
    assert!(script.contains("  gh_token=''\n"));
}

#[test]
fn hostile_values_stay_inside_their_quotes() {
    let mut teammate = teammate();
    teammate.branch = "x$(reboot)`reboot`';reboot;'".into();
    teammate.git.user_name = "O'Brien \"x\"\nreboot".into();
    let script = setup::render(&teammate, "squad").unwrap();
    assert!(script.contains(r#"  branch='x$(reboot)`reboot`'"'"';reboot;'"'"''"#));
    assert!(script.contains("user.name 'O'\"'\"'Brien \"x\"\nreboot'\n"));
}

#[test]
fn invalid_secret_name_is_refused() {
    let mut teammate = teammate();
    teammate.secrets = vec![secret("A$(reboot)")];
    let (error, _) = render_error(&teammate);
    assert!(matches!(error, SetupError::SecretName { ref name } if name == "A$(reboot)"));
}

fn write(directory: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn team_template_extends_a_builtin_block() {
    let directory = tempfile::tempdir().unwrap();
    write(
        directory.path(),
        "hooks.sh.j2",
        "  echo hook {{ teammate.name }}\n",
    );
    let path = write(
        directory.path(),
        "setup.sh.j2",
        "{% extends \"builtin/setup.sh.j2\" %}\n\
         {% block extra %}\n{% include \"hooks.sh.j2\" %}\n  echo {{ teammate.env.LOG_LEVEL }}\n{% endblock %}\n\
         {% block ready %}\n  log before\n{{ super() }}{% endblock %}\n",
    );
    let mut teammate = teammate();
    teammate.setup = Some(path);
    let script = setup::render(&teammate, "squad").unwrap();
    assert!(script.contains("  echo hook 'alice'\n  echo 'debug'\n"));
    assert!(script.contains("  log before\n  log \"ready $branch in $workdir\"\n"));
    assert!(script.contains("git config --global credential.helper store"));
}

#[test]
fn team_template_may_replace_everything() {
    let directory = tempfile::tempdir().unwrap();
    let path = write(
        directory.path(),
        "mine.sh.j2",
        "echo {{ secrets|shell_join }} {{ git_token }} {{ repo_is_https }}\n",
    );
    let mut teammate = teammate();
    teammate.setup = Some(path);
    assert_eq!(
        setup::render(&teammate, "squad").unwrap(),
        "echo 'ANTHROPIC_API_KEY' 'GH_TOKEN' 'GH_TOKEN' 'true'\n"
    );
}

#[test]
fn undefined_variable_points_at_template_and_line() {
    let directory = tempfile::tempdir().unwrap();
    let path = write(
        directory.path(),
        "setup.sh.j2",
        "#!/usr/bin/env bash\necho ok\necho {{ teammate.nope }}\n",
    );
    let mut teammate = teammate();
    teammate.setup = Some(path.clone());
    let (error, report) = render_error(&teammate);
    let name = path.to_string_lossy();
    assert!(
        error
            .to_string()
            .contains(&format!("template `{name}` line 3")),
        "{error}"
    );
    assert!(report.contains("echo {{ teammate.nope }}"), "{report}");
    assert!(report.contains("templates see `teammate`"), "{report}");
}

#[test]
fn syntax_error_in_extended_template_names_it() {
    let directory = tempfile::tempdir().unwrap();
    let path = write(
        directory.path(),
        "setup.sh.j2",
        "{% extends \"builtin/setup.sh.j2\" %}\n{% block extra %}\n  echo {{ 1 + }}\n{% endblock %}\n",
    );
    let mut teammate = teammate();
    teammate.setup = Some(path);
    let (error, report) = render_error(&teammate);
    assert!(error.to_string().contains("line 3"), "{error}");
    assert!(report.contains("syntax error"), "{report}");
    assert!(report.contains("echo {{ 1 + }}"), "{report}");
}

#[test]
fn missing_template_file_is_a_read_error() {
    let directory = tempfile::tempdir().unwrap();
    let mut teammate = teammate();
    teammate.setup = Some(directory.path().join("absent.sh.j2"));
    let (error, report) = render_error(&teammate);
    assert!(matches!(error, SetupError::TemplateRead { .. }));
    assert!(report.contains("absent.sh.j2"), "{report}");
    assert!(report.contains("relative to the team file"), "{report}");
}

#[test]
fn missing_included_template_names_the_including_line() {
    let directory = tempfile::tempdir().unwrap();
    let path = write(
        directory.path(),
        "setup.sh.j2",
        "echo start\n{% include \"absent.sh.j2\" %}\n",
    );
    let mut teammate = teammate();
    teammate.setup = Some(path);
    let (error, report) = render_error(&teammate);
    assert!(error.to_string().contains("line 2"), "{error}");
    assert!(error.to_string().contains("absent.sh.j2"), "{error}");
    assert!(report.contains("builtin/setup.sh.j2"), "{report}");
}

#[test]
fn templates_that_would_not_be_quoted_are_refused() {
    let directory = tempfile::tempdir().unwrap();
    let path = write(directory.path(), "setup.sh", "echo {{ teammate.branch }}\n");
    let mut teammate = teammate();
    teammate.setup = Some(path);
    let (error, _) = render_error(&teammate);
    assert!(matches!(error, SetupError::TemplateName { .. }));

    write(directory.path(), "plain.txt", "{{ teammate.branch }}");
    let path = write(
        directory.path(),
        "setup.sh.j2",
        "{% include \"plain.txt\" %}\n",
    );
    teammate.setup = Some(path);
    let (_, report) = render_error(&teammate);
    assert!(report.contains("not a `*.sh.j2` template"), "{report}");
}
