//! What `validate` refuses because `up` would fail or hang on it: repositories git would run a
//! helper for or not clone safely, local repositories that do not exist, workdirs setup cannot
//! clone into, branches git cannot store, and characters a reader cannot see. Each case
//! asserts the span the diagnostic underlines and its hint; `run --branch` refuses what the
//! team file refuses.

use std::path::Path;

use ralph_town::team::{self, FileDiagnostic, LoadOptions, ProblemKind, TeamError};

use crate::common::World;

/// `up`'s load: secrets required and local repositories checked.
const STRICT: LoadOptions = LoadOptions {
    require_secrets: true,
};

fn load(source: &str, base: &Path) -> Result<team::Loaded, TeamError> {
    team::load_str(source, "team.toml", base, &|_| None, &STRICT)
}

/// A team of one teammate with `line` added to it, loaded against a real directory.
fn teammate_with(line: &str) -> (String, Result<team::Loaded, TeamError>) {
    let directory = tempfile::tempdir().unwrap();
    let repo = if line.starts_with("repo") {
        ""
    } else {
        "repo = \".\"\n"
    };
    let source =
        format!("name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"feature/a\"\n{repo}{line}\n");
    let result = load(&source, directory.path());
    (source, result)
}

/// Asserts one problem of `kind` underlining `underlined`, whose help contains `hint`.
#[track_caller]
fn refused(line: &str, kind: ProblemKind, underlined: &str, hint: &str) -> FileDiagnostic {
    let (source, result) = teammate_with(line);
    let error = match result {
        Ok(loaded) => panic!("`{line}` loaded: {:?}", loaded.team),
        Err(error) => error,
    };
    let found: Vec<&FileDiagnostic> = error.diagnostics().iter().collect();
    assert_eq!(found.len(), 1, "{found:#?}\nfor:\n{source}");
    let diagnostic = found[0];
    assert_eq!(diagnostic.kind, kind, "{diagnostic:?}");
    assert_eq!(diagnostic.labelled_text(), [underlined], "{diagnostic:?}");
    let help = diagnostic.help.as_deref().unwrap_or_default();
    assert!(help.contains(hint), "{help}");
    diagnostic.clone()
}

#[test]
fn repositories_that_run_a_remote_helper_are_refused() {
    let hint = "`https://`, `http://`, `ssh://`, `git://` or `file://` URL, `user@host:path`";
    for (repo, underlined) in [
        ("ext::sh -c touch% /tmp/pwned", "ext::"),
        ("fd::3", "fd::"),
        ("ftp://host/app.git", "ftp://"),
        ("ssh://-oProxyCommand=touch%20x/app", "-"),
        ("-u.git", "-"),
    ] {
        let diagnostic = refused(
            &format!("repo = \"{repo}\""),
            ProblemKind::InvalidValue,
            underlined,
            hint,
        );
        assert_eq!(
            diagnostic.message,
            "`repo` is not a location git clones safely"
        );
    }
    // What git clones safely still loads (remote URLs are not looked up).
    for repo in [
        "https://github.com/acme/app.git",
        "ssh://git@host/acme/app",
        "git@github.com:acme/app.git",
        "git://host/app",
        "file:///srv/app",
    ] {
        let (_, result) = teammate_with(&format!("repo = \"{repo}\""));
        result.unwrap_or_else(|error| panic!("{repo}: {error:?}"));
    }
}

#[test]
fn a_local_repository_that_does_not_exist_is_refused_for_up() {
    let diagnostic = refused(
        "repo = \"./missing\"",
        ProblemKind::RepoNotFound,
        "\"./missing\"",
        "relative to the team file",
    );
    assert!(
        diagnostic.message.ends_with("/missing` does not exist"),
        "{}",
        diagnostic.message
    );
    // The other checks still run: a missing repository does not hide two teammates on one
    // branch, and is reported once for `[defaults]`.
    let source = "name = \"t\"\n[defaults]\nrepo = \"./missing\"\n[[teammate]]\nname = \"a\"\nbranch = \"b\"\n[[teammate]]\nname = \"c\"\nbranch = \"b\"\n";
    let directory = tempfile::tempdir().unwrap();
    let error = load(source, directory.path()).unwrap_err();
    let kinds: Vec<ProblemKind> = error.diagnostics().iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [ProblemKind::RepoNotFound, ProblemKind::DuplicateBranch]
    );
    // `plan`, `status` and `down` still load the file, so the team can be torn down.
    let source = "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"b\"\nrepo = \"./missing\"\n";
    team::load_str(
        source,
        "team.toml",
        Path::new("/nonexistent"),
        &|_| None,
        &LoadOptions::default(),
    )
    .unwrap();
}

#[test]
fn workdirs_setup_cannot_clone_into_are_refused() {
    let hint = "inside the sandbox home";
    for (workdir, reason) in [
        (".", "is the sandbox home itself"),
        ("~", "is the sandbox home itself"),
        ("/home/daytona", "is the sandbox home itself"),
        ("/home/daytona/", "is the sandbox home itself"),
        ("/", "`/`"),
        ("~root/app", "`~user`"),
        ("../up", "`..`"),
    ] {
        let line = format!("workdir = \"{workdir}\"");
        let diagnostic = refused(
            &line,
            ProblemKind::InvalidValue,
            &format!("\"{workdir}\""),
            hint,
        );
        assert!(
            diagnostic.message.contains(reason),
            "{workdir}: {diagnostic:?}"
        );
    }
    for workdir in ["app", "~/app", "/home/daytona/app", "/srv/app"] {
        let (_, result) = teammate_with(&format!("workdir = \"{workdir}\""));
        let loaded = result.unwrap_or_else(|error| panic!("{workdir}: {error:?}"));
        assert_eq!(loaded.team.teammates[0].workdir, workdir);
    }
}

#[test]
fn a_branch_longer_than_git_can_store_is_refused() {
    let long = "b".repeat(5_000);
    let source =
        format!("name = \"t\"\n[[teammate]]\nname = \"a\"\nrepo = \".\"\nbranch = \"{long}\"\n");
    let directory = tempfile::tempdir().unwrap();
    let error = load(&source, directory.path()).unwrap_err();
    let diagnostic = &error.diagnostics()[0];
    assert_eq!(diagnostic.kind, ProblemKind::InvalidBranch);
    // The part past the limit is underlined; the message quotes the name cut short.
    assert_eq!(diagnostic.labelled_text(), [&long[200..]]);
    assert!(diagnostic.labels[0].1.contains("5000 bytes, at most 200"));
    assert!(diagnostic.message.len() < 200, "{}", diagnostic.message);
    assert!(
        diagnostic
            .help
            .as_deref()
            .unwrap()
            .contains("at most 200 bytes")
    );
}

#[test]
fn invisible_and_bidirectional_characters_are_refused_in_names() {
    let cases = [
        ("branch", "\u{202E}", ProblemKind::InvalidBranch),
        ("branch", "\u{2066}", ProblemKind::InvalidBranch),
        ("branch", "\u{200B}", ProblemKind::InvalidBranch),
        ("base_branch", "\u{202E}", ProblemKind::InvalidBranch),
        ("base_branch", "\u{FEFF}", ProblemKind::InvalidBranch),
    ];
    for (key, character, kind) in cases {
        let source = format!(
            "name = \"t\"\n[[teammate]]\nname = \"a\"\nrepo = \".\"\n{key} = \"main{character}x\"\n{}",
            if key == "branch" {
                ""
            } else {
                "branch = \"b\"\n"
            }
        );
        let directory = tempfile::tempdir().unwrap();
        let error = load(&source, directory.path()).unwrap_err();
        let diagnostic = &error.diagnostics()[0];
        assert_eq!(diagnostic.kind, kind, "{key} {character:?}");
        assert_eq!(
            diagnostic.labelled_text(),
            [character],
            "{key} {character:?}"
        );
        let code = format!("U+{:04X}", u32::from(character.chars().next().unwrap()));
        assert!(diagnostic.labels[0].1.contains(&code), "{diagnostic:?}");
        assert!(
            diagnostic
                .help
                .as_deref()
                .unwrap()
                .contains("check-ref-format")
        );
    }
    refused(
        "snapshot = \"dev\u{200B}\"",
        ProblemKind::InvalidValue,
        "\"dev\u{200B}\"",
        "leave the key out",
    );
    refused(
        "workdir = \"app\u{202E}\"",
        ProblemKind::InvalidValue,
        "\"app\u{202E}\"",
        "inside the sandbox home",
    );
    refused(
        "git = { user_name = \"R\u{202E}alph\" }",
        ProblemKind::InvalidValue,
        "\"R\u{202E}alph\"",
        "leave the key out",
    );
    refused(
        "repo = \"/srv/a\u{202E}pp\"",
        ProblemKind::InvalidValue,
        "\u{202E}",
        "`https://`",
    );
    // Team and teammate names allow none of them either.
    let directory = tempfile::tempdir().unwrap();
    let source = "name = \"t\u{202E}\"\n[[teammate]]\nname = \"a\"\nbranch = \"b\"\nrepo = \".\"\n";
    let error = load(source, directory.path()).unwrap_err();
    assert_eq!(error.diagnostics()[0].kind, ProblemKind::InvalidName);
    assert_eq!(error.diagnostics()[0].labelled_text(), ["\u{202E}"]);
}

#[test]
fn validate_and_up_refuse_a_remote_helper_before_anything_is_created() {
    let world = World::new();
    world.file(
        "team.toml",
        "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"b\"\nrepo = \"ext::sh -c touch% /tmp/pwned\"\n",
    );
    let run = world.run(&["validate"]).code(3);
    assert!(
        run.stderr.contains("makes git run a remote helper"),
        "{run:?}"
    );
    assert!(run.stderr.contains("team.toml:5:9"), "{run:?}");
    world.run(&["up", "--yes"]).code(3);
    assert!(world.sandbox_dirs().is_empty());
}

#[test]
fn up_refuses_a_missing_local_repository_before_anything_is_created() {
    let world = World::new();
    world.file(
        "team.toml",
        "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"b\"\nrepo = \"./gone\"\n",
    );
    let run = world.run(&["up", "--yes", "--json"]).code(3);
    assert!(run.stderr.contains("does not exist"), "{run:?}");
    assert!(world.sandbox_dirs().is_empty());
    // `status` still reads the file: a team whose repository is gone can be inspected.
    world.run(&["status"]).success();
}

#[test]
fn run_branch_refuses_what_the_team_file_refuses() {
    let world = World::new();
    let origin = world.path().join("origin");
    std::fs::create_dir_all(&origin).unwrap();
    let long = "b".repeat(201);
    for branch in [
        "a..b",
        "x$(reboot)",
        "main\u{202E}",
        "-x",
        "a b",
        "x.lock",
        &long,
    ] {
        let flag = format!("--branch={branch}");
        let run = world
            .run(&[
                "run",
                "--repo",
                origin.to_str().unwrap(),
                &flag,
                "--",
                "true",
            ])
            .code(2);
        assert!(run.stderr.contains("--branch"), "{branch}: {run:?}");
        // A literal string: the branch exactly as `run` got it.
        let team = format!(
            "name = \"t\"\n[[teammate]]\nname = \"a\"\nrepo = \".\"\nbranch = '{branch}'\n"
        );
        world.file("team.toml", &team);
        let run = world.run(&["validate"]).code(3);
        assert!(
            run.stderr.contains("is not a valid branch name"),
            "{branch}: {run:?}"
        );
    }
    assert!(world.sandbox_dirs().is_empty());
}
