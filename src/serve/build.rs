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

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use sha2::Digest as _;

use super::dockerfile::{self, Command, Instruction};
use super::state::{AppState, BuildPhase, iso, now};
use crate::daytona_api::SnapshotState;
use crate::provider::local::{BUILD_CONTEXT, ImageConfig, LayerBuild, LocalProvider};

/// Docker's default `PATH` in a Linux image.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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

/// Runs `job` in the background.
pub(crate) fn spawn(state: &Arc<AppState>, job: Job) {
    let state = state.clone();
    tokio::spawn(async move { run(&state, job).await });
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
        spawn(state, job);
    }
}

async fn run(state: &AppState, job: Job) {
    set_phase(state, &job.target, BuildPhase::Building).await;
    let outcome = match &state.local {
        None => Err("images are built by the local provider only".to_string()),
        Some(local) => build(state, local, &job).await,
    };
    let outcome = match (outcome, &state.local) {
        (Ok(()), Some(local)) => publish(state, local, &job).await,
        (outcome, _) => outcome,
    };
    let phase = match outcome {
        Ok(()) => BuildPhase::Built,
        Err(reason) => BuildPhase::Failed(reason),
    };
    set_phase(state, &job.target, phase).await;
}

/// Builds the layer of `job`, unless it is built already.
async fn build(state: &AppState, local: &LocalProvider, job: &Job) -> Result<(), String> {
    let Some(mut build) = local
        .begin_build(&job.hash)
        .await
        .map_err(|error| error.to_string())?
    else {
        return Ok(());
    };
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
async fn publish(state: &AppState, local: &LocalProvider, job: &Job) -> Result<(), String> {
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

async fn set_phase(state: &AppState, target: &Target, phase: BuildPhase) {
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

/// The build's variables and settings as the steps go.
struct Context {
    args: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    workdir: String,
    user: (u32, String),
    shell: Vec<String>,
}

impl Context {
    fn variables(&self) -> BTreeMap<String, String> {
        let mut variables = self.args.clone();
        variables.extend(self.env.clone());
        variables
    }

    /// The environment of a step: Docker's defaults, then `ARG`s, then `ENV`.
    fn environment(&self) -> BTreeMap<String, String> {
        let (uid, name) = &self.user;
        let home = if *uid == 0 { "/root" } else { "/home/daytona" };
        let mut environment = BTreeMap::from([
            ("HOME".to_string(), home.to_string()),
            ("PATH".to_string(), DEFAULT_PATH.to_string()),
            ("USER".to_string(), name.clone()),
            ("LOGNAME".to_string(), name.clone()),
        ]);
        environment.extend(self.variables());
        environment
    }
}

/// Applies every step of the Dockerfile to the layer; the image's configuration when all pass.
async fn apply(state: &AppState, build: &mut LayerBuild, job: &Job) -> Result<ImageConfig, String> {
    let note =
        |build: &mut LayerBuild, line: String| build.note(&line).map_err(|error| error.to_string());
    let steps = dockerfile::parse(&job.dockerfile).map_err(|error| error.to_string())?;
    unpack_contexts(state, build, job).await?;
    let mut context = Context {
        args: BTreeMap::new(),
        env: BTreeMap::new(),
        workdir: "/".to_string(),
        user: (0, "root".to_string()),
        shell: vec!["/bin/sh".to_string(), "-c".to_string()],
    };
    let total = steps.len();
    for (index, step) in steps.iter().enumerate() {
        note(build, format!("Step {}/{total} : {}", index + 1, step.text))?;
        match &step.instruction {
            Instruction::From { image } => note(
                build,
                format!(
                    " ---> `{image}` cannot be pulled here (no container engine, and builds have no network): building on this machine's root file system instead"
                ),
            )?,
            Instruction::Arg { name, default } => {
                let value = default
                    .as_deref()
                    .map(|value| dockerfile::expand(value, &context.variables()))
                    .unwrap_or_default();
                context.args.entry(name.clone()).or_insert(value);
            }
            Instruction::Env(pairs) => {
                for (name, value) in pairs {
                    let value = dockerfile::expand(value, &context.variables());
                    context.env.insert(name.clone(), value);
                }
            }
            Instruction::Workdir(path) => {
                let path = dockerfile::expand(path, &context.variables());
                context.workdir = absolute(&context.workdir, &path);
                let program = [
                    "mkdir".to_string(),
                    "-p".to_string(),
                    context.workdir.clone(),
                ];
                step_run(build, &context, &program, "/", step.line).await?;
            }
            Instruction::User(spec) => {
                context.user = user(&dockerfile::expand(spec, &context.variables()))
                    .map_err(|message| format!("Dockerfile line {}: {message}", step.line))?;
            }
            Instruction::Shell(shell) => context.shell = shell.clone(),
            Instruction::Run(command) => {
                let program = match command {
                    Command::Shell(text) => {
                        let mut program = context.shell.clone();
                        program.push(text.clone());
                        program
                    }
                    Command::Exec(words) => words.clone(),
                };
                let workdir = context.workdir.clone();
                step_run(build, &context, &program, &workdir, step.line).await?;
            }
            Instruction::Copy {
                sources,
                destination,
                add,
                ignored,
            } => {
                for flag in ignored {
                    note(
                        build,
                        format!(
                            " ---> `{flag}` is not honoured: copied files belong to the build's user"
                        ),
                    )?;
                }
                let variables = context.variables();
                let sources = sources
                    .iter()
                    .map(|source| dockerfile::expand(source, &variables))
                    .collect::<Vec<_>>();
                let destination = dockerfile::expand(destination, &variables);
                copy(build, &context, &sources, &destination, *add, step.line).await?;
            }
            Instruction::Metadata(keyword) => note(
                build,
                format!(
                    " ---> `{keyword}` is image metadata for a container runtime: nothing to apply"
                ),
            )?,
        }
    }
    Ok(ImageConfig {
        env: context.env,
        workdir: Some(context.workdir),
        user: Some(context.user.1),
    })
}

async fn step_run(
    build: &LayerBuild,
    context: &Context,
    program: &[String],
    cwd: &str,
    line: usize,
) -> Result<(), String> {
    let code = build
        .run(program, cwd, context.environment(), context.user.0)
        .await
        .map_err(|error| error.to_string())?;
    if code != 0 {
        let said = build
            .last_line()
            .map(|said| format!(": {said}"))
            .unwrap_or_default();
        return Err(format!(
            "the step at Dockerfile line {line} exited with code {code}{said}"
        ));
    }
    Ok(())
}

/// `path` against the working directory, lexically normalized.
fn absolute(workdir: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        Path::new(workdir).join(path)
    };
    let mut normal = PathBuf::from("/");
    for component in joined.components() {
        match component {
            Component::Normal(part) => normal.push(part),
            Component::ParentDir => {
                normal.pop();
            }
            _ => {}
        }
    }
    normal.to_string_lossy().into_owned()
}

/// `USER`: root, the sandbox user `daytona`, a uid, or a user of this machine.
fn user(spec: &str) -> Result<(u32, String), String> {
    let name = spec.split(':').next().unwrap_or_default();
    match name {
        "root" | "0" => return Ok((0, "root".to_string())),
        "daytona" => return Ok((1000, "daytona".to_string())),
        _ => {}
    }
    if let Ok(uid) = name.parse::<u32>() {
        return Ok((uid, name.to_string()));
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let user = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            (user == name).then(|| (uid, user.to_string()))
        })
        .next()
        .ok_or_else(|| {
            format!("`USER {spec}`: no such user (use `root`, `daytona`, a uid or a user of this machine)")
        })
}

/// The script that copies sources into a destination, as `COPY` and `ADD` do: positional
/// arguments are the destination, whether it is a directory, whether archives unpack (`ADD`),
/// then the sources. Nothing of the Dockerfile is interpolated into it.
const COPY_SCRIPT: &str = r#"set -e
dest=$1; into=$2; unpack=$3; shift 3
if [ "$into" = 1 ]; then mkdir -p "$dest"; fi
for src in "$@"; do
  case "$src" in *.tar|*.tar.gz|*.tgz|*.tar.xz|*.txz|*.tar.bz2|*.tbz2) archive=$unpack ;; *) archive=0 ;; esac
  if [ "$archive" = 1 ] && [ -f "$src" ]; then mkdir -p "$dest"; tar -xf "$src" -C "$dest"
  elif [ -d "$src" ]; then mkdir -p "$dest"; cp -a "$src/." "$dest/"
  elif [ -d "$dest" ]; then cp -a "$src" "$dest/"
  else mkdir -p "$(dirname "$dest")"; cp -a "$src" "$dest"; fi
done
"#;

async fn copy(
    build: &mut LayerBuild,
    context: &Context,
    sources: &[String],
    destination: &str,
    add: bool,
    line: usize,
) -> Result<(), String> {
    let root = build.context_dir();
    let mut inside = Vec::new();
    for source in sources {
        if source.contains("://") {
            return Err(format!(
                "Dockerfile line {line}: `ADD {source}` needs the network, which builds here do not have"
            ));
        }
        let relative = absolute("/", source);
        let relative = relative.trim_start_matches('/');
        let matches = matching(&root, relative);
        if matches.is_empty() {
            return Err(format!(
                "Dockerfile line {line}: `{source}` is not in the build context"
            ));
        }
        inside.extend(
            matches
                .iter()
                .map(|found| format!("{BUILD_CONTEXT}/{found}")),
        );
    }
    let destination_path = absolute(&context.workdir, destination);
    let into = destination.ends_with('/') || inside.len() > 1;
    let mut program = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        COPY_SCRIPT.to_string(),
        "copy".to_string(),
        destination_path,
        u8::from(into).to_string(),
        u8::from(add).to_string(),
    ];
    program.extend(inside);
    step_run(build, context, &program, "/", line).await
}

/// The paths of the context matching `pattern` (`*` and `?` in its last part), relative.
fn matching(root: &Path, pattern: &str) -> Vec<String> {
    if pattern.is_empty() {
        return vec![String::new()];
    }
    let (parent, last) = match pattern.rsplit_once('/') {
        Some((parent, last)) => (parent, last),
        None => ("", pattern),
    };
    if !last.contains(['*', '?']) {
        return if std::fs::symlink_metadata(root.join(pattern)).is_ok() {
            vec![pattern.to_string()]
        } else {
            Vec::new()
        };
    }
    let Ok(entries) = std::fs::read_dir(root.join(parent)) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| wildcard(last, name))
        .map(|name| {
            if parent.is_empty() {
                name
            } else {
                format!("{parent}/{name}")
            }
        })
        .collect();
    found.sort();
    found
}

fn wildcard(pattern: &str, name: &str) -> bool {
    let (pattern, name): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), name.chars().collect());
    fn matches(pattern: &[char], name: &[char]) -> bool {
        match (pattern.first(), name.first()) {
            (None, None) => true,
            (Some('*'), _) => {
                matches(&pattern[1..], name) || (!name.is_empty() && matches(pattern, &name[1..]))
            }
            (Some('?'), Some(_)) => matches(&pattern[1..], &name[1..]),
            (Some(p), Some(n)) if p == n => matches(&pattern[1..], &name[1..]),
            _ => false,
        }
    }
    matches(&pattern, &name)
}

/// Unpacks the uploaded build contexts into the build's context directory, inside the build
/// sandbox (an archive's links then cannot lead outside it).
async fn unpack_contexts(
    state: &AppState,
    build: &mut LayerBuild,
    job: &Job,
) -> Result<(), String> {
    std::fs::create_dir_all(build.context_dir()).map_err(|error| error.to_string())?;
    if job.context_hashes.is_empty() {
        return Ok(());
    }
    let organization = state.store.read(|records| records.organization_id.clone());
    let archives = build.archives_dir();
    std::fs::create_dir_all(&archives).map_err(|error| error.to_string())?;
    for (index, hash) in job.context_hashes.iter().enumerate() {
        let uploaded = state
            .settings
            .objects_dir
            .as_ref()
            .filter(|_| !hash.is_empty() && hash.chars().all(|c| c.is_ascii_alphanumeric()))
            .map(|dir| dir.join(&organization).join(hash).join("context.tar"))
            .filter(|path| path.is_file())
            .ok_or_else(|| format!("the build context `{hash}` was never uploaded"))?;
        std::fs::copy(&uploaded, archives.join(format!("{index}.tar")))
            .map_err(|error| error.to_string())?;
    }
    build
        .own_context()
        .await
        .map_err(|error| error.to_string())?;
    let script = format!(
        "set -e; for archive in /tmp/.build-archives/*.tar; do tar -xf \"$archive\" -C {BUILD_CONTEXT} --no-same-owner; done"
    );
    let context = Context {
        args: BTreeMap::new(),
        env: BTreeMap::new(),
        workdir: "/".to_string(),
        user: (0, "root".to_string()),
        shell: Vec::new(),
    };
    let program = ["/bin/sh".to_string(), "-c".to_string(), script];
    build
        .note(" ---> unpacking the build context")
        .map_err(|error| error.to_string())?;
    step_run(build, &context, &program, "/", 0)
        .await
        .map_err(|error| format!("cannot unpack the build context ({error})"))
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

    #[test]
    fn paths_and_wildcards() {
        assert_eq!(absolute("/app", "src/../bin"), "/app/bin");
        assert_eq!(absolute("/app", "/etc/x"), "/etc/x");
        assert_eq!(absolute("/", "../../etc"), "/etc");
        assert!(wildcard("*.txt", "a.txt"));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("*.txt", "a.txt.bak"));
    }

    #[test]
    fn users_resolve_to_ids() {
        assert_eq!(user("root").unwrap().0, 0);
        assert_eq!(user("daytona:daytona").unwrap().0, 1000);
        assert_eq!(user("1234").unwrap().0, 1234);
        assert!(user("no-such-user-here").is_err());
    }
}
