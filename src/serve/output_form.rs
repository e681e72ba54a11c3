//! How a toolbox client wants process output, from its SDK version, as Daytona's daemon decides
//! it (v0.190, `apps/daemon/pkg/session/common.go`): the version comes from
//! `X-Daytona-SDK-Version`, else a `X-Daytona-SDK-Version~<v>` WebSocket subprotocol. Before 0.27
//! (or with no version and no `X-Daytona-Split-Output: true`) output is combined, its stream
//! markers removed; before 0.167 the client splits stdout from stderr itself; from 0.167 on the
//! server splits them (JSON logs). A version that does not parse counts as a new client.

use axum::http::{HeaderMap, header};

/// How a client wants output, from its SDK version (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OutputForm {
    /// Stream markers removed: one merged text.
    pub(super) combined: bool,
    /// `stdout` and `stderr` split by the server (JSON logs); otherwise the client splits.
    pub(super) split_by_server: bool,
}

impl OutputForm {
    pub(super) fn of(headers: &HeaderMap) -> OutputForm {
        let version = sdk_version(headers);
        let development = version.contains("dev");
        let older = |than: &str| compare_versions(&version, than) == Some(std::cmp::Ordering::Less);
        let split_header = headers
            .get("x-daytona-split-output")
            .is_some_and(|value| value == "true");
        OutputForm {
            combined: (older("0.27.0-0") && !development) || (version.is_empty() && !split_header),
            split_by_server: !version.is_empty()
                && (development
                    || compare_versions(&version, "0.167.0-0")
                        .is_some_and(std::cmp::Ordering::is_ge)),
        }
    }
}

fn sdk_version(headers: &HeaderMap) -> String {
    if let Some(version) = headers
        .get("x-daytona-sdk-version")
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
    {
        return version.to_string();
    }
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|protocol| protocol.trim().strip_prefix("X-Daytona-SDK-Version~"))
        .unwrap_or_default()
        .to_string()
}

/// Semantic-version order of `version` against `other`; `None` when `version` is not one.
fn compare_versions(version: &str, other: &str) -> Option<std::cmp::Ordering> {
    fn parse(text: &str) -> Option<([u64; 3], Option<&str>)> {
        let text = text.trim().trim_start_matches('v');
        let text = text.split('+').next()?;
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        let mut numbers = [0u64; 3];
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return None;
        }
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            *slot = part.parse().ok()?;
        }
        Some((numbers, pre))
    }
    let (left, right) = (parse(version)?, parse(other)?);
    // A pre-release sorts before its release.
    let pre_order = match (left.1, right.1) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (Some(a), Some(b)) => a.cmp(b),
    };
    Some(left.0.cmp(&right.0).then(pre_order))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&'static str, &'static str)]) -> OutputForm {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().unwrap());
        }
        OutputForm::of(&headers)
    }

    #[test]
    fn output_form_follows_the_daemons_version_rules() {
        let split = |combined, split_by_server| OutputForm {
            combined,
            split_by_server,
        };
        assert_eq!(
            form(&[("x-daytona-sdk-version", "0.226.1")]),
            split(false, true)
        );
        assert_eq!(
            form(&[("x-daytona-sdk-version", "0.150.0")]),
            split(false, false)
        );
        assert_eq!(
            form(&[("x-daytona-sdk-version", "0.26.3")]),
            split(true, false)
        );
        assert_eq!(
            form(&[("x-daytona-sdk-version", "0.0.0-dev")]),
            split(false, true)
        );
        assert_eq!(form(&[]), split(true, false));
        assert_eq!(
            form(&[("x-daytona-split-output", "true")]),
            split(false, false)
        );
        assert_eq!(
            form(&[("sec-websocket-protocol", "X-Daytona-SDK-Version~0.200.0")]),
            split(false, true)
        );
        // Not a version: treated as a new client, as the daemon does.
        assert_eq!(
            form(&[("x-daytona-sdk-version", "unknown")]),
            split(false, false)
        );
    }

    #[test]
    fn versions_compare_with_pre_releases_first() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("0.27.0", "0.27.0-0"), Some(Greater));
        assert_eq!(compare_versions("0.26.9", "0.27.0-0"), Some(Less));
        assert_eq!(compare_versions("v0.167.0", "0.167.0-0"), Some(Greater));
        assert_eq!(compare_versions("0.1", "0.1.0"), Some(Equal));
        assert_eq!(compare_versions("x.y", "0.1.0"), None);
    }
}
