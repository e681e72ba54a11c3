//! Domain allow lists (Daytona's `domainAllowList`): which hosts a sandbox's HTTP and HTTPS may
//! reach through the egress proxy. An entry is a domain (`example.com`, that name only) or a
//! wildcard (`*.example.com`, any name below it, not the bare domain), compared without case
//! and without a trailing dot. An IP literal is never a domain: an entry cannot be one, and a
//! request to an address matches no entry.
//!
//! This file reads, checks and matches lists; it does not decide which sandbox has one.

use std::fmt;
use std::net::IpAddr;

use super::error::ApiError;
use super::secret_vault_names::host_allowed;

/// A checked domain allow list, entries lowercased, without trailing dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DomainList(Vec<String>);

impl DomainList {
    /// Reads Daytona's comma-separated list: `None` when it lists nothing (blank), a 400 naming
    /// the first entry that is not a domain or a `*.` wildcard of one.
    pub(crate) fn parse(text: &str) -> Result<Option<DomainList>, ApiError> {
        let mut entries = Vec::new();
        for entry in text.split(',').map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            let normal = entry.trim_end_matches('.').to_ascii_lowercase();
            let name = normal.strip_prefix("*.").unwrap_or(&normal);
            if let Some(reason) = not_a_domain(name) {
                return Err(ApiError::bad_request(format!(
                    "Invalid domainAllowList entry `{entry}`: {reason}"
                )));
            }
            entries.push(normal);
        }
        Ok((!entries.is_empty()).then_some(DomainList(entries)))
    }

    /// Whether a request to `host` (a URL's or a `CONNECT`'s host) is allowed.
    pub(crate) fn allows(&self, host: &str) -> bool {
        let host = host.trim_matches(['[', ']']).trim_end_matches('.');
        if host.parse::<IpAddr>().is_ok() {
            return false;
        }
        // The same matching as a secret's hosts; a list is never empty, so never unrestricted.
        host_allowed(&self.0, host)
    }
}

impl fmt::Display for DomainList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// Why `name` is not a domain name (RFC 1123 labels), if it is not.
fn not_a_domain(name: &str) -> Option<&'static str> {
    if name.parse::<IpAddr>().is_ok() {
        return Some("an address is not a domain (use networkAllowList for networks)");
    }
    if name.is_empty() || name.len() > 253 {
        return Some("a domain is 1 to 253 characters");
    }
    let bad_label = name.split('.').any(|label| {
        label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
    });
    bad_label
        .then_some("expected a domain such as `example.com`, or `*.example.com` for its subdomains")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> DomainList {
        DomainList::parse(text).unwrap().unwrap()
    }

    #[test]
    fn a_domain_matches_itself_and_a_wildcard_only_what_is_below_it() {
        let allowed = list(" Example.COM. , *.daytona.io");
        assert_eq!(allowed.to_string(), "example.com,*.daytona.io");
        for host in [
            "example.com",
            "EXAMPLE.com.",
            "app.daytona.io",
            "a.b.daytona.io",
        ] {
            assert!(allowed.allows(host), "{host}");
        }
        for host in [
            "www.example.com",
            "daytona.io",
            "xdaytona.io",
            "example.com.evil",
            "93.184.216.34",
            "[::1]",
        ] {
            assert!(!allowed.allows(host), "{host}");
        }
        assert!(!list("localhost").allows("127.0.0.1"));
    }

    #[test]
    fn an_entry_that_is_not_a_domain_is_named_in_the_400() {
        assert_eq!(DomainList::parse(" , ").unwrap(), None);
        for bad in [
            "exa mple.com",
            "*",
            "*.",
            "10.0.0.1",
            "http://example.com",
            "-a.com",
            "a..b",
        ] {
            let error = DomainList::parse(&format!("example.com,{bad}")).unwrap_err();
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
            assert!(
                error.message.contains(&format!("`{bad}`")),
                "{}",
                error.message
            );
        }
    }
}
