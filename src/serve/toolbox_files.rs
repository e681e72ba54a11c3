//! Toolbox file routes: download (single and bulk, multipart), listing, info, delete and folder
//! creation (uploads are `toolbox_upload`'s).
//!
//! File contents go through `Provider::upload`/`download`; listing, info, delete and mkdir run
//! small shell scripts through `Provider::exec`, so paths mean what they mean inside the sandbox
//! (relative ones under the home). Every user path is shell-quoted. Listings use GNU `find
//! -printf` (and so need GNU findutils in the sandbox): local sandboxes run the host's own
//! programs, and Daytona's images are Debian-based, so that holds wherever serve runs on a GNU
//! system; a BusyBox-only system would answer 500 with `find`'s complaint.
//!
//! A missing path is 404 `FILE_NOT_FOUND` from `DAYTONA_DAEMON`, the pair the current SDKs turn
//! into their file-not-found error.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::{DAEMON_SOURCE, DaemonError};
use super::state::AppState;
use super::toolbox::{ready, required, run_script};
use super::view::JsonBody;
use crate::daytona_api::{FileInfo, FilesDownloadRequest};
use crate::provider;

#[derive(Debug, Deserialize)]
pub(crate) struct PathQuery {
    pub(crate) path: Option<String>,
    recursive: Option<bool>,
    mode: Option<String>,
    /// Listing depth (newer than v0.190; the pinned SDK's `list_files(path, depth)`): 1 lists
    /// the directory itself, deeper levels add their entries with full paths.
    depth: Option<u32>,
}

impl PathQuery {
    pub(crate) fn path(&self) -> Result<&str, DaemonError> {
        required(self.path.as_deref(), "path")
    }
}

/// `text` quoted for the sandbox's shell, the one way every route puts a value into a script.
pub(crate) fn quote(text: &str) -> Result<String, DaemonError> {
    shlex::try_quote(text)
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| DaemonError::bad_request("values must not contain NUL bytes"))
}

/// A sandbox path quoted for the sandbox's shell, its leading `~` expanded as the shell would
/// (`~` and `~/...` are the home; `~user` stays literal). Daytona's examples hand the SDKs such
/// paths (`sandbox.fs.list_files("~")`, `create_folder("~/project-files")`); quoting alone
/// would make them a directory named `~` below the work directory.
pub(crate) fn quote_path(path: &str) -> Result<String, DaemonError> {
    if path == "~" {
        return Ok("\"$HOME\"".to_string());
    }
    match path.strip_prefix("~/") {
        Some("") => Ok("\"$HOME\"/".to_string()),
        Some(rest) => Ok(format!("\"$HOME\"/{}", quote(rest)?)),
        None => quote(path),
    }
}

/// Exit codes the scripts use for "no such path" and "wrong kind of path".
pub(crate) const MISSING: i32 = 21;
pub(crate) const WRONG_KIND: i32 = 22;

/// One `find -printf` record per entry: type, size, octal mode, symbolic mode, owner, group,
/// modification time, then the path (last, as only it may contain `/`), NUL-terminated.
const FIND_FORMAT: &str = "'%y/%s/%m/%M/%u/%g/%T@/%p\\0'";

/// Put before `find`: a first record `=/user/group` naming whom sandbox commands run as, which
/// the host's user database calls what it likes (or nothing); entries of theirs show Daytona's
/// sandbox user, `daytona`, as on Daytona.
const OWN_IDS: &str =
    "printf '=/%s/%s\\0' \"$(id -un 2>/dev/null || id -u)\" \"$(id -gn 2>/dev/null || id -g)\" && ";

/// The name Daytona's sandboxes give their user and its group.
pub(crate) const SANDBOX_USER: &str = "daytona";

pub(crate) async fn script(
    state: &AppState,
    sandbox: &provider::Sandbox,
    path: &str,
    command: String,
) -> Result<String, DaemonError> {
    let output = run_script(state, sandbox, command, BTreeMap::new()).await?;
    match output.exit_code {
        0 => Ok(output.output),
        MISSING => Err(DaemonError::file_not_found(path)),
        WRONG_KIND => Err(DaemonError::bad_request(format!(
            "{path}: {}",
            output.output.trim()
        ))),
        _ => Err(DaemonError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            output.output.trim().to_string(),
        )),
    }
}

fn parse_entries(output: &str) -> Vec<FileInfo> {
    let records = output.split('\0').filter(|record| !record.is_empty());
    let (mut own_user, mut own_group) = (None, None);
    let shown = |name: &str, own: Option<&str>| {
        if own == Some(name) {
            SANDBOX_USER.to_string()
        } else {
            name.to_string()
        }
    };
    records
        .filter_map(|record| {
            if let Some(own) = record.trim_start_matches('\n').strip_prefix("=/") {
                let (user, group) = own.split_once('/').unwrap_or((own, ""));
                (own_user, own_group) = (Some(user), Some(group));
                return None;
            }
            let fields: Vec<&str> = record.splitn(8, '/').collect();
            let [kind, size, octal, symbolic, owner, group, modified, path] = fields[..] else {
                return None;
            };
            let path = path.trim_start_matches('\n').to_string();
            let seconds: f64 = modified.parse().unwrap_or(0.0);
            let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(seconds.max(0.0));
            let rfc3339 = humantime::format_rfc3339_seconds(time).to_string();
            Some(FileInfo {
                name: path.rsplit('/').next().unwrap_or(&path).to_string(),
                is_dir: kind == "d",
                size: size.parse().unwrap_or(0),
                mode: symbolic.to_string(),
                permissions: format!("{:04o}", u32::from_str_radix(octal, 8).unwrap_or(0)),
                owner: shown(owner, own_user),
                group: shown(group, own_group),
                // Go's `time.String()` layout, which the deprecated field keeps.
                mod_time: format!(
                    "{} +0000 UTC",
                    rfc3339.trim_end_matches('Z').replace('T', " ")
                ),
                modified_at: Some(rfc3339),
                path: Some(path),
            })
        })
        .collect()
}

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
) -> Result<Json<Vec<FileInfo>>, DaemonError> {
    let path = query
        .path
        .as_deref()
        .filter(|path| !path.is_empty())
        .unwrap_or(".");
    let depth = query.depth.unwrap_or(1);
    if depth < 1 {
        return Err(DaemonError::bad_request("depth must be at least 1"));
    }
    let sandbox = ready(&state, &id).await?;
    let command = format!(
        "dir={}; [ -e \"$dir\" ] || exit {MISSING}; [ -d \"$dir\" ] || {{ echo 'not a directory'; exit {WRONG_KIND}; }}; \
         cd -- \"$dir\" && {OWN_IDS}find \"$PWD\" -mindepth 1 -maxdepth {depth} -printf {FIND_FORMAT}",
        quote_path(path)?
    );
    let output = script(&state, &sandbox, path, command).await?;
    let mut entries = parse_entries(&output);
    entries.sort_by(|a, b| (&a.path, &a.name).cmp(&(&b.path, &b.name)));
    Ok(Json(entries))
}

pub(crate) async fn info(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
) -> Result<Json<FileInfo>, DaemonError> {
    let path = query.path()?;
    let sandbox = ready(&state, &id).await?;
    let command = format!(
        "p={}; [ -e \"$p\" ] || [ -L \"$p\" ] || exit {MISSING}; case \"$p\" in /*) ;; *) p=\"$PWD/$p\";; esac; \
         {OWN_IDS}find \"$p\" -maxdepth 0 -printf {FIND_FORMAT}",
        quote_path(path)?
    );
    let output = script(&state, &sandbox, path, command).await?;
    parse_entries(&output)
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| DaemonError::file_not_found(path))
}

pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
) -> Result<StatusCode, DaemonError> {
    let path = query.path()?;
    let sandbox = ready(&state, &id).await?;
    // The daemon stats the path (a link to a directory counts as one) and refuses any directory,
    // an empty one too, unless `recursive` is set; `rm -rf` then takes a link, not its target.
    let directory = if query.recursive == Some(true) {
        "rm -rf -- \"$p\"".to_string()
    } else {
        format!("echo 'cannot delete directory without recursive flag'; exit {WRONG_KIND}")
    };
    let command = format!(
        "p={}; [ -e \"$p\" ] || [ -L \"$p\" ] || exit {MISSING}; \
         if [ -d \"$p\" ]; then {directory}; else rm -f -- \"$p\"; fi",
        quote_path(path)?
    );
    script(&state, &sandbox, path, command).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn create_folder(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
) -> Result<StatusCode, DaemonError> {
    let path = query.path()?;
    let mode = query
        .mode
        .as_deref()
        .filter(|mode| !mode.is_empty())
        .unwrap_or("0755");
    if !(3..=4).contains(&mode.len()) || !mode.chars().all(|c| ('0'..='7').contains(&c)) {
        return Err(DaemonError::bad_request(format!("invalid mode `{mode}`")));
    }
    let sandbox = ready(&state, &id).await?;
    let command = format!(
        "mkdir -p -m {mode} -- {} 2>&1 || exit {WRONG_KIND}",
        quote_path(path)?
    );
    script(&state, &sandbox, path, command).await?;
    Ok(StatusCode::CREATED)
}

/// A path a client gave a file route, as the sandbox sees it: a relative one lies under the
/// sandbox's work directory (an image's `WORKDIR`), as Daytona's daemon, which runs there,
/// resolves it; the provider's own relative paths are the home's.
async fn in_work_dir(
    state: &AppState,
    sandbox: &provider::Sandbox,
    path: &str,
) -> Result<String, DaemonError> {
    Ok(under(work_dir(state, sandbox).await?.as_deref(), path))
}

pub(crate) async fn work_dir(
    state: &AppState,
    sandbox: &provider::Sandbox,
) -> Result<Option<String>, DaemonError> {
    state
        .provider
        .work_dir(&sandbox.id)
        .await
        .map_err(|error| DaemonError::from_provider(error, &format!("sandbox {}", sandbox.id)))
}

pub(crate) fn under(work_dir: Option<&str>, path: &str) -> String {
    match work_dir {
        Some(dir) if !crate::provider::local::is_anchored(path) => {
            format!("{}/{path}", dir.trim_end_matches('/'))
        }
        _ => path.to_string(),
    }
}

/// A failed read or write of `path`: a missing one is `FILE_NOT_FOUND`.
pub(crate) fn file_error(error: provider::ProviderError, path: &str) -> DaemonError {
    match error {
        provider::ProviderError::NotFound { .. } => DaemonError::file_not_found(path),
        other => DaemonError::from_provider(other, path),
    }
}

pub(crate) async fn download(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
) -> Result<Response, DaemonError> {
    let path = query.path()?;
    let sandbox = ready(&state, &id).await?;
    let contents = state
        .provider
        .download(&sandbox.id, &in_work_dir(&state, &sandbox, path).await?)
        .await
        .map_err(|error| file_error(error, path))?;
    let name = path.rsplit('/').next().unwrap_or(path);
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; {}", filename_parameter(name)),
            ),
        ],
        contents,
    )
        .into_response())
}

/// `filename="..."` when plain ASCII will do, else RFC 5987 `filename*=utf-8''...` with every
/// byte outside its `attr-char` escaped, `/` too: the TypeScript SDK's multipart parser
/// (busboy) drops a part whose `filename*` holds a raw `/`, so an absolute path went missing.
/// The extended form is followed by a plain `filename` holding the same escaped text: the
/// Python SDK's streamed download reads parts with a parser that skips `filename*` (RFC 7578
/// forbids it in forms) and refuses a part with no `filename` ("No source path found"), while
/// busboy and the SDKs' bulk parsers prefer `filename*`, the lossless one.
fn filename_parameter(name: &str) -> String {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ');
    if plain {
        format!("filename=\"{name}\"")
    } else {
        let encoded: String = name
            .bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(byte).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect();
        format!("filename*=utf-8''{encoded}; filename=\"{encoded}\"")
    }
}

/// `POST /files/bulk-download {"paths": [...]}`: a multipart reply with a `file` part per path
/// that could be read and an `error` part (a JSON daemon error) per path that could not, each
/// named by the requested path.
pub(crate) async fn bulk_download(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<FilesDownloadRequest>,
) -> Result<Response, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let boundary = format!("ralph-town-{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    let work_dir = work_dir(&state, &sandbox).await?;
    for path in &request.paths {
        let inside = under(work_dir.as_deref(), path);
        let (name, content_type, contents) =
            match state.provider.download(&sandbox.id, &inside).await {
                Ok(contents) => ("file", "application/octet-stream", contents),
                Err(error) => {
                    let error = file_error(error, path);
                    let json = serde_json::json!({
                        "message": error.message,
                        "statusCode": error.status.as_u16(),
                        "code": error.code(),
                        "source": DAEMON_SOURCE,
                    });
                    ("error", "application/json", json.to_string().into_bytes())
                }
            };
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; {}\r\n\
                 Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                filename_parameter(path),
                contents.len()
            )
            .as_bytes(),
        );
        body.extend_from_slice(&contents);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((
        [(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_paths_expand_a_leading_tilde_as_the_shell_does() {
        for (path, expected) in [
            ("~", "/h"),
            ("~/", "/h/"),
            ("~/a b/$x", "/h/a b/$x"),
            ("~user/a", "~user/a"),
            ("a/~/b", "a/~/b"),
            ("'~'", "'~'"),
        ] {
            let word = quote_path(path).unwrap();
            let output = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {word}")])
                .env("HOME", "/h")
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8(output.stdout).unwrap(),
                expected,
                "{path}"
            );
        }
    }

    #[test]
    fn find_records_parse_into_file_infos() {
        let output = "=/cloudsdk/users\0\
                      d/4096/755/drwxr-xr-x/cloudsdk/users/1700000000.5//home/daytona/src\0\
                      f/12/644/-rw-r--r--/root/cloudsdk/1700000001.0//home/daytona/a b/c\0";
        let entries = parse_entries(output);
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (&*entries[0].owner, &*entries[0].group),
            ("daytona", "daytona")
        );
        assert_eq!(
            (&*entries[1].owner, &*entries[1].group),
            ("root", "cloudsdk")
        );
        assert!(entries[0].is_dir);
        assert_eq!(entries[0].name, "src");
        assert_eq!(entries[0].permissions, "0755");
        assert_eq!(entries[1].path.as_deref(), Some("/home/daytona/a b/c"));
        assert_eq!(entries[1].size, 12);
        assert_eq!(
            entries[1].modified_at.as_deref(),
            Some("2023-11-14T22:13:21Z")
        );
        assert_eq!(entries[1].mod_time, "2023-11-14 22:13:21 +0000 UTC");
    }

    #[test]
    fn odd_file_names_use_the_extended_parameter() {
        assert_eq!(
            filename_parameter("/home/x.txt"),
            "filename=\"/home/x.txt\""
        );
        assert_eq!(
            filename_parameter("a\"b"),
            "filename*=utf-8''a%22b; filename=\"a%22b\""
        );
        assert_eq!(
            filename_parameter("ü"),
            "filename*=utf-8''%C3%BC; filename=\"%C3%BC\""
        );
        assert_eq!(
            filename_parameter("/home/ü.txt"),
            "filename*=utf-8''%2Fhome%2F%C3%BC.txt; filename=\"%2Fhome%2F%C3%BC.txt\""
        );
    }
}
