//! Shell completions tried the way a shell uses them: bash sources the script and its own
//! completion function is called with `COMP_WORDS`, as pressing Tab would. A closed pipe on
//! the output is a normal end.

use std::io::Read as _;
use std::process::{Command, Stdio};

use crate::common::{World, have};

/// What bash offers after `words` (the last one being completed).
fn complete(world: &World, words: &[&str]) -> Vec<String> {
    let script = world.run(&["completions", "bash"]).success().stdout;
    let path = world.file("ralph-town.bash", &script);
    let quoted: Vec<String> = words
        .iter()
        .map(|word| shlex::try_quote(word).unwrap().into_owned())
        .collect();
    // The function registered for `ralph-town`, called as bash calls it: command, current
    // word, previous word.
    let program = format!(
        r#"source {script}
function_name=$(complete -p ralph-town | sed -E 's/.*-F ([^ ]+).*/\1/')
COMP_WORDS=({words})
COMP_CWORD={cword}
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
"$function_name" ralph-town "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script = path.display(),
        words = quoted.join(" "),
        cword = words.len() - 1,
    );
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.is_empty())
        .map(String::from)
        .collect()
}

/// With a dash in the binary's name, clap_complete's bash script never matched its own
/// subcommand states: `ralph-town up --<Tab>` offered nothing.
#[test]
fn bash_completes_a_subcommands_options() {
    if !have("bash") {
        return;
    }
    let world = World::new();
    let up = complete(&world, &["ralph-town", "up", "--"]);
    for option in ["--yes", "--parallel", "--prune", "--progress", "--json"] {
        assert!(up.iter().any(|offered| offered == option), "{up:?}");
    }
    let down = complete(&world, &["ralph-town", "down", "--old"]);
    assert_eq!(down, ["--older-than"]);
    let nested = complete(
        &world,
        &["ralph-town", "sandbox", "snapshot", "create", "--"],
    );
    assert!(
        nested.iter().any(|offered| offered == "--force"),
        "{nested:?}"
    );
    let values = complete(&world, &["ralph-town", "up", "--progress", ""]);
    assert!(values.iter().any(|offered| offered == "json"), "{values:?}");
    let commands = complete(&world, &["ralph-town", "d"]);
    assert_eq!(commands, ["down"]);
}

/// `ralph-town completions fish | head` panicked on the closed pipe (exit 101).
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let world = World::new();
    world.file(
        "team.toml",
        "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"https://example.com/a.git\"\n",
    );
    for args in [
        &["completions", "fish"][..],
        &["completions", "bash"],
        &["schema"],
        &["validate"],
        &["plan"],
        &["ls", "--json"],
        &["sandbox", "list", "--json"],
    ] {
        let mut child = world
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reading end closes before the command writes anything: every write fails.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
