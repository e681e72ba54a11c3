//! Image builds: a snapshot or a sandbox created from a Dockerfile (`buildInfo`) is built into
//! a layer of the local provider, step by step, and only then turns `active` or `started`.
//!
//! Builds are keyed by Daytona's image hash (`sha256(dockerfile + sorted context hashes)`,
//! `snapshotRef` `daytona-<hash>:daytona`), so an identical image is built once and reused. The
//! base image of `FROM` cannot be pulled without a container engine: the host's root file
//! system is the base, and the build log says so. Steps run without a network (the same build
//! offline or not, and nothing reaches beyond this machine), so a step that needs one (an
//! `apt-get install`, a `curl` download) fails the build: `build_failed` with the reason, the
//! step's output in the build log; never a silent `active`. This file orchestrates; the provider runs the steps
//! and keeps the layer. It must not print: the log is where a build speaks.

use std::sync::Arc;

use sha2::Digest as _;

use super::build_steps::apply;
use super::entrypoint;
use super::state::{AppState, BuildPhase, iso, now};
use crate::daytona_api::SnapshotState;
use crate::provider::local::ImageLayers;

/// Daytona's hash of an image: the Dockerfile and its build contexts, in any order.
pub(crate) fn image_hash(dockerfile: &str, context_hashes: Option<&Vec<String>>) -> String {
    let mut hashes = context_hashes.cloned().unwrap_or_default();
    hashes.sort();
    hex::encode(sha2::Sha256::digest(format!(
        "{dockerfile}{}",
        hashes.join("")
    )))
}

/// The snapshot name Daytona gives a build: `daytona-<hash>:daytona`.
pub(crate) fn snapshot_ref(hash: &str) -> String {
    format!("daytona-{hash}:daytona")
}

/// The hash back from a `snapshotRef`.
pub(crate) fn hash_of_ref(snapshot_ref: &str) -> Option<&str> {
    snapshot_ref
        .strip_prefix("daytona-")?
        .strip_suffix(":daytona")
}

/// What waits for a build.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Sandbox(String),
    Snapshot(String),
}

/// One build to run.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) target: Target,
    pub(crate) hash: String,
    pub(crate) dockerfile: String,
    pub(crate) context_hashes: Vec<String>,
}

/// The first line of the log of a build that a stop of `serve` cut, when the next `serve`
/// begins it again.
const BEGUN_AGAIN: &str =
    "Build interrupted by a stop of serve: building again from the first step";

/// Runs `job` in the background.
pub(crate) fn spawn(state: &Arc<AppState>, job: Job) {
    spawn_build(state, job, false);
}

/// Runs `job` in the background; `again` when an earlier `serve` left it unfinished.
fn spawn_build(state: &Arc<AppState>, job: Job, again: bool) {
    let state = state.clone();
    tokio::spawn(async move { run(&state, job, again).await });
}

/// Starts again the builds a previous run of the server left unfinished.
pub(crate) fn resume(state: &Arc<AppState>) {
    let (sandboxes, snapshots) = state.store.read(|records| {
        let sandboxes: Vec<Job> = records
            .sandboxes
            .iter()
            .filter(|(_, record)| record.building())
            .filter_map(|(id, record)| {
                let build = record.build.as_ref()?;
                Some(Job {
                    target: Target::Sandbox(id.clone()),
                    hash: build.hash.clone(),
                    dockerfile: build.dockerfile.clone(),
                    context_hashes: build.context_hashes.clone().unwrap_or_default(),
                })
            })
            .collect();
        let snapshots: Vec<Job> = records
            .snapshots
            .iter()
            .filter(|record| {
                matches!(
                    record.dto.state,
                    SnapshotState::Building | SnapshotState::Pending
                )
            })
            .filter_map(|record| {
                let info = record.dto.build_info.as_ref()?;
                Some(Job {
                    target: Target::Snapshot(record.dto.id.clone()),
                    hash: hash_of_ref(&info.snapshot_ref)?.to_string(),
                    dockerfile: info.dockerfile_content.clone()?,
                    context_hashes: info.context_hashes.clone().unwrap_or_default(),
                })
            })
            .collect();
        (sandboxes, snapshots)
    });
    for job in sandboxes.into_iter().chain(snapshots) {
        spawn_build(state, job, true);
    }
}

async fn run(state: &AppState, job: Job, again: bool) {
    set_phase(state, &job.target, BuildPhase::Building);
    let outcome = match state.provider.image_layers() {
        None => Err("images are built by the local provider only".to_string()),
        Some(local) => build(state, local, &job, again).await,
    };
    let outcome = match (outcome, state.provider.image_layers()) {
        (Ok(()), Some(local)) => publish(state, local, &job).await,
        (outcome, _) => outcome,
    };
    // A sandbox waiting for its image starts its entrypoint before it shows as started.
    let outcome = match (outcome, &job.target) {
        (Ok(()), Target::Sandbox(id)) => entrypoint::run(state, id)
            .await
            .map_err(|error| format!("the image's entrypoint could not start: {error}")),
        (outcome, _) => outcome,
    };
    let phase = match outcome {
        Ok(()) => BuildPhase::Built,
        Err(reason) => BuildPhase::Failed(reason),
    };
    set_phase(state, &job.target, phase);
}

/// Builds the layer of `job`, unless it is built already; a build begun `again` says so at
/// the head of its log (the log of the cut attempt is gone: a build's log starts afresh).
async fn build(
    state: &AppState,
    local: &dyn ImageLayers,
    job: &Job,
    again: bool,
) -> Result<(), String> {
    let Some(mut build) = local
        .begin_build(&job.hash)
        .await
        .map_err(|error| error.to_string())?
    else {
        return Ok(());
    };
    if again {
        let _ = build.note(BEGUN_AGAIN);
    }
    match apply(state, &mut build, job).await {
        Ok(image) => {
            let _ = build.note(&format!("Successfully built {}", snapshot_ref(&job.hash)));
            build.finish(image).await.map_err(|error| error.to_string())
        }
        Err(reason) => {
            let _ = build.note(&format!("Build failed: {reason}"));
            let _ = build.fail(&reason).await;
            Err(reason)
        }
    }
}

/// Makes the built layer reachable: the `snapshotRef` (for later builds of the same image),
/// the snapshot's own name, or the sandbox waiting for it.
async fn publish(state: &AppState, local: &dyn ImageLayers, job: &Job) -> Result<(), String> {
    let failed = |error: crate::provider::ProviderError| error.to_string();
    local
        .link_snapshot(&snapshot_ref(&job.hash), &job.hash)
        .await
        .map_err(failed)?;
    match &job.target {
        Target::Sandbox(id) => local.apply_layer(id, &job.hash).await.map_err(failed),
        Target::Snapshot(id) => {
            let name = state.store.read(|records| {
                records
                    .snapshots
                    .iter()
                    .find(|record| &record.dto.id == id)
                    .map(|record| record.dto.name.clone())
            });
            match name {
                Some(name) => local.link_snapshot(&name, &job.hash).await.map_err(failed),
                // Deleted while it was built: the layer stays as the cache.
                None => Ok(()),
            }
        }
    }
}

fn set_phase(state: &AppState, target: &Target, phase: BuildPhase) {
    let now = now();
    match target {
        Target::Sandbox(id) => {
            let _ = state.store.write(|records| {
                if let Some(build) = records
                    .sandboxes
                    .get_mut(id)
                    .and_then(|record| record.build.as_mut())
                {
                    build.phase = phase.clone();
                }
                if let Some(record) = records.sandboxes.get_mut(id) {
                    record.updated_at = now;
                }
            });
        }
        Target::Snapshot(id) => {
            let _ = state.store.write(|records| {
                let Some(record) = records
                    .snapshots
                    .iter_mut()
                    .find(|record| &record.dto.id == id)
                else {
                    return;
                };
                let (shown, reason) = match &phase {
                    BuildPhase::Pending => (SnapshotState::Pending, None),
                    BuildPhase::Building => (SnapshotState::Building, None),
                    BuildPhase::Built => (SnapshotState::Active, None),
                    BuildPhase::Failed(reason) => {
                        (SnapshotState::BuildFailed, Some(reason.clone()))
                    }
                };
                record.dto.state = shown;
                record.dto.error_reason = reason;
                record.dto.updated_at = iso(now);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_hashes_ignore_the_order_of_contexts() {
        let one = image_hash("FROM a:1\n", Some(&vec!["b".into(), "a".into()]));
        let two = image_hash("FROM a:1\n", Some(&vec!["a".into(), "b".into()]));
        assert_eq!(one, two);
        assert_eq!(hash_of_ref(&snapshot_ref(&one)), Some(one.as_str()));
        assert_ne!(one, image_hash("FROM a:1\n", None));
    }
}
