//! What a secret's name and allowed hosts may be, as Daytona takes them, and whether a request's
//! destination is one of a secret's hosts. Pure checks: nothing here sees a value.

use super::error::ApiError;

/// Daytona's rule for names: `^[a-zA-Z_][a-zA-Z0-9_-]*$`.
pub(crate) fn check_name(name: &str) -> Result<(), ApiError> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid secret name `{name}`: it must match ^[a-zA-Z_][a-zA-Z0-9_-]*$"
        )))
    }
}

/// Hosts are host names or `*.` wildcards, lowercased; no ports, schemes or paths.
pub(crate) fn check_hosts(hosts: Vec<String>) -> Result<Vec<String>, ApiError> {
    hosts
        .into_iter()
        .map(|host| {
            let lower = host.trim().to_ascii_lowercase();
            let bare = lower.strip_prefix("*.").unwrap_or(&lower);
            let valid = !bare.is_empty()
                && bare
                    .split('.')
                    .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
            if valid {
                Ok(lower)
            } else {
                Err(ApiError::bad_request(format!(
                    "Invalid host `{host}`: give a host name (`api.example.com`) or a `*.` wildcard (`*.example.com`), without a scheme, port or path"
                )))
            }
        })
        .collect()
}

/// Whether `host` is one of `hosts` (`*.example.com` matches its subdomains, not itself); no
/// hosts is no restriction.
pub(crate) fn host_allowed(hosts: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    hosts.is_empty()
        || hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
                None => *allowed == host,
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_exactly_or_by_wildcard_subdomain() {
        let hosts = vec!["api.example.com".to_string(), "*.example.org".to_string()];
        assert!(host_allowed(&hosts, "API.example.com"));
        assert!(host_allowed(&hosts, "a.b.example.org"));
        assert!(!host_allowed(&hosts, "example.org"));
        assert!(!host_allowed(&hosts, "evilexample.org"));
        assert!(!host_allowed(&hosts, "example.com"));
        assert!(host_allowed(&[], "anything"));
        assert!(check_hosts(vec!["https://x.com".into()]).is_err());
        assert!(check_hosts(vec!["x.com:443".into()]).is_err());
    }

    #[test]
    fn names_follow_daytonas_pattern() {
        assert!(check_name("_ok-1").is_ok());
        assert!(check_name("1bad").is_err());
        assert!(check_name("bad.name").is_err());
        assert!(check_name("").is_err());
    }
}
