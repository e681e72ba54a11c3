//! Every kind of bad team file gives a diagnostic whose label underlines the right text.

use std::collections::BTreeMap;
use std::path::Path;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};
use ralph_town::team::{self, FileDiagnostic, LoadOptions, ProblemKind, TeamError};

const HEAD: &str = "name = \"t\"\n";
const MATE: &str = "[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"/r\"\n";

fn host(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn failure(source: &str, pairs: &[(&str, &str)], options: &LoadOptions) -> TeamError {
    let env = host(pairs);
    match team::load_str(source, "team.toml", Path::new("/work/teams"), &env, options) {
        Ok(loaded) => panic!("expected an error for:\n{source}\ngot {:?}", loaded.team),
        Err(error) => error,
    }
}

/// The source text under each label, read through miette's own interface.
fn underlined(diagnostic: &dyn Diagnostic) -> Vec<String> {
    let source = diagnostic.source_code().expect("source code");
    diagnostic
        .labels()
        .expect("labels")
        .map(|label| {
            // miette widens an empty span to one character when reading it.
            if label.is_empty() {
                return String::new();
            }
            let contents = source
                .read_span(label.inner(), 0, 0)
                .expect("span in source");
            String::from_utf8_lossy(contents.data()).into_owned()
        })
        .collect()
}

/// Asserts that loading `source` reports `kind` with its labels underlining `expected`.
#[track_caller]
fn case(
    source: &str,
    pairs: &[(&str, &str)],
    kind: ProblemKind,
    expected: &[&str],
) -> FileDiagnostic {
    let error = failure(source, pairs, &LoadOptions::default());
    let diagnostics = error.diagnostics();
    let Some(found) = diagnostics.iter().find(|d| d.kind == kind) else {
        panic!("no {kind:?} in {diagnostics:#?}\nfor:\n{source}");
    };
    assert_eq!(underlined(found), expected, "{found:#?}\nfor:\n{source}");
    assert!(found.help.is_some(), "{found:?} has no help");
    assert_eq!(found.code().unwrap().to_string(), kind.code());
    found.clone()
}

fn render(diagnostic: &dyn Diagnostic) -> String {
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, diagnostic)
        .unwrap();
    out
}

#[test]
fn syntax_error() {
    let diagnostic = case("name = \"t\nbranch = 1\n", &[], ProblemKind::Syntax, &[""]);
    assert!(diagnostic.labels[0].0.start > 0);
    let unclosed = "name = \"t\"\n[[teammate]\n";
    let diagnostic = case(unclosed, &[], ProblemKind::Syntax, &[""]);
    assert_eq!(diagnostic.labels[0].0.start, unclosed.len() - 1);
    case(
        "name = \"t\"\nname = \"u\"\n",
        &[],
        ProblemKind::Syntax,
        &["name"],
    );
}

#[test]
fn unknown_keys_everywhere_with_suggestions() {
    let source = format!(
        "{HEAD}naem = \"x\"\n[defaults]\nrepoo = \"/r\"\ngit = {{ user_nme = \"x\" }}\nresources = {{ cpus = 1 }}\n{MATE}brnch = \"b\"\nzzz = 1\n"
    );
    let error = failure(&source, &[], &LoadOptions::default());
    let found: Vec<(Vec<String>, Option<String>)> = error
        .diagnostics()
        .iter()
        .map(|d| {
            assert_eq!(d.kind, ProblemKind::UnknownKey);
            (underlined(d), d.help.clone())
        })
        .collect();
    let help = |key: &str| {
        found
            .iter()
            .find(|(text, _)| text == &[key])
            .and_then(|(_, help)| help.clone())
            .unwrap()
    };
    assert_eq!(found.len(), 6, "{found:?}");
    assert!(help("naem").contains("`name`"));
    assert!(help("repoo").contains("`repo`"));
    assert!(help("user_nme").contains("`user_name`"));
    assert!(help("cpus").contains("`cpu`"));
    assert!(help("brnch").contains("`branch`"));
    assert!(help("zzz").contains("known keys"));
    // Several problems render as one report that shows each label.
    let rendered = render(&error);
    assert!(rendered.contains("6 problems in `team.toml`"), "{rendered}");
    assert!(rendered.contains("did you mean `branch`?"), "{rendered}");
}

#[test]
fn per_teammate_keys_in_defaults_say_where_they_belong() {
    let source = format!("{HEAD}[defaults]\nbranch = \"main\"\n{MATE}");
    let diagnostic = case(&source, &[], ProblemKind::UnknownKey, &["branch"]);
    assert!(diagnostic.help.unwrap().contains("each `[[teammate]]`"));
}

#[test]
fn tables_of_the_wrong_shape() {
    let diagnostic = case(
        "name = \"t\"\n[teammate]\nname = \"a\"\n",
        &[],
        ProblemKind::WrongType,
        &["teammate"],
    );
    assert!(diagnostic.help.unwrap().contains("[[teammate]]"));
    let diagnostic = case(
        &format!("{HEAD}[[defaults]]\nrepo = \"/r\"\n{MATE}"),
        &[],
        ProblemKind::WrongType,
        &["defaults"],
    );
    assert!(diagnostic.help.unwrap().contains("[defaults]"));
}

#[test]
fn wrong_types() {
    case("name = 1\n", &[], ProblemKind::WrongType, &["1"]);
    case(
        &format!("{HEAD}{MATE}env = \"A=1\"\n"),
        &[],
        ProblemKind::WrongType,
        &["\"A=1\""],
    );
    case(
        &format!("{HEAD}{MATE}resources = {{ cpu = -1 }}\n"),
        &[],
        ProblemKind::WrongType,
        &["-1"],
    );
    case(
        &format!("{HEAD}{MATE}auto_stop = true\n"),
        &[],
        ProblemKind::WrongType,
        &["true"],
    );
    let diagnostic = case(
        &format!("{HEAD}provider = \"dayton\"\n{MATE}"),
        &[],
        ProblemKind::InvalidValue,
        &["\"dayton\""],
    );
    assert_eq!(diagnostic.help.as_deref(), Some("did you mean `daytona`?"));
    case(
        &format!("{HEAD}provider = 1\n{MATE}"),
        &[],
        ProblemKind::WrongType,
        &["1"],
    );
}

#[test]
fn invalid_names() {
    case(
        &format!("name = \"My-Team\"\n{MATE}"),
        &[],
        ProblemKind::InvalidName,
        &["M"],
    );
    case(
        &format!("{HEAD}[[teammate]]\nname = \"al ice\"\nbranch = \"a\"\nrepo = \"/r\"\n"),
        &[],
        ProblemKind::InvalidName,
        &[" "],
    );
    let long = "a".repeat(70);
    case(
        &format!("{HEAD}[[teammate]]\nname = \"{long}\"\nbranch = \"a\"\nrepo = \"/r\"\n"),
        &[],
        ProblemKind::InvalidName,
        &["aaaaaaa"],
    );
    // An interpolated name cannot be underlined inside: the whole value is.
    case(
        &format!("name = \"${{N}}\"\n{MATE}"),
        &[("N", "BAD")],
        ProblemKind::InvalidName,
        &["\"${N}\""],
    );
}

#[test]
fn duplicate_teammate_labels_both() {
    let source =
        format!("{HEAD}{MATE}[[teammate]]\nname = \"a\"\nbranch = \"other\"\nrepo = \"/r\"\n");
    case(
        &source,
        &[],
        ProblemKind::DuplicateTeammate,
        &["\"a\"", "\"a\""],
    );
    let error = failure(&source, &[], &LoadOptions::default());
    let labels = &error.diagnostics()[0].labels;
    assert!(
        labels[0].0.start > labels[1].0.start,
        "second declaration is primary"
    );
}

#[test]
fn two_teammates_on_one_branch() {
    let source = format!(
        "{HEAD}[defaults]\nrepo = \"/r\"\n[[teammate]]\nname = \"a\"\nbranch = \"feature/x\"\n[[teammate]]\nname = \"b\"\nbranch = 'feature/x'\n"
    );
    case(
        &source,
        &[],
        ProblemKind::DuplicateBranch,
        &["'feature/x'", "\"feature/x\""],
    );
}

#[test]
fn invalid_branches_point_at_the_bad_part() {
    let cases = [
        ("x$(reboot)", "$"),
        ("a..b", ".."),
        ("-x", "-"),
        ("a b", " "),
        ("x.lock", ".lock"),
        ("a//b", "//"),
        ("a@{1}", "@{"),
        ("@", "@"),
        ("trailing/", "/"),
        ("semi;colon", ";"),
    ];
    for (branch, bad) in cases {
        let source =
            format!("{HEAD}[[teammate]]\nname = \"a\"\nbranch = '{branch}'\nrepo = \"/r\"\n");
        case(&source, &[], ProblemKind::InvalidBranch, &[bad]);
    }
    // A base branch is checked too, once even when it comes from the defaults.
    let source = format!(
        "{HEAD}[defaults]\nbase_branch = \"ma in\"\n{MATE}[[teammate]]\nname = \"b\"\nbranch = \"b\"\nrepo = \"/r\"\n"
    );
    let error = failure(&source, &[], &LoadOptions::default());
    assert_eq!(error.diagnostics().len(), 1);
    case(&source, &[], ProblemKind::InvalidBranch, &[" "]);
    // Escaped strings fall back to the whole value.
    case(
        &format!("{HEAD}[[teammate]]\nname = \"a\"\nbranch = \"a\\u0020b\"\nrepo = \"/r\"\n"),
        &[],
        ProblemKind::InvalidBranch,
        &["\"a\\u0020b\""],
    );
}

#[test]
fn missing_keys() {
    case(MATE, &[], ProblemKind::MissingKey, &[""]);
    case(
        &format!("{HEAD}[[teammate]]\nname = \"a\"\nrepo = \"/r\"\n"),
        &[],
        ProblemKind::MissingKey,
        &["[[teammate]]"],
    );
    case(
        &format!("{HEAD}[[teammate]]\nbranch = \"a\"\nrepo = \"/r\"\n"),
        &[],
        ProblemKind::MissingKey,
        &["[[teammate]]"],
    );
    let diagnostic = case(
        &format!("{HEAD}[[teammate]]\nname = \"a\"\nbranch = \"a\"\n"),
        &[],
        ProblemKind::MissingKey,
        &["[[teammate]]"],
    );
    assert!(diagnostic.message.contains("`repo`"));
    case(
        "name = \"t\"\n[defaults]\nrepo = \"/r\"\n",
        &[],
        ProblemKind::NoTeammates,
        &["[defaults]"],
    );
    case("name = \"t\"\n", &[], ProblemKind::NoTeammates, &[""]);
}

#[test]
fn missing_variables_point_inside_the_string() {
    let source = format!("{HEAD}[defaults]\nrepo = \"https://${{GIT_HOST}}/acme/app.git\"\n{MATE}");
    let diagnostic = case(&source, &[], ProblemKind::MissingVariable, &["${GIT_HOST}"]);
    assert!(diagnostic.message.contains("`GIT_HOST`"));
    case(
        &format!("name = \"t-${{PR:?set PR in CI}}\"\n{MATE}"),
        &[],
        ProblemKind::MissingVariable,
        &["${PR:?set PR in CI}"],
    );
    case(
        &format!("{HEAD}{MATE}env = [\"URL=http://$HOSTNAME_X/x\"]\n"),
        &[],
        ProblemKind::MissingVariable,
        &["$HOSTNAME_X"],
    );
    case(
        &format!("{HEAD}{MATE}snapshot = '''\n${{SNAP}}'''\n"),
        &[],
        ProblemKind::MissingVariable,
        &["${SNAP}"],
    );
    case(
        &format!("{HEAD}{MATE}ttl = \"${{TTL}}\"\n"),
        &[],
        ProblemKind::MissingVariable,
        &["${TTL}"],
    );
    case(
        &format!("{HEAD}{MATE}snapshot = \"${{UNCLOSED\"\n"),
        &[],
        ProblemKind::InvalidInterpolation,
        &["${UNCLOSED"],
    );
    // Every missing variable is reported, not only the first.
    let source =
        "name = \"${ONE}\"\n[[teammate]]\nname = \"a\"\nbranch = \"${TWO}\"\nrepo = \"${THREE}\"\n";
    let error = failure(source, &[], &LoadOptions::default());
    let all: Vec<Vec<String>> = error.diagnostics().iter().map(|d| underlined(d)).collect();
    assert_eq!(all, [["${ONE}"], ["${TWO}"], ["${THREE}"]]);
}

#[test]
fn malformed_env_and_secret_entries() {
    case(
        &format!("{HEAD}{MATE}env = [\"\"]\n"),
        &[],
        ProblemKind::InvalidEntry,
        &["\"\""],
    );
    case(
        &format!("{HEAD}{MATE}env = [\"=x\"]\n"),
        &[],
        ProblemKind::InvalidEntry,
        &["\"=x\""],
    );
    case(
        &format!("{HEAD}{MATE}env = [\"1X=1\"]\n"),
        &[],
        ProblemKind::InvalidEntry,
        &["1"],
    );
    case(
        &format!("{HEAD}{MATE}env = [\"MY-VAR=1\"]\n"),
        &[],
        ProblemKind::InvalidEntry,
        &["-"],
    );
    case(
        &format!("{HEAD}{MATE}secrets = [\"GH TOKEN\"]\n"),
        &[],
        ProblemKind::InvalidEntry,
        &[" "],
    );
    case(
        &format!("{HEAD}{MATE}secrets = [\"GH_TOKEN=${{X}}\"]\n"),
        &[],
        ProblemKind::InvalidEntry,
        &["$"],
    );
    case(
        &format!("{HEAD}{MATE}secrets = [\"GH_TOKEN=\"]\n"),
        &[],
        ProblemKind::InvalidEntry,
        &["\"GH_TOKEN=\""],
    );
    case(
        &format!("{HEAD}{MATE}env = [\"A=1\", \"A=2\"]\n"),
        &[],
        ProblemKind::DuplicateEntry,
        &["\"A=2\"", "\"A=1\""],
    );
}

#[test]
fn a_name_in_env_and_secrets() {
    let source =
        format!("{HEAD}[defaults]\nenv = [\"GH_TOKEN=x\"]\n{MATE}secrets = [\"GH_TOKEN\"]\n");
    case(
        &source,
        &[],
        ProblemKind::EnvAndSecret,
        &["\"GH_TOKEN\"", "\"GH_TOKEN=x\""],
    );
}

#[test]
fn secrets_missing_on_the_host_when_required() {
    let source = format!(
        "{HEAD}[defaults]\nsecrets = [\"GH_TOKEN\", \"API_KEY=HOST_API_KEY\"]\n{MATE}[[teammate]]\nname = \"b\"\nbranch = \"b\"\nrepo = \"/r\"\n"
    )
    // The strict load (`up`'s) also checks that local repositories exist: these do.
    .replace("\"/r\"", "\"/tmp\"");
    let strict = LoadOptions {
        require_secrets: true,
    };
    let pairs = [("GH_TOKEN", "sentinel-value-789")];
    let error = failure(&source, &pairs, &strict);
    // Reported once for the entry in `[defaults]`, not once per teammate.
    assert_eq!(error.diagnostics().len(), 1, "{:?}", error.diagnostics());
    let diagnostic = &error.diagnostics()[0];
    assert_eq!(diagnostic.kind, ProblemKind::SecretNotSet);
    assert_eq!(underlined(diagnostic), ["\"API_KEY=HOST_API_KEY\""]);
    assert!(!render(&error).contains("sentinel"));
    // Without the requirement the file loads: `validate` needs no secret values.
    let env = host(&pairs);
    team::load_str(
        &source,
        "team.toml",
        Path::new("/"),
        &env,
        &LoadOptions::default(),
    )
    .unwrap();
}

#[test]
fn invalid_durations_and_values() {
    case(
        &format!("{HEAD}{MATE}auto_stop = \"30x\"\n"),
        &[],
        ProblemKind::InvalidDuration,
        &["\"30x\""],
    );
    case(
        &format!("{HEAD}{MATE}ttl = \"90s\"\n"),
        &[],
        ProblemKind::InvalidDuration,
        &["\"90s\""],
    );
    case(
        &format!("{HEAD}{MATE}auto_stop = \"immediately\"\n"),
        &[],
        ProblemKind::InvalidDuration,
        &["\"immediately\""],
    );
    case(
        &format!("{HEAD}{MATE}auto_delete = -5\n"),
        &[],
        ProblemKind::InvalidDuration,
        &["-5"],
    );
    case(
        &format!("{HEAD}{MATE}resources = {{ memory = 0 }}\n"),
        &[],
        ProblemKind::InvalidValue,
        &["0"],
    );
    case(
        &format!("{HEAD}{MATE}workdir = \"../escape\"\n"),
        &[],
        ProblemKind::InvalidValue,
        &["\"../escape\""],
    );
    case(
        &format!("{HEAD}{MATE}snapshot = \"\"\n"),
        &[],
        ProblemKind::InvalidValue,
        &["\"\""],
    );
    case(
        &format!("{HEAD}{MATE}git = {{ user_email = \"a\\nb\" }}\n"),
        &[],
        ProblemKind::InvalidValue,
        &["\"a\\nb\""],
    );
    case(
        &format!("{HEAD}provider = \"daytona\"\napi_url = \"ftp://x\"\n{MATE}"),
        &[],
        ProblemKind::InvalidValue,
        &["\"ftp://x\""],
    );
    case(
        &format!("{HEAD}setup = \"no-such.sh.j2\"\n{MATE}"),
        &[],
        ProblemKind::SetupNotFound,
        &["\"no-such.sh.j2\""],
    );
}

#[test]
fn a_credential_in_a_repo_url_is_refused_without_printing_it() {
    let source = format!(
        "{HEAD}[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"https://x:sentinel-pw@github.com/a/b.git\"\n"
    );
    let error = failure(&source, &[], &LoadOptions::default());
    let diagnostic = &error.diagnostics()[0];
    assert_eq!(diagnostic.kind, ProblemKind::InvalidValue);
    let rendered = render(&error);
    assert!(!rendered.contains("sentinel-pw"), "{rendered}");
    // From a variable, the file holds no credential, so the value is underlined.
    let source =
        format!("{HEAD}[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"${{REPO}}\"\n");
    let pairs = [("REPO", "https://sentinel-tok@github.com/a/b.git")];
    case(&source, &pairs, ProblemKind::InvalidValue, &["\"${REPO}\""]);
    let rendered = render(&failure(&source, &pairs, &LoadOptions::default()));
    assert!(!rendered.contains("sentinel-tok"), "{rendered}");
}

#[test]
fn a_single_problem_renders_with_source_label_and_help() {
    let source = format!("{HEAD}[defaults]\nrepo = \"https://${{GIT_HOST}}/a.git\"\n{MATE}");
    let error = failure(&source, &[], &LoadOptions::default());
    let rendered = render(&error);
    for needle in [
        "team::missing_variable",
        "team.toml",
        "${GIT_HOST}",
        "`GIT_HOST` is not set",
        "export `GIT_HOST`",
    ] {
        assert!(
            rendered.contains(needle),
            "missing {needle:?} in\n{rendered}"
        );
    }
}
