//! Daytona's sandbox records as the provider's [`Sandbox`]: state names, timestamps, timers.
//!
//! Observing a record also remembers where the sandbox's toolbox is, so that an `exec` after a
//! `list` or `get` needs no extra request.

use std::time::SystemTime;

use super::DaytonaProvider;
use crate::daytona_api as wire;
use crate::provider::{Lifecycle, Sandbox, SandboxState};

/// A wire record (a full one or a list item: they name these fields alike) as the provider's
/// sandbox with `env`, remembering where its toolbox is.
macro_rules! observed {
    ($provider:expr, $record:expr, $env:expr) => {{
        let record = $record;
        $provider.remember_toolbox(&record.id, &record.id, &record.toolbox_proxy_url);
        Sandbox {
            state: state(record.state.as_ref()),
            created_at: timestamp(record.created_at.as_deref()),
            lifecycle: lifecycle(
                record.auto_stop_interval,
                record.auto_archive_interval,
                record.auto_delete_interval,
            ),
            id: record.id,
            name: record.name,
            labels: record.labels,
            env: $env,
            snapshot: record.snapshot,
            error_reason: record.error_reason,
        }
    }};
}

impl DaytonaProvider {
    /// A wire record as the provider's sandbox; remembers where its toolbox is.
    pub(crate) fn observe(&self, mut record: wire::Sandbox) -> Sandbox {
        let env = std::mem::take(&mut record.env);
        observed!(self, record, env)
    }

    /// A list item as the provider's sandbox; list items carry no `env`.
    pub(crate) fn observe_item(&self, item: wire::SandboxListItem) -> Sandbox {
        observed!(self, item, Default::default())
    }
}

fn state(state: Option<&wire::SandboxState>) -> SandboxState {
    match state.map(serde_json::to_value) {
        Some(Ok(serde_json::Value::String(name))) => SandboxState::parse(&name),
        _ => SandboxState::Other("unknown".to_string()),
    }
}

fn timestamp(text: Option<&str>) -> SystemTime {
    text.and_then(|text| humantime::parse_rfc3339_weak(text).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn lifecycle(stop: Option<i32>, archive: Option<i32>, delete: Option<i32>) -> Lifecycle {
    Lifecycle {
        auto_stop: stop.and_then(|minutes| u32::try_from(minutes).ok()),
        auto_archive: archive.and_then(|minutes| u32::try_from(minutes).ok()),
        auto_delete: delete,
    }
}
