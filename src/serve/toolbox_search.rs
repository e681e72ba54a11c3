//! Toolbox searches: `GET /files/find` (lines containing a text, like `grep -rF`) and
//! `GET /files/search` (paths whose names match a glob, like `find -name`), run inside the
//! sandbox through `Provider::exec` with GNU grep and find.
//!
//! Both follow the v0.190 daemon (`fs/find_in_files.go`, `fs/search_files.go`): a literal
//! substring per line, binary and non-regular files skipped, symlinks not followed, a missing
//! start path giving an empty result rather than an error, and paths reported the way the
//! request spelled the start (relative stays relative).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::error::DaemonError;
use super::state::AppState;
use super::toolbox::{ready, run};
use super::toolbox_files::{quote, quote_path};
use crate::daytona_api::{Match, SearchFilesResponse};
use crate::provider::ExecRequest;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/files/find", get(find))
        .route("/{sandbox}/files/search", get(search))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchQuery {
    path: Option<String>,
    pattern: Option<String>,
}

impl SearchQuery {
    fn both(&self) -> Result<(&str, &str), DaemonError> {
        match (self.path.as_deref(), self.pattern.as_deref()) {
            (Some(path), Some(pattern)) if !path.is_empty() && !pattern.is_empty() => {
                Ok((path, pattern))
            }
            _ => Err(DaemonError::bad_request("path and pattern are required")),
        }
    }
}

/// A start path that `find` and `grep` cannot mistake for an option.
struct Start {
    quoted: String,
    /// Whether the tools see `./` before the path as the request spelled it.
    dotted: bool,
}

impl Start {
    fn new(path: &str) -> Result<Start, DaemonError> {
        let dotted = path.starts_with('-');
        let quoted = if dotted {
            quote(&format!("./{path}"))?
        } else {
            quote_path(path)?
        };
        Ok(Start { quoted, dotted })
    }

    /// A path the tools reported, spelled as the request spelled its start.
    fn respell(&self, reported: &str) -> String {
        let spelled = if self.dotted {
            reported.strip_prefix("./").unwrap_or(reported)
        } else {
            reported
        };
        spelled.to_string()
    }
}

/// Runs a search script whose failures (unreadable entries, a missing start) only shorten
/// the result, as they do in the daemon's walk.
async fn output_of(state: &AppState, id: &str, command: String) -> Result<String, DaemonError> {
    let sandbox = ready(state, id).await?;
    let request = ExecRequest {
        command,
        ..ExecRequest::default()
    };
    run(state, &sandbox, request)
        .await
        .map(|output| output.output)
        .map_err(|error| DaemonError::from_provider(error, "sandbox"))
}

/// Parses `grep -nZ` output: `file NUL line:content NL`, file names being free of NUL only.
fn parse_matches(output: &str) -> Vec<Match> {
    let mut matches = Vec::new();
    let mut rest = output;
    while let Some((file, after)) = rest.split_once('\0') {
        let (line, after) = after.split_once('\n').unwrap_or((after, ""));
        rest = after;
        let Some((number, content)) = line.split_once(':') else {
            continue;
        };
        if let Ok(line) = number.parse() {
            matches.push(Match {
                file: file.to_string(),
                line,
                content: content.to_string(),
            });
        }
    }
    matches
}

pub(crate) async fn find(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<SearchQuery>,
) -> Result<Json<Vec<Match>>, DaemonError> {
    let (path, pattern) = query.both()?;
    let start = Start::new(path)?;
    // -I skips binary files, -r follows no symlinks below the start, -F is a literal text;
    // -H names the file also when the start is one file, which the daemon's walk searches too.
    let command = format!(
        "LC_ALL=C grep -rnIZFH -e {} -- {} 2>/dev/null; true",
        quote(pattern)?,
        start.quoted
    );
    let output = output_of(&state, &id, command).await?;
    let mut matches = parse_matches(&output);
    for found in &mut matches {
        found.file = start.respell(&found.file);
    }
    // grep walks in directory order; the stable sort keeps each file's lines in order.
    matches.sort_by(|a, b| walk_order(&a.file, &b.file));
    Ok(Json(matches))
}

/// The order of Go's `filepath.Walk`: lexical per directory, a directory before its entries.
fn walk_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('/').cmp(b.split('/'))
}

pub(crate) async fn search(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<SearchQuery>,
) -> Result<Json<SearchFilesResponse>, DaemonError> {
    let (path, pattern) = query.both()?;
    let start = Start::new(path)?;
    let command = format!(
        "find {} -name {} -print0 2>/dev/null; true",
        start.quoted,
        quote(pattern)?
    );
    let output = output_of(&state, &id, command).await?;
    let mut files: Vec<String> = output
        .split('\0')
        .filter(|file| !file.is_empty())
        .map(|file| start.respell(file))
        .collect();
    files.sort_by(|a, b| walk_order(a, b));
    Ok(Json(SearchFilesResponse { files }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grep_records_parse_with_colons_and_odd_names() {
        let output = "src/a.rs\x003:let x = \"a:b\";\nodd\nname\x0012:TODO\n";
        let matches = parse_matches(output);
        assert_eq!(matches.len(), 2);
        assert_eq!((matches[0].file.as_str(), matches[0].line), ("src/a.rs", 3));
        assert_eq!(matches[0].content, "let x = \"a:b\";");
        assert_eq!(matches[1].file, "odd\nname");
    }

    #[test]
    fn search_results_follow_the_walk_order() {
        let mut files = vec!["a-c", "a/b", "a", "b.txt"];
        files.sort_by(|a, b| walk_order(a, b));
        assert_eq!(files, ["a", "a/b", "a-c", "b.txt"]);
    }
}
