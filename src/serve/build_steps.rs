//! The steps of an image build, one Dockerfile instruction at a time: stages (`FROM`), variables
//! (`ARG`, `ENV`), the working directory, the user, the shell, `RUN`, and `COPY`/`ADD` from the
//! build context or (`--from`) from an earlier stage's result.
//! Each command runs through the provider's layer build; this file decides what runs, with what
//! environment and as whom, and never interpolates Dockerfile text into a script (sources and
//! destinations travel as arguments).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::build::Job;
use super::build_context::Context;
use super::dockerfile::{self, Command, Instruction};
use super::state::AppState;
use crate::provider::local::{BUILD_CONTEXT, ImageConfig, LayerBuild};

/// Applies every step of the Dockerfile to the layer; the image's configuration when all pass.
pub(crate) async fn apply(
    state: &AppState,
    build: &mut LayerBuild,
    job: &Job,
) -> Result<ImageConfig, String> {
    let note =
        |build: &mut LayerBuild, line: String| build.note(&line).map_err(|error| error.to_string());
    let steps = dockerfile::parse(&job.dockerfile).map_err(|error| error.to_string())?;
    unpack_contexts(state, build, job).await?;
    let mut context = Context::root(BTreeMap::new());
    let stages: Vec<Option<&str>> = steps
        .iter()
        .filter_map(|step| match &step.instruction {
            Instruction::From { name, .. } => Some(name.as_deref()),
            _ => None,
        })
        .collect();
    // `ARG`s before the first `FROM` reach every stage; the rest of a stage's settings do not.
    let mut globals = BTreeMap::new();
    let mut stage = 0;
    let mut current = None;
    let mut base = "";
    let total = steps.len();
    for (index, step) in steps.iter().enumerate() {
        note(build, format!("Step {}/{total} : {}", index + 1, step.text))?;
        match &step.instruction {
            Instruction::From { image, name } => {
                context.enter_stage(&mut globals, stage == 0);
                base = image.as_str();
                note(
                    build,
                    format!(
                        " ---> `{image}` cannot be pulled here (no container engine, and builds have no network): building on this machine's root file system instead"
                    ),
                )?;
                current = (stage + 1 < stages.len()).then_some(stage);
                match current {
                    Some(earlier) => build
                        .begin_stage(earlier)
                        .await
                        .map_err(|error| error.to_string())?,
                    None => build.enter(None),
                }
                if stages.len() > 1 {
                    let named = name
                        .as_ref()
                        .map(|name| format!(" `{name}`"))
                        .unwrap_or_default();
                    let role = if current.is_some() {
                        "its own layer over this machine's root file system"
                    } else {
                        "the image"
                    };
                    note(
                        build,
                        format!(
                            " ---> stage {} of {}{named}: {role}",
                            stage + 1,
                            stages.len()
                        ),
                    )?;
                }
                stage += 1;
            }
            Instruction::Arg { name, default } => context.arg(name, default.as_deref()),
            Instruction::Env(pairs) => context.set_env(pairs),
            Instruction::Workdir(path) => {
                let path = dockerfile::expand(path, &context.variables());
                let workdir = absolute(context.cwd(), &path);
                let program = ["mkdir".to_string(), "-p".to_string(), workdir.clone()];
                context.workdir = Some(workdir);
                step_run(build, &context, &program, "/", step.line).await?;
            }
            Instruction::User(spec) => {
                context
                    .set_user(spec)
                    .map_err(|message| format!("Dockerfile line {}: {message}", step.line))?;
                // The image's sandboxes run as its final user only when a local sandbox can be
                // that user (`build_context::image_user`); the log says so where it cannot.
                if current.is_none() && ![0, 1000].contains(&context.user.0) {
                    note(
                        build,
                        format!(
                            " ---> the steps below run as `{spec}`; sandboxes of this image run as `daytona` (a local sandbox runs as `root` or `daytona`)"
                        ),
                    )?;
                }
            }
            Instruction::Shell(shell) => context.shell = shell.clone(),
            Instruction::Entrypoint(command) => {
                context.set_entrypoint(command);
                // What sandboxes run is read from the Dockerfile (`image_entrypoint`); the log
                // says what the final stage's entrypoint is as it is set.
                if current.is_none() {
                    let said = match &context.entrypoint {
                        Some(words) => format!(
                            "sandboxes of this image run `{}` in their `entrypoint` session when they start",
                            super::entrypoint::command_line(words)
                        ),
                        None => "sandboxes of this image run no entrypoint".to_string(),
                    };
                    note(build, format!(" ---> {said}"))?;
                }
            }
            Instruction::Run(command) => {
                let program = match command {
                    Command::Shell(text) => {
                        let mut program = context.shell.clone();
                        program.push(text.clone());
                        program
                    }
                    Command::Exec(words) => words.clone(),
                };
                let workdir = context.cwd().to_string();
                step_run(build, &context, &program, &workdir, step.line)
                    .await
                    .map_err(|error| local_base_hint(error, base))?;
            }
            Instruction::Copy {
                sources,
                destination,
                add,
                ignored,
                from,
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
                let inside = match from {
                    None => from_context(build, &sources, step.line)?,
                    Some(earlier) => {
                        let named = stages[*earlier]
                            .map(|name| format!(" `{name}`"))
                            .unwrap_or_default();
                        note(build, format!(" ---> from stage {}{named}", earlier + 1))?;
                        build.enter(Some(*earlier));
                        let taken = from_stage(build, &sources, step.line).await;
                        build.enter(current);
                        taken?
                    }
                };
                copy(build, &context, inside, &destination, *add, step.line)
                    .await
                    .map_err(|error| local_base_hint(error, base))?;
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
        workdir: context.workdir,
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

/// Why a `RUN` or `COPY` step failed, when the cause is that this machine's root file system
/// stands in for the base image: a program the image would have had is missing (exit code 127:
/// `python` of `python:3.12-slim`, which the SDKs' `pip_install` steps call), or a path outside
/// what a layer keeps is read-only (`/.requirements.txt`, where `pip_install_from_requirements`
/// copies its file). Other failures pass unchanged.
fn local_base_hint(error: String, base: &str) -> String {
    let why = if error.contains("exited with code 127") {
        "the steps run on this machine's root file system, which lacks that program, and have no network to install it"
    } else if error.contains("Read-only file system") {
        "the steps run on this machine's root file system, and an image keeps only what they write below `/etc`, `/opt`, `/srv`, `/usr`, `/var`, `/root` and `/home/daytona`"
    } else {
        return error;
    };
    format!("{error} (`{base}` is not pulled here: {why})")
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

/// Where the build's steps see `sources` of the build context.
fn from_context(
    build: &LayerBuild,
    sources: &[String],
    line: usize,
) -> Result<Vec<String>, String> {
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
    Ok(inside)
}

/// Copies `sources` (paths of the stage the build is in, an earlier one) out to the build's
/// shared `/tmp`, where the stage copying them finds them; where each went, in order.
async fn from_stage(
    build: &LayerBuild,
    sources: &[String],
    line: usize,
) -> Result<Vec<String>, String> {
    let out = format!("{FROM_STAGES}/{line}");
    let mut program = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        COPY_OUT_SCRIPT.to_string(),
        "copy-out".to_string(),
        out.clone(),
    ];
    let mut inside = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let path = absolute("/", source);
        let Some(name) = Path::new(&path).file_name() else {
            return Err(format!(
                "Dockerfile line {line}: copying a whole stage (`{source}`) is not supported"
            ));
        };
        inside.push(format!("{out}/{index}/{}", name.to_string_lossy()));
        program.push(path);
    }
    step_run(build, &Context::root(BTreeMap::new()), &program, "/", line).await?;
    Ok(inside)
}

/// Where files taken from an earlier stage wait in the build's shared `/tmp`.
const FROM_STAGES: &str = "/tmp/.build-from";

/// Copies each source (arguments after the output directory) to `<out>/<its index>/`, keeping
/// its name; a missing source fails the step with `cp`'s own words.
const COPY_OUT_SCRIPT: &str = r#"set -e
out=$1; shift; index=0
for src in "$@"; do
  mkdir -p "$out/$index"; cp -a "$src" "$out/$index/"; index=$((index + 1))
done
"#;

async fn copy(
    build: &mut LayerBuild,
    context: &Context,
    inside: Vec<String>,
    destination: &str,
    add: bool,
    line: usize,
) -> Result<(), String> {
    let destination_path = absolute(context.cwd(), destination);
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
    let context = Context::root(BTreeMap::new());
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
    use super::local_base_hint;

    #[test]
    fn a_step_failing_for_the_local_base_says_so_and_others_pass_unchanged() {
        let missing = local_base_hint(
            "the step at Dockerfile line 2 exited with code 127: /bin/sh: 1: python: not found"
                .to_string(),
            "python:3.12-slim",
        );
        assert!(
            missing.ends_with("(`python:3.12-slim` is not pulled here: the steps run on this machine's root file system, which lacks that program, and have no network to install it)"),
            "{missing}"
        );
        let read_only = local_base_hint(
            "the step at Dockerfile line 2 exited with code 1: cp: cannot create regular file '/.requirements.txt': Read-only file system".to_string(),
            "debian:12",
        );
        assert!(read_only.contains("below `/etc`"), "{read_only}");
        let other = "the step at Dockerfile line 3 exited with code 3: boom";
        assert_eq!(local_base_hint(other.to_string(), "debian:12"), other);
    }

    use super::*;

    #[test]
    fn paths_and_wildcards() {
        assert_eq!(absolute("/app", "src/../bin"), "/app/bin");
        assert_eq!(absolute("/app", "/etc/x"), "/etc/x");
        assert_eq!(absolute("/", "../../etc"), "/etc");
        assert!(wildcard("*.txt", "a.txt"));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("*.txt", "a.txt.bak"));
    }
}
