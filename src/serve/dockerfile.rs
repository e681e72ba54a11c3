//! Reading a Dockerfile into the steps `serve` can apply without a container engine: stages
//! (`FROM <image> [AS <name>]`), `RUN`, `ENV`, `ARG`, `WORKDIR`, `USER`, `COPY` (also
//! `--from=<earlier stage>`), `ADD`, `SHELL` and `ENTRYPOINT` (which the image's sandboxes run);
//! the image metadata that only a container runtime uses (`CMD`, `LABEL`, `EXPOSE`, ...) is kept
//! as a step that changes nothing.
//!
//! Pure: no file, no process. What cannot be applied (`COPY --from` an image, heredocs, an
//! unknown instruction) is an error naming its line, so that a build fails with the reason
//! instead of silently doing less.

use std::collections::BTreeMap;

/// One instruction, with the line it starts on and its text as written (for the build log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) line: usize,
    pub(crate) text: String,
    pub(crate) instruction: Instruction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Instruction {
    /// The start of a stage, named by `AS` or not.
    From {
        image: String,
        name: Option<String>,
    },
    /// Shell form (run by the `SHELL`) or exec form.
    Run(Command),
    Env(Vec<(String, String)>),
    Arg {
        name: String,
        default: Option<String>,
    },
    Workdir(String),
    User(String),
    /// `COPY` or `ADD` (`add`): sources in the build context, then the destination.
    Copy {
        sources: Vec<String>,
        destination: String,
        add: bool,
        /// Flags that cannot be honoured here (`--chown`, `--chmod`), for the log.
        ignored: Vec<String>,
        /// `--from`: the index of the earlier stage the sources are taken from.
        from: Option<usize>,
    },
    Shell(Vec<String>),
    /// What the image's sandboxes run when they start: exec form, or shell form (run by the
    /// `SHELL`, as Docker does).
    Entrypoint(Command),
    /// Image metadata for a container runtime (`CMD`, `LABEL`, ...): nothing to apply.
    Metadata(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Shell(String),
    Exec(Vec<String>),
}

/// Why a Dockerfile cannot be built here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Dockerfile line {line}: {message}")]
pub(crate) struct DockerfileError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

fn error(line: usize, message: impl Into<String>) -> DockerfileError {
    DockerfileError {
        line,
        message: message.into(),
    }
}

const METADATA: [&str; 8] = [
    "CMD",
    "LABEL",
    "EXPOSE",
    "VOLUME",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "ONBUILD",
    "MAINTAINER",
];

/// The steps of `text`, in order.
pub(crate) fn parse(text: &str) -> Result<Vec<Step>, DockerfileError> {
    let mut steps = Vec::new();
    // The stages so far, by name when they have one.
    let mut stages: Vec<Option<String>> = Vec::new();
    for (line, logical) in logical_lines(text)? {
        let (keyword, rest) = match logical.split_once(char::is_whitespace) {
            Some((keyword, rest)) => (keyword, rest.trim()),
            None => (logical.as_str(), ""),
        };
        let keyword = keyword.to_ascii_uppercase();
        let mut instruction = instruction(line, &keyword, rest)?;
        match &mut instruction {
            Instruction::From { name, .. } => {
                if let Some(name) = name
                    && stages.iter().flatten().any(|earlier| earlier == name)
                {
                    return Err(error(line, format!("a stage is already named `{name}`")));
                }
                stages.push(name.clone());
            }
            Instruction::Copy { from, .. } => {
                if let Some(reference) = from_flag(rest) {
                    *from = Some(stage_index(line, &reference, &stages)?);
                }
            }
            _ => {}
        }
        steps.push(Step {
            line,
            text: logical.clone(),
            instruction,
        });
    }
    let first = steps
        .iter()
        .find(|step| !matches!(step.instruction, Instruction::Arg { .. }));
    match first {
        Some(Step {
            instruction: Instruction::From { .. },
            ..
        }) => Ok(steps),
        Some(step) => Err(error(step.line, "the first instruction must be `FROM`")),
        None => Err(error(1, "no `FROM`: the Dockerfile is empty")),
    }
}

/// Lines with their continuations joined, comments and blank lines dropped; each with the
/// number of its first line.
fn logical_lines(text: &str) -> Result<Vec<(usize, String)>, DockerfileError> {
    let mut lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = raw.trim();
        if current.is_none() && trimmed.to_ascii_lowercase().starts_with("# escape=") {
            let escape = trimmed["# escape=".len()..].trim();
            if escape != "\\" {
                return Err(error(
                    number,
                    "only `\\` is supported as the escape character",
                ));
            }
        }
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_none()) {
            continue;
        }
        let (content, continues) = match trimmed.strip_suffix('\\') {
            Some(content) => (content, true),
            None => (trimmed, false),
        };
        let (start, mut joined) = current.take().unwrap_or((number, String::new()));
        if !joined.is_empty() && !content.is_empty() {
            joined.push(' ');
        }
        joined.push_str(content.trim_end());
        if continues {
            current = Some((start, joined));
        } else if !joined.trim().is_empty() {
            lines.push((start, joined.trim().to_string()));
        }
    }
    if let Some((start, joined)) = current
        && !joined.trim().is_empty()
    {
        lines.push((start, joined.trim().to_string()));
    }
    Ok(lines)
}

fn instruction(line: usize, keyword: &str, rest: &str) -> Result<Instruction, DockerfileError> {
    let (flags, rest) = split_flags(rest);
    match keyword {
        "FROM" => {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = match words[..] {
                [] => return Err(error(line, "`FROM` names no image")),
                [_] => None,
                [_, keyword, name] if keyword.eq_ignore_ascii_case("AS") && valid_stage(name) => {
                    Some(name.to_ascii_lowercase())
                }
                _ => {
                    return Err(error(
                        line,
                        "`FROM` takes an image and optionally `AS <name>` (letters, digits, `-`, `_`, `.`)",
                    ));
                }
            };
            Ok(Instruction::From {
                image: words[0].to_string(),
                name,
            })
        }
        "RUN" => {
            if rest.contains("<<") && heredoc(rest) {
                return Err(error(line, "heredocs in `RUN` are not supported"));
            }
            if rest.is_empty() {
                return Err(error(line, "`RUN` has no command"));
            }
            Ok(Instruction::Run(match json_array(rest) {
                Some(words) => Command::Exec(words),
                None => Command::Shell(rest.to_string()),
            }))
        }
        "ENV" => env(line, rest).map(Instruction::Env),
        "ARG" => {
            let (name, default) = match rest.split_once('=') {
                Some((name, default)) => (name, Some(unquote(line, default)?)),
                None => (rest, None),
            };
            if !valid_name(name) {
                return Err(error(line, format!("invalid `ARG` name `{name}`")));
            }
            Ok(Instruction::Arg {
                name: name.to_string(),
                default,
            })
        }
        "WORKDIR" if !rest.is_empty() => Ok(Instruction::Workdir(unquote(line, rest)?)),
        "USER" if !rest.is_empty() => Ok(Instruction::User(rest.to_string())),
        "COPY" | "ADD" => {
            let mut ignored = Vec::new();
            for flag in &flags {
                let name = flag.split('=').next().unwrap_or_default();
                match name {
                    // Resolved to a stage by `parse`, which knows the stages before this line.
                    "--from" => {}
                    "--chown" | "--chmod" => ignored.push(flag.clone()),
                    "--link" | "--parents" | "--checksum" | "--keep-git-dir" | "--exclude" => {}
                    _ => return Err(error(line, format!("unknown flag `{flag}`"))),
                }
            }
            let mut words = match json_array(rest) {
                Some(words) => words,
                None => shlex::split(rest).ok_or_else(|| error(line, "unbalanced quotes"))?,
            };
            if words.len() < 2 {
                return Err(error(
                    line,
                    format!("`{keyword}` needs a source and a destination"),
                ));
            }
            let destination = words.pop().unwrap_or_default();
            Ok(Instruction::Copy {
                sources: words,
                destination,
                add: keyword == "ADD",
                ignored,
                from: None,
            })
        }
        // Docker's: a JSON array is the exec form (`[]` clears it); anything else, shell form.
        "ENTRYPOINT" if rest.is_empty() => Err(error(line, "`ENTRYPOINT` has no command")),
        "ENTRYPOINT" => Ok(Instruction::Entrypoint(match json_array(rest) {
            Some(words) => Command::Exec(words),
            None => Command::Shell(rest.to_string()),
        })),
        "SHELL" => match json_array(rest) {
            Some(words) if !words.is_empty() => Ok(Instruction::Shell(words)),
            _ => Err(error(
                line,
                "`SHELL` takes a JSON array, e.g. [\"/bin/bash\", \"-c\"]",
            )),
        },
        keyword if METADATA.contains(&keyword) => Ok(Instruction::Metadata(keyword.to_string())),
        "WORKDIR" | "USER" => Err(error(line, format!("`{keyword}` needs a value"))),
        other => Err(error(line, format!("unknown instruction `{other}`"))),
    }
}

/// The value of a `COPY --from=` flag among the leading flags of `rest`.
fn from_flag(rest: &str) -> Option<String> {
    split_flags(rest)
        .0
        .iter()
        .find_map(|flag| flag.strip_prefix("--from=").map(str::to_string))
}

/// The earlier stage `reference` (a name or an index) names; an image is an error, since
/// nothing can be pulled here.
fn stage_index(
    line: usize,
    reference: &str,
    stages: &[Option<String>],
) -> Result<usize, DockerfileError> {
    let current = stages.len().saturating_sub(1);
    let lowered = reference.to_ascii_lowercase();
    let found = match reference.parse::<usize>() {
        Ok(index) => Some(index),
        Err(_) => stages
            .iter()
            .position(|name| name.as_deref() == Some(lowered.as_str())),
    };
    match found {
        Some(index) if index < current => Ok(index),
        Some(_) => Err(error(
            line,
            format!("`COPY --from={reference}` must name an earlier stage"),
        )),
        None => Err(error(
            line,
            format!(
                "`COPY --from={reference}`: no earlier stage has that name, and images cannot be pulled here (no container engine, and builds have no network)"
            ),
        )),
    }
}

/// Docker's stage names: a letter first, then letters, digits, `-`, `_` and `.`.
fn valid_stage(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Leading `--name=value` flags, and what follows them.
fn split_flags(rest: &str) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut rest = rest.trim_start();
    while rest.starts_with("--") {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        flags.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    (flags, rest)
}

fn heredoc(rest: &str) -> bool {
    rest.split_whitespace().any(|word| {
        word.strip_prefix("<<")
            .map(|tag| tag.trim_start_matches('-').trim_matches(['"', '\'']))
            .is_some_and(|tag| {
                !tag.is_empty() && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
    })
}

fn json_array(text: &str) -> Option<Vec<String>> {
    if !text.starts_with('[') {
        return None;
    }
    serde_json::from_str(text).ok()
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn unquote(line: usize, text: &str) -> Result<String, DockerfileError> {
    let words = shlex::split(text).ok_or_else(|| error(line, "unbalanced quotes"))?;
    Ok(words.join(" "))
}

/// `ENV a=1 b="two words"`, or the old `ENV name value with spaces`.
fn env(line: usize, rest: &str) -> Result<Vec<(String, String)>, DockerfileError> {
    let first = rest.split_whitespace().next().unwrap_or_default();
    let pairs = if first.contains('=') {
        let words = shlex::split(rest).ok_or_else(|| error(line, "unbalanced quotes"))?;
        words
            .into_iter()
            .map(|word| match word.split_once('=') {
                Some((name, value)) => Ok((name.to_string(), value.to_string())),
                None => Err(error(line, format!("`{word}` is not `NAME=value`"))),
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let value = rest[first.len()..].trim();
        vec![(first.to_string(), unquote(line, value)?)]
    };
    if pairs.is_empty() {
        return Err(error(line, "`ENV` sets nothing"));
    }
    for (name, _) in &pairs {
        if !valid_name(name) {
            return Err(error(line, format!("invalid `ENV` name `{name}`")));
        }
    }
    Ok(pairs)
}

/// `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}` replaced from `variables`
/// (unset ones by nothing), as Docker does in `ENV`, `WORKDIR`, `USER`, `COPY` and `ADD`.
pub(crate) fn expand(text: &str, variables: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'$') => {
                out.push('$');
                chars.next();
            }
            '$' if chars.peek() == Some(&'{') => {
                chars.next();
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    inner.push(c);
                }
                let (name, modifier) = match inner.find(":-").or_else(|| inner.find(":+")) {
                    Some(at) => (&inner[..at], Some((&inner[at..at + 2], &inner[at + 2..]))),
                    None => (inner.as_str(), None),
                };
                let value = variables.get(name).filter(|value| !value.is_empty());
                match (modifier, value) {
                    (Some((":-", default)), None) => out.push_str(default),
                    (Some((":+", alternative)), Some(_)) => out.push_str(alternative),
                    (Some((":+", _)), None) => {}
                    (_, value) => out.push_str(value.map_or("", String::as_str)),
                }
            }
            '$' if chars
                .peek()
                .is_some_and(|next| next.is_ascii_alphabetic() || *next == '_') =>
            {
                let mut name = String::new();
                while let Some(&next) = chars.peek() {
                    if next.is_ascii_alphanumeric() || next == '_' {
                        name.push(next);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push_str(variables.get(&name).map_or("", String::as_str));
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests;
