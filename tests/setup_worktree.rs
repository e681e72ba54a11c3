//! The work-loss check against real repositories in a temp home: what it finds, what it names,
//! and that pushing makes the home clean again. Git always runs with HOME in a temp dir.

use std::path::{Path, PathBuf};
use std::process::Command;

use ralph_town::setup::{WorkCheck, parse_worktree_check, worktree_check_script};

fn tools() -> bool {
    crate::common::have("git") && crate::common::have("bash")
}

fn clean(program: &str, home: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com");
    command
}

/// A temp dir with a bare `origin.git` (one commit on `main`) and a sandbox `home`.
struct World {
    root: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let world = World {
            root: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(world.home()).unwrap();
        let seed = world.root.path().join("seed");
        world.git(world.root.path(), &["init", "-q", "-b", "main", "seed"]);
        std::fs::write(seed.join("README.md"), "hello\n").unwrap();
        world.git(&seed, &["add", "."]);
        world.git(&seed, &["commit", "-qm", "initial"]);
        world.git(
            world.root.path(),
            &["clone", "-q", "--bare", "seed", "origin.git"],
        );
        world
    }

    fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    fn git(&self, directory: &Path, arguments: &[&str]) -> String {
        let output = clean("git", &self.home())
            .current_dir(directory)
            .args(arguments)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {arguments:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    /// Clones the origin to `home/<relative>` and returns the clone's path.
    fn clone(&self, relative: &str) -> PathBuf {
        let origin = self.root.path().join("origin.git");
        let target = self.home().join(relative);
        self.git(
            self.root.path(),
            &[
                "clone",
                "-q",
                origin.to_str().unwrap(),
                target.to_str().unwrap(),
            ],
        );
        target
    }

    fn check(&self) -> WorkCheck {
        self.check_declaring(&[])
    }

    /// The check with `workdirs` declared, as the guard passes a teammate's workdir.
    fn check_declaring(&self, workdirs: &[&str]) -> WorkCheck {
        let output = clean("bash", &self.home())
            .arg("-c")
            .arg(worktree_check_script())
            .arg("ralph-town-work-check")
            .args(workdirs)
            .current_dir(self.root.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        parse_worktree_check(&String::from_utf8(output.stdout).unwrap())
    }
}

#[test]
fn work_check_names_changes_until_they_are_pushed() {
    if !tools() {
        return;
    }
    let world = World::new();
    let app = world.clone("app");
    let check = world.check();
    assert!(check.is_clean(), "{}", check.describe());
    assert_eq!(check.repos.len(), 1);
    assert_eq!(check.repos[0].path, app.to_string_lossy());

    std::fs::write(app.join("README.md"), "changed\n").unwrap();
    let check = world.check();
    assert!(!check.is_clean());
    assert_eq!(check.repos[0].uncommitted, [" M README.md"]);
    assert_eq!(check.describe(), "~/app:\n  uncommitted: M README.md");

    std::fs::write(app.join("notes.txt"), "mine\n").unwrap();
    let check = world.check();
    assert!(
        check.repos[0]
            .uncommitted
            .contains(&"?? notes.txt".to_string())
    );
    assert!(check.describe().contains("?? notes.txt"));

    world.git(&app, &["add", "."]);
    world.git(&app, &["commit", "-qm", "local work"]);
    let check = world.check();
    assert!(check.repos[0].uncommitted.is_empty());
    assert_eq!(check.repos[0].unpushed.len(), 1);
    assert!(check.repos[0].unpushed[0].ends_with(" local work"));
    assert!(!check.is_clean());
    assert!(check.describe().contains("unpushed: ") && check.describe().contains("local work"));

    world.git(&app, &["push", "-q", "origin", "main"]);
    let check = world.check();
    assert!(check.is_clean(), "{}", check.describe());
}

#[test]
fn work_check_counts_stashes_branches_and_detached_commits() {
    if !tools() {
        return;
    }
    let world = World::new();
    let app = world.clone("app");
    std::fs::write(app.join("README.md"), "stashed\n").unwrap();
    world.git(&app, &["stash", "-q"]);
    let check = world.check();
    assert!(check.repos[0].uncommitted.is_empty());
    assert!(check.repos[0].unpushed[0].starts_with("stash@{0}: "));
    world.git(&app, &["stash", "drop", "-q"]);

    world.git(&app, &["checkout", "-qb", "side"]);
    world.git(&app, &["commit", "-q", "--allow-empty", "-m", "side work"]);
    world.git(&app, &["checkout", "-q", "main"]);
    let check = world.check();
    assert!(check.repos[0].unpushed[0].ends_with(" side work"));
    world.git(&app, &["branch", "-qD", "side"]);
    assert!(world.check().is_clean());

    world.git(&app, &["checkout", "-q", "--detach"]);
    world.git(
        &app,
        &["commit", "-q", "--allow-empty", "-m", "detached work"],
    );
    let check = world.check();
    assert!(check.repos[0].unpushed[0].ends_with(" detached work"));
}

#[test]
fn work_check_looks_deep_under_the_home_and_lists_every_change() {
    if !tools() {
        return;
    }
    let world = World::new();
    let deep = world.clone("a/b/c");
    world.clone("a/b/c2/d");
    world.clone("1/2/3/4/5/6/7/8/too-deep");
    world.git(world.home().as_path(), &["init", "-q", "scratch"]);
    for index in 0..7 {
        std::fs::write(deep.join(format!("new{index}.txt")), "x").unwrap();
    }
    let check = world.check();
    let paths: Vec<&str> = check.repos.iter().map(|repo| repo.path.as_str()).collect();
    let home = world.home();
    assert_eq!(
        paths,
        [
            home.join("a/b/c").to_string_lossy(),
            home.join("a/b/c2/d").to_string_lossy(),
            home.join("scratch").to_string_lossy()
        ]
    );
    assert_eq!(check.repos[0].uncommitted.len(), 7);
    assert!(
        check.repos[2].is_clean(),
        "a repository without commits is clean"
    );
    assert_eq!(
        check.describe(),
        "~/a/b/c:\n  uncommitted: ?? new0.txt, ?? new1.txt, ?? new2.txt, ?? new3.txt, \
         ?? new4.txt, and 2 more"
    );
}

#[test]
fn work_check_covers_a_declared_workdir_outside_the_home_and_below_the_scan() {
    if !tools() {
        return;
    }
    let world = World::new();
    let outside = world.root.path().join("elsewhere/app");
    world.git(
        world.root.path(),
        &[
            "clone",
            "-q",
            world.root.path().join("origin.git").to_str().unwrap(),
            outside.to_str().unwrap(),
        ],
    );
    std::fs::write(outside.join("unsaved.txt"), "x").unwrap();
    let deep = world.clone("src/github.com/acme/a/b/c/d/e/app");
    std::fs::write(deep.join("deep.txt"), "x").unwrap();

    let undeclared = world.check();
    assert!(undeclared.is_clean(), "{}", undeclared.describe());

    let declared = world.check_declaring(&[
        outside.to_str().unwrap(),
        "src/github.com/acme/a/b/c/d/e/app",
    ]);
    assert!(!declared.is_clean());
    let paths: Vec<&str> = declared
        .repos
        .iter()
        .map(|repo| repo.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [outside.to_str().unwrap(), deep.to_str().unwrap()],
        "each declared repository is checked once"
    );
    assert_eq!(declared.repos[0].uncommitted, ["?? unsaved.txt"]);
    assert_eq!(declared.repos[1].uncommitted, ["?? deep.txt"]);
    let missing = world.check_declaring(&["not-cloned-yet"]);
    assert!(
        missing.is_clean(),
        "a declared directory without a repository is no work"
    );
}

#[test]
fn work_check_without_a_home_directory_is_not_clean() {
    if !tools() {
        return;
    }
    let world = World::new();
    let output = clean("bash", &world.root.path().join("absent"))
        .arg("-c")
        .arg(worktree_check_script())
        .output()
        .unwrap();
    let check = parse_worktree_check(&String::from_utf8(output.stdout).unwrap());
    assert!(!check.is_clean());
    assert!(check.describe().contains("did not finish"));
}
