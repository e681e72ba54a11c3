//! Loading good team files: defaults merge, interpolation, path resolution, the starters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ralph_town::provider::ProviderKind;
use ralph_town::team::{self, LoadOptions, Loaded, ProblemKind, SecretRef, Teammate};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/team")
}

fn host(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[track_caller]
fn load(source: &str, pairs: &[(&str, &str)]) -> Loaded {
    let env = host(pairs);
    match team::load_str(
        source,
        "team.toml",
        Path::new("/work/teams/app"),
        &env,
        &LoadOptions::default(),
    ) {
        Ok(loaded) => loaded,
        Err(error) => panic!("{error:?}"),
    }
}

fn teammate<'a>(loaded: &'a Loaded, name: &str) -> &'a Teammate {
    loaded
        .team
        .teammates
        .iter()
        .find(|t| t.name == name)
        .expect(name)
}

fn full() -> Loaded {
    let source = std::fs::read_to_string(fixtures().join("full.toml")).unwrap();
    let env = host(&[("CI", "true"), ("PR_NUMBER", "42")]);
    team::load_str(
        &source,
        "full.toml",
        &fixtures(),
        &env,
        &LoadOptions::default(),
    )
    .unwrap()
}

#[test]
fn full_example_resolves_every_key() {
    let loaded = full();
    let team = &loaded.team;
    assert_eq!(team.name, "auth-squad-42");
    assert_eq!(team.provider, ProviderKind::Daytona);
    assert_eq!(
        team.provider_settings.api_url.as_deref(),
        Some("https://daytona.example.com/api")
    );
    assert_eq!(team.provider_settings.target.as_deref(), Some("eu"));
    assert_eq!(team.teammates.len(), 2);

    let alice = teammate(&loaded, "alice");
    assert_eq!(alice.repo, "https://github.com/acme/app.git");
    assert_eq!(alice.branch, "feature/login");
    assert_eq!(alice.base_branch.as_deref(), Some("main"));
    assert_eq!(alice.snapshot.as_deref(), Some("ralph-town-dev"));
    assert_eq!(
        alice.env.get("LOG_LEVEL").map(String::as_str),
        Some("debug")
    );
    assert_eq!(alice.env.get("CI").map(String::as_str), Some("true"));
    assert_eq!(
        alice.secrets,
        vec![
            SecretRef {
                name: "ANTHROPIC_API_KEY".into(),
                host_var: "SANDBOX_ANTHROPIC_API_KEY".into()
            },
            SecretRef {
                name: "GH_TOKEN".into(),
                host_var: "GH_TOKEN".into()
            },
        ]
    );
    assert_eq!(alice.git.user_name, "Ralph Bot");
    assert_eq!(alice.git.user_email, "ralph@example.com");
    assert_eq!(alice.lifecycle.auto_stop, Some(30));
    assert_eq!(alice.lifecycle.auto_archive, Some(1440));
    assert_eq!(alice.lifecycle.auto_delete, Some(-1));
    assert_eq!(alice.ttl_minutes, Some(240));
    assert_eq!(
        (
            alice.resources.cpu,
            alice.resources.memory,
            alice.resources.disk
        ),
        (Some(2), Some(4), Some(10))
    );
    assert_eq!(alice.workdir, "app");
    assert_eq!(
        alice.setup.as_deref(),
        Some(fixtures().join("custom-setup.sh.j2").as_path())
    );
}

#[test]
fn teammate_keys_override_defaults_key_by_key() {
    let loaded = full();
    let bob = teammate(&loaded, "bob");
    assert_eq!(bob.snapshot.as_deref(), Some("node-22"));
    // env merges by name: the teammate's LOG_LEVEL wins, the defaults' CI stays.
    let env: Vec<(&str, &str)> = bob
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("CI", "true"),
            ("FEATURE_FLAG", "signup"),
            ("LOG_LEVEL", "info")
        ]
    );
    // secrets merge by name too: bob's GH_TOKEN comes from another host variable.
    let gh = bob.secrets.iter().find(|s| s.name == "GH_TOKEN").unwrap();
    assert_eq!(gh.host_var, "BOB_GH_TOKEN");
    assert_eq!(bob.secrets.len(), 2);
    // git merges per key inside the table.
    assert_eq!(bob.git.user_name, "Bob");
    assert_eq!(bob.git.user_email, "ralph@example.com");
    assert_eq!(bob.lifecycle.auto_stop, Some(0));
    assert_eq!(bob.lifecycle.auto_archive, Some(1440));
    assert_eq!(bob.workdir, "src/app");
    assert_eq!(bob.base_branch.as_deref(), Some("main"));
}

#[test]
fn load_reads_a_file_and_resolves_paths_against_its_directory() {
    let path = fixtures().join("minimal.toml");
    let loaded = team::load(&path, &LoadOptions::default()).unwrap();
    assert_eq!(loaded.team.path.as_deref(), Some(path.as_path()));
    let only = &loaded.team.teammates[0];
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .unwrap();
    assert_eq!(Path::new(&only.repo).canonicalize().unwrap(), crate_dir);
    assert!(Path::new(&only.repo).is_absolute());
    assert!(!only.repo.contains(".."), "{}", only.repo);
    assert_eq!(
        only.workdir,
        crate_dir.file_name().unwrap().to_str().unwrap()
    );
    assert_eq!(loaded.team.provider, ProviderKind::Local);
    assert_eq!(only.git.user_name, "ralph-town");
    assert_eq!(only.git.user_email, "ralph-town@localhost");
    assert_eq!(only.lifecycle, Default::default());
    assert_eq!(only.ttl_minutes, None);
}

#[test]
fn a_missing_file_is_a_read_error() {
    let error =
        team::load(Path::new("/nonexistent/team.toml"), &LoadOptions::default()).unwrap_err();
    assert!(matches!(error, team::TeamError::Read { .. }), "{error:?}");
}

#[test]
fn repo_paths_resolve_and_urls_stay() {
    let source = r#"
        name = "t"
        [[teammate]]
        name = "a"
        branch = "a"
        repo = "../other"
        [[teammate]]
        name = "b"
        branch = "b"
        repo = "git@github.com:acme/tool.git"
        [[teammate]]
        name = "c"
        branch = "c"
        repo = "/srv/git/it's here $(x)"
    "#;
    let loaded = load(source, &[]);
    assert_eq!(teammate(&loaded, "a").repo, "/work/teams/other");
    assert_eq!(teammate(&loaded, "a").workdir, "other");
    assert_eq!(teammate(&loaded, "b").repo, "git@github.com:acme/tool.git");
    assert_eq!(teammate(&loaded, "b").workdir, "tool");
    assert_eq!(teammate(&loaded, "c").repo, "/srv/git/it's here $(x)");
}

#[test]
fn env_values_are_data_carried_verbatim() {
    let source = r#"
        name = "t"
        [[teammate]]
        name = "a"
        branch = "a"
        repo = "/r"
        env = [
            "QUOTES=it's \"quoted\"",
            "SUBSHELL=$(rm -rf /) `id`",
            'LITERAL=$$HOME and cost 5$',
            """MULTI=line one
line two""",
            "FROM_HOST=${INJECT}",
            "EQUALS=a=b=c",
            "EMPTY=",
        ]
    "#;
    let loaded = load(source, &[("INJECT", "$(reboot); ${OTHER} `x`")]);
    let env = &teammate(&loaded, "a").env;
    assert_eq!(env["QUOTES"], "it's \"quoted\"");
    assert_eq!(env["SUBSHELL"], "$(rm -rf /) `id`");
    assert_eq!(env["LITERAL"], "$HOME and cost 5$");
    assert_eq!(env["MULTI"], "line one\nline two");
    assert_eq!(env["FROM_HOST"], "$(reboot); ${OTHER} `x`");
    assert_eq!(env["EQUALS"], "a=b=c");
    assert_eq!(env["EMPTY"], "");
}

#[test]
fn every_string_value_interpolates() {
    let source = r#"
        name = "team-${PR:-local}"
        [defaults]
        repo = "https://${HOST}/acme/app.git"
        base_branch = "${BASE-main}"
        snapshot = "${SNAP:?set SNAP}"
        git = { user_name = "$BOT", user_email = "${BOT}@example.com" }
        auto_stop = "${STOP:-15m}"
        [[teammate]]
        name = "${WHO}"
        branch = "ralph/${WHO}"
        workdir = "${WHO}-work"
    "#;
    let loaded = load(
        source,
        &[
            ("HOST", "git.example.com"),
            ("SNAP", "s1"),
            ("BOT", "bot"),
            ("WHO", "carol"),
            ("STOP", "1h"),
        ],
    );
    assert_eq!(loaded.team.name, "team-local");
    let carol = teammate(&loaded, "carol");
    assert_eq!(carol.repo, "https://git.example.com/acme/app.git");
    assert_eq!(carol.base_branch.as_deref(), Some("main"));
    assert_eq!(carol.snapshot.as_deref(), Some("s1"));
    assert_eq!(carol.git.user_name, "bot");
    assert_eq!(carol.git.user_email, "bot@example.com");
    assert_eq!(carol.lifecycle.auto_stop, Some(60));
    assert_eq!(carol.branch, "ralph/carol");
    assert_eq!(carol.workdir, "carol-work");
}

#[test]
fn the_provider_interpolates_too() {
    let source = "name = \"t\"\nprovider = \"${PROVIDER:-local}\"\n[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"/r\"\n";
    assert_eq!(load(source, &[]).team.provider, ProviderKind::Local);
    let daytona = load(source, &[("PROVIDER", "daytona")]);
    assert_eq!(daytona.team.provider, ProviderKind::Daytona);
}

/// `auto_delete = "0"` was documented as "never" but sent Daytona's 0 (delete as soon as
/// stopped): one rule now, "0" = never for every key, mapped to each key's Daytona value.
#[test]
fn zero_means_never_for_every_lifecycle_key() {
    let source = r#"
        name = "t"
        [defaults]
        repo = "/r"
        [[teammate]]
        name = "a"
        branch = "a"
        auto_stop = "0"
        auto_archive = "0"
        auto_delete = "0"
        ttl = "0"
        [[teammate]]
        name = "b"
        branch = "b"
        auto_stop = "never"
        auto_archive = "never"
        auto_delete = 0
        ttl = "never"
        [[teammate]]
        name = "c"
        branch = "c"
        auto_stop = 45
        auto_delete = "1h30m"
        [[teammate]]
        name = "d"
        branch = "d"
        auto_delete = "immediately"
    "#;
    let loaded = load(source, &[]);
    for name in ["a", "b"] {
        let never = teammate(&loaded, name);
        assert_eq!(
            (
                never.lifecycle.auto_stop,
                never.lifecycle.auto_archive,
                never.lifecycle.auto_delete
            ),
            (Some(0), Some(0), Some(-1)),
            "{name}"
        );
        assert_eq!(never.ttl_minutes, None, "{name}");
    }
    let c = teammate(&loaded, "c");
    assert_eq!(
        (c.lifecycle.auto_stop, c.lifecycle.auto_delete),
        (Some(45), Some(90))
    );
    assert_eq!(teammate(&loaded, "d").lifecycle.auto_delete, Some(0));
}

#[test]
fn credential_like_env_names_warn_with_a_span() {
    let source = "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"/r\"\nenv = [\"GITHUB_TOKEN=abc\", \"LOG=1\"]\n";
    let loaded = load(source, &[]);
    let warning = loaded
        .warnings
        .iter()
        .find(|w| w.kind == ProblemKind::CredentialInEnv)
        .expect("a credential warning");
    assert_eq!(warning.labelled_text(), ["GITHUB_TOKEN"]);
    assert!(warning.help.as_deref().unwrap().contains("secrets"));
    assert_eq!(
        miette::Diagnostic::severity(warning),
        Some(miette::Severity::Warning)
    );
}

#[test]
fn an_unset_host_copy_is_left_out_with_a_warning() {
    let source = "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"/r\"\nenv = [\"NOT_ON_HOST\", \"ON_HOST\"]\n";
    let loaded = load(source, &[("ON_HOST", "yes")]);
    let env = &loaded.team.teammates[0].env;
    assert_eq!(env.get("ON_HOST").map(String::as_str), Some("yes"));
    assert!(!env.contains_key("NOT_ON_HOST"));
    let warning = &loaded.warnings[0];
    assert_eq!(warning.kind, ProblemKind::HostVariableUnset);
    assert_eq!(warning.labelled_text(), ["\"NOT_ON_HOST\""]);
}

#[test]
fn daytona_settings_on_local_warn() {
    let source = "name = \"t\"\napi_url = \"http://localhost:3000/api\"\n[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"/r\"\n";
    let loaded = load(source, &[]);
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].kind, ProblemKind::IgnoredSetting);
    assert_eq!(
        loaded.warnings[0].labelled_text(),
        ["\"http://localhost:3000/api\""]
    );
}

#[test]
fn a_team_of_200_teammates_loads() {
    let mut source = String::from(
        "name = \"big\"\n[defaults]\nrepo = \"https://x/acme/app.git\"\nenv = [\"A=1\", \"B=2\"]\nsecrets = [\"GH_TOKEN\"]\nauto_stop = \"30m\"\n",
    );
    for index in 0..200 {
        source.push_str(&format!(
            "\n[[teammate]]\nname = \"mate-{index}\"\nbranch = \"ralph/mate-{index}\"\nenv = [\"INDEX={index}\"]\n"
        ));
    }
    let loaded = load(&source, &[]);
    assert_eq!(loaded.team.teammates.len(), 200);
    assert!(loaded.warnings.is_empty());
    let last = &loaded.team.teammates[199];
    assert_eq!(last.name, "mate-199");
    assert_eq!(last.env["INDEX"], "199");
    assert_eq!(last.env["A"], "1");
}

#[test]
fn starters_load_cleanly() {
    for provider in [ProviderKind::Local, ProviderKind::Daytona] {
        let text = team::starter(provider, "my-app");
        assert!(text.starts_with("#:schema "), "{provider}");
        let loaded = load(&text, &[]);
        assert_eq!(loaded.team.provider, provider);
        assert!(
            loaded.warnings.is_empty(),
            "{provider}: {:?}",
            loaded.warnings
        );
        assert!(loaded.team.teammates.len() >= 2);
    }
    // With its secrets on the host, the Daytona starter passes the `up` check too.
    let env = host(&[("GH_TOKEN", "sentinel")]);
    let strict = LoadOptions {
        require_secrets: true,
    };
    let text = team::starter(ProviderKind::Daytona, "my-app");
    team::load_str(&text, "team.toml", Path::new("/tmp"), &env, &strict).unwrap();
}

#[test]
fn read_secrets_reads_host_variables_and_never_prints_values() {
    let loaded = full();
    let bob = teammate(&loaded, "bob");
    let env = host(&[
        ("BOB_GH_TOKEN", "sentinel-bob-123"),
        ("SANDBOX_ANTHROPIC_API_KEY", "sentinel-ak-456"),
    ]);
    let secrets = team::read_secrets(bob, &env).unwrap();
    assert_eq!(secrets["GH_TOKEN"].expose(), "sentinel-bob-123");
    assert_eq!(secrets["ANTHROPIC_API_KEY"].expose(), "sentinel-ak-456");
    assert!(!format!("{secrets:?}").contains("sentinel"));

    let missing = host(&[
        ("BOB_GH_TOKEN", "sentinel-bob-123"),
        ("SANDBOX_ANTHROPIC_API_KEY", ""),
    ]);
    let error = team::read_secrets(bob, &missing).unwrap_err();
    let rendered = format!("{error} {error:?}");
    assert!(rendered.contains("SANDBOX_ANTHROPIC_API_KEY"), "{rendered}");
    assert!(!rendered.contains("sentinel"), "{rendered}");
}
