//! The work-loss guard fails closed: stopped sandboxes are started, checked and stopped again;
//! declared workdirs deep in the home or outside it are checked; a sandbox that cannot be checked
//! is not removed without `--force`; a sandbox whose setup never finished holds no work. Real
//! binary, `local` provider, real git.

use ralph_town::provider::local::LocalProvider;
use ralph_town::provider::{Provider, SandboxState};
use ralph_town::vocabulary::labels;

use crate::common::{World, have};

fn ready() -> bool {
    have("git") && have("bash")
}

/// A world whose one teammate, alice, is up (cloned from a fresh origin, in `workdir` when
/// given); `None` (the test skips, or fails under `CI=true`) without git and bash.
fn staffed(workdir: Option<&str>) -> Option<World> {
    if !ready() {
        return None;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    let workdir = workdir
        .map(|dir| format!("workdir = \"{dir}\"\n"))
        .unwrap_or_default();
    world.file(
        "team.toml",
        &format!(
            "name = \"crew\"\n[defaults]\nrepo = \"{}\"\nbase_branch = \"main\"\n{workdir}\
             [[teammate]]\nname = \"alice\"\nbranch = \"feature/a\"\n",
            origin.display()
        ),
    );
    world.run(&["up"]).success();
    Some(world)
}

/// Leaves an uncommitted file in alice's clone.
fn leave_work(world: &World) {
    world
        .run(&[
            "exec",
            "alice",
            "--",
            "sh",
            "-c",
            "echo draft > unsaved-notes.txt",
        ])
        .success();
}

fn provider(world: &World) -> LocalProvider {
    LocalProvider::new(world.state()).unwrap()
}

async fn only_sandbox(world: &World) -> ralph_town::provider::Sandbox {
    let all = provider(world).list(&Default::default()).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    all.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_sandbox_with_work_is_started_checked_and_not_deleted() {
    let Some(world) = staffed(None) else {
        return;
    };
    leave_work(&world);
    let sandbox = only_sandbox(&world).await;
    provider(&world).stop(&sandbox.id).await.unwrap();

    let down = world.run(&["down"]);
    assert_eq!(down.code, 4, "{down:?}");
    assert!(down.stderr.contains("unsaved-notes.txt"), "{down:?}");
    assert!(down.stderr.contains("is stopped"), "{down:?}");
    // Still there, and stopped again as it was.
    let after = only_sandbox(&world).await;
    assert_eq!(after.state, SandboxState::Stopped);
    world.run(&["down", "--force"]).success();
    assert!(world.sandbox_dirs().is_empty());
}

#[test]
fn work_in_a_deep_declared_workdir_blocks_a_recreate() {
    let Some(world) = staffed(Some("src/github.com/acme/a/b/c/d/e/app")) else {
        return;
    };
    leave_work(&world);
    let recreate = world.run(&["up", "--force-recreate", "--yes"]);
    assert_eq!(recreate.code, 4, "{recreate:?}");
    assert!(
        recreate.stderr.contains("unsaved-notes.txt"),
        "{recreate:?}"
    );
    assert_eq!(world.sandbox_dirs().len(), 1, "nothing was recreated");
    world.run(&["down", "--force"]).success();
}

#[test]
fn work_in_an_absolute_workdir_outside_the_home_blocks_down() {
    if !have("bwrap") {
        return;
    }
    // Under bubblewrap `/tmp` is the sandbox's own, and persists with it.
    let Some(world) = staffed(Some("/tmp/app")) else {
        return;
    };
    leave_work(&world);
    let down = world.run(&["down"]);
    assert_eq!(down.code, 4, "{down:?}");
    assert!(down.stderr.contains("unsaved-notes.txt"), "{down:?}");
    world.run(&["down", "--force"]).success();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_that_cannot_be_checked_is_not_deleted_without_force() {
    let Some(world) = staffed(None) else {
        return;
    };
    let sandbox = only_sandbox(&world).await;
    // The check runs `bash` with `git`; a home that git cannot read makes it fail.
    let home = world
        .state()
        .join("sandboxes")
        .join(&sandbox.id)
        .join("home");
    let clone = std::fs::read_dir(&home)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.join(".git").is_dir())
        .expect("a clone");
    std::fs::write(clone.join(".git/HEAD"), "not a ref\n").unwrap();
    let down = world.run(&["down"]);
    assert_eq!(down.code, 4, "{down:?}");
    assert!(
        down.stderr.contains("not checked") || down.stderr.contains("failed"),
        "{down:?}"
    );
    assert_eq!(world.sandbox_dirs().len(), 1);
    world.run(&["down", "--force"]).success();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_whose_setup_never_finished_holds_no_work() {
    let Some(world) = staffed(None) else {
        return;
    };
    leave_work(&world);
    // As if `up` had been killed before setup recorded its outcome.
    let sandbox = only_sandbox(&world).await;
    let mut labels = sandbox.labels.clone();
    labels.remove(labels::SETUP);
    provider(&world)
        .set_labels(&sandbox.id, &labels)
        .await
        .unwrap();
    world.run(&["down"]).success();
    assert!(world.sandbox_dirs().is_empty());
}
