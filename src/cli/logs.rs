//! `ralph-town logs`: the teammates' command output, each line prefixed with its teammate and
//! coloured per teammate as `docker compose logs` does; `--follow` merges the live streams.
//!
//! Thin: reading and following are `workflow::logs`; here are the filters a person asks for
//! (`--tail`, `--since`) and the layout.

use std::io::{IsTerminal, Write};
use std::time::SystemTime;

use futures::StreamExt;

use super::args::LogsArgs;
use super::{load_team, provider_for};
use crate::error::{Error, Result, exit};
use crate::workflow::{self, logs::LogLine};

/// Colours of the teammate prefixes, in turn (compose's order).
const COLOURS: [&str; 6] = ["36", "33", "32", "35", "34", "96"];

pub(super) async fn run(args: &LogsArgs) -> Result<i32> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let team = load_team(&args.file, false)?;
    let provider = provider_for(team.provider, Some(&team))?;
    let names: Vec<String> = workflow::logs_selection(&team, &args.teammates)?;
    let found = workflow::teammate_sandboxes(provider.as_ref(), &team, &names).await?;
    let printer = Printer::new(args, &names);
    let mut skips = Vec::new();
    for found in &found {
        let (lines, last) = workflow::logs::read(provider.as_ref(), found).await?;
        skips.push(last);
        let kept: Vec<&LogLine> = lines
            .iter()
            .filter(|line| since.is_none_or(|since| line.time.is_none_or(|time| time >= since)))
            .collect();
        let start = args.tail.map_or(0, |tail| kept.len().saturating_sub(tail));
        printer.print(&kept[start..])?;
    }
    if !args.follow {
        return Ok(exit::SUCCESS);
    }
    let mut streams = Vec::new();
    for (found, skip) in found.iter().zip(skips) {
        streams.push(workflow::logs::follow(provider.as_ref(), found, skip).await?);
    }
    let mut merged = futures::stream::select_all(streams);
    while let Some(line) = merged.next().await {
        printer.print(&[&line?])?;
    }
    Ok(exit::SUCCESS)
}

/// `10m`, `1h30m` (that long ago) or an RFC 3339 time.
fn parse_since(text: &str) -> Result<SystemTime> {
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(SystemTime::now() - ago);
    }
    humantime::parse_rfc3339_weak(text).map_err(|_| {
        Error::usage(
            format!("`--since {text}` is neither a duration nor a time"),
            Some(
                "write a duration such as `10m` or a time such as `2025-01-31T12:00:00Z`"
                    .to_string(),
            ),
        )
    })
}

struct Printer {
    json: bool,
    timestamps: bool,
    colour: bool,
    width: usize,
    names: Vec<String>,
}

impl Printer {
    fn new(args: &LogsArgs, names: &[String]) -> Printer {
        Printer {
            json: args.json,
            timestamps: args.timestamps,
            colour: std::io::stdout().is_terminal() && crate::progress::color_enabled(),
            width: names
                .iter()
                .map(|name| name.chars().count())
                .max()
                .unwrap_or(0),
            names: names.to_vec(),
        }
    }

    fn print(&self, lines: &[&LogLine]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for line in lines {
            if self.json {
                text.push_str(&serde_json::to_string(line).expect("a log line serializes"));
                text.push('\n');
                continue;
            }
            let prefix = format!("{:<width$} | ", line.teammate, width = self.width);
            if self.colour {
                let index = self.names.iter().position(|name| *name == line.teammate);
                let colour = COLOURS[index.unwrap_or(0) % COLOURS.len()];
                text.push_str(&format!("\x1b[{colour}m{prefix}\x1b[0m"));
            } else {
                text.push_str(&prefix);
            }
            if self.timestamps {
                let time = line.time.map_or_else(
                    || "-".to_string(),
                    |time| humantime::format_rfc3339_micros(time).to_string(),
                );
                text.push_str(&time);
                text.push(' ');
            }
            text.push_str(&line.line);
            text.push('\n');
        }
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|error| Error::io("cannot write to stdout", error))
    }
}
