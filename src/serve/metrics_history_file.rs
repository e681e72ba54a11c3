//! Where the resource history survives a restart: one file per sandbox under
//! `<state root>/serve-metrics/` (0700; files 0600; hidden from sandboxes with the rest of the
//! state root), named by the hex of the sandbox id, one JSON line per sample appended as it is
//! taken (`{"at":<ms>,"v":[...]}`).
//!
//! A line is complete only with its newline: a serve killed mid-append leaves at most one partial
//! last line, which loading skips, like any line that does not parse, so a damaged file loses the
//! damaged samples and nothing else. Loading keeps the last 24 hours (at most `CAPACITY` points)
//! and rewrites a file that held more, or a partial line, atomically (`durable`) before anything
//! is appended to it again; a file that grew past its ring by [`SLACK`] lines is rewritten the
//! same way. A sample that cannot be written is lost from the file only (the ring still answers
//! it): the history is an observation, never a reason to fail a request. This file knows the
//! format and the files; which points to keep is `metrics_history`'s.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ServeError;
use super::metrics_history::{CAPACITY, Point, SERIES};
use super::state::Millis;

/// The directory's name under the state root.
pub(crate) const DIR: &str = "serve-metrics";

/// How many lines beyond its ring a file may hold before it is rewritten.
const SLACK: usize = CAPACITY / 8;

/// The last 24 hours: older points are dropped on load.
pub(crate) const DAY: Millis = 24 * 60 * 60 * 1000;

#[derive(Serialize, Deserialize)]
struct Line {
    at: Millis,
    v: [f64; SERIES.len()],
}

/// The files, and how many lines each holds now.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    lines: HashMap<String, usize>,
}

impl Journal {
    /// Opens `<state root>/serve-metrics` (made on first use) and loads every sandbox's points
    /// taken since `since`, oldest first.
    pub(crate) fn open(
        state_root: &Path,
        since: Millis,
    ) -> Result<(Journal, HashMap<String, Vec<Point>>), ServeError> {
        let dir = state_root.join(DIR);
        let failed = |path: &Path, error: std::io::Error| ServeError::State {
            path: path.to_path_buf(),
            message: error.to_string(),
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|error| failed(&dir, error))?;
        let mut journal = Journal {
            dir,
            lines: HashMap::new(),
        };
        let mut loaded = HashMap::new();
        let entries =
            std::fs::read_dir(&journal.dir).map_err(|error| failed(&journal.dir, error))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(id) = sandbox_of(&path) else {
                continue;
            };
            let text = std::fs::read(&path).map_err(|error| failed(&path, error))?;
            let (points, clean) = parse(&text, since);
            if !clean {
                journal.rewrite(&id, &points);
            }
            journal.lines.insert(id.clone(), points.len());
            loaded.insert(id, points);
        }
        Ok((journal, loaded))
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{}.jsonl", hex::encode(id)))
    }

    /// Appends `point` to sandbox `id`'s file; past [`SLACK`] extra lines the file is rewritten
    /// from `ring` (which holds `point` already).
    pub(crate) fn append<'a>(
        &mut self,
        id: &str,
        point: &Point,
        ring: impl ExactSizeIterator<Item = &'a Point>,
    ) {
        let path = self.path(id);
        let lines = self.lines.entry(id.to_string()).or_default();
        *lines += 1;
        if *lines > ring.len() + SLACK {
            let points: Vec<Point> = ring.copied().collect();
            self.rewrite(id, &points);
            return;
        }
        let written = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            // One `write` of the whole line: a kill leaves it whole or partial, never interleaved.
            .and_then(|mut file| file.write_all(&encode(point)));
        if written.is_err() {
            *lines -= 1;
        }
    }

    /// Replaces sandbox `id`'s file by `points`, atomically.
    fn rewrite(&mut self, id: &str, points: &[Point]) {
        let bytes: Vec<u8> = points.iter().flat_map(encode).collect();
        let path = self.path(id);
        if crate::durable::write(&path, &bytes, crate::durable::Existing::Replace).is_ok() {
            self.lines.insert(id.to_string(), points.len());
        }
    }

    /// Removes the file of a deleted sandbox.
    pub(crate) fn remove(&mut self, id: &str) {
        self.lines.remove(id);
        let _ = std::fs::remove_file(self.path(id));
    }
}

/// The sandbox id a journal file is named after, for `<hex>.jsonl` only.
fn sandbox_of(path: &Path) -> Option<String> {
    let stem = path
        .file_name()?
        .to_str()?
        .strip_suffix(".jsonl")
        .filter(|stem| !stem.is_empty())?;
    String::from_utf8(hex::decode(stem).ok()?).ok()
}

fn encode(point: &Point) -> Vec<u8> {
    let mut line = serde_json::to_vec(&Line {
        at: point.at,
        v: point.values,
    })
    .unwrap_or_default();
    line.push(b'\n');
    line
}

/// The points of a file's `text` taken since `since` (the last [`CAPACITY`]), and whether the
/// file is already exactly those.
fn parse(text: &[u8], since: Millis) -> (Vec<Point>, bool) {
    // The part after the last newline is a line cut short (empty when the file ends cleanly).
    let (complete, partial) = match text.iter().rposition(|&byte| byte == b'\n') {
        Some(end) => (&text[..=end], &text[end + 1..]),
        None => (&text[..0], text),
    };
    let mut total = 0;
    let mut points: Vec<Point> = complete
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.is_empty())
        .inspect(|_| total += 1)
        .filter_map(|line| serde_json::from_slice::<Line>(line).ok())
        .filter(|line| line.at >= since)
        .map(|line| Point {
            at: line.at,
            values: line.v,
        })
        .collect();
    if points.len() > CAPACITY {
        points.drain(..points.len() - CAPACITY);
    }
    let clean = partial.is_empty() && points.len() == total;
    (points, clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(at: Millis) -> Point {
        #[allow(clippy::cast_precision_loss)]
        Point {
            at,
            values: [at as f64; SERIES.len()],
        }
    }

    #[test]
    fn a_cut_short_or_garbled_line_is_skipped_and_the_file_rewritten_clean() {
        let root = tempfile::tempdir().unwrap();
        let (mut journal, loaded) = Journal::open(root.path(), 0).unwrap();
        assert!(loaded.is_empty());
        let ring: Vec<Point> = (1..=3).map(point).collect();
        for (index, point) in ring.iter().enumerate() {
            journal.append("sb-1", point, ring[..=index].iter());
        }
        let path = journal.path("sb-1");
        let mut text = std::fs::read(&path).unwrap();
        // A garbled line in the middle, then a line a kill cut short (it would parse whole).
        let whole = encode(&point(4));
        text.extend_from_slice(b"{\"at\":9,\"v\":[oops\n");
        text.extend_from_slice(&whole[..whole.len() - 4]);
        std::fs::write(&path, &text).unwrap();
        let (_, loaded) = Journal::open(root.path(), 0).unwrap();
        assert_eq!(loaded["sb-1"], ring);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            ring.iter().flat_map(encode).collect::<Vec<_>>()
        );
        // Older than `since`: dropped on load.
        let (mut journal, loaded) = Journal::open(root.path(), 2).unwrap();
        assert_eq!(loaded["sb-1"], ring[1..]);
        journal.remove("sb-1");
        assert!(!path.exists());
    }

    #[test]
    fn a_file_is_rewritten_once_it_outgrows_its_ring() {
        let root = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(root.path(), 0).unwrap();
        let ring = [point(1)];
        for _ in 0..=SLACK + 1 {
            journal.append("sb", &ring[0], ring.iter());
        }
        let text = std::fs::read(journal.path("sb")).unwrap();
        assert_eq!(text, encode(&ring[0]), "rewritten to the ring");
    }
}
