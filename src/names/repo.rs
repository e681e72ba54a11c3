//! Repository locations: the clone URLs and paths git clones safely, told apart the way git
//! tells them apart, with the credential a URL may carry and the directory a clone lands in.
//!
//! Git reads `<transport>::<address>` as "run the remote helper `git-remote-<transport>`":
//! `ext::sh -c ...` runs a command, `fd::3` waits on a file descriptor forever. Only the
//! schemes below, scp-like `user@host:path` and local paths are accepted. The team file and
//! `run --repo` (the command line and the MCP tool) both parse with [`RepoSource`].

use std::fmt;
use std::str::FromStr;

use super::{Violation, hidden_character, hidden_violation, violation};

/// The URL schemes git clones without running anything but itself and ssh.
const SCHEMES: &[&str] = &["https", "http", "ssh", "git", "file"];

/// What the hint says is accepted.
pub(crate) const ACCEPTED: &str = "use an `https://`, `http://`, `ssh://`, `git://` or \
`file://` URL, `user@host:path`, or a path to a local repository";

/// A repository location that git clones without surprises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RepoSource {
    /// `scheme://...` with one of the accepted schemes.
    Url(String),
    /// `[user@]host:path`, git's scp-like syntax (a `:` before any `/`).
    ScpLike(String),
    /// Anything else: a path on the machine the clone runs on, as written.
    Local(String),
}

impl RepoSource {
    pub(crate) fn parse(text: &str) -> Result<RepoSource, Violation> {
        if text.trim().is_empty() {
            return Err(violation("the repository is empty", 0..text.len()));
        }
        if let Some((index, character)) = hidden_character(text) {
            return Err(hidden_violation(index, character));
        }
        if text.starts_with('-') {
            return Err(violation(
                "a repository cannot start with `-`: git would read it as an option",
                0..1,
            ));
        }
        // git's own test (`transport.c`): `[A-Za-z0-9+.-]+` followed by `::`.
        let prefix = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .unwrap_or(text.len());
        if prefix > 0 && text[prefix..].starts_with("::") {
            return Err(violation(
                format!(
                    "`{}::` makes git run a remote helper instead of cloning",
                    &text[..prefix]
                ),
                0..prefix + 2,
            ));
        }
        if let Some(scheme_end) = text.find("://")
            && text[..scheme_end]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            let scheme = &text[..scheme_end];
            if !SCHEMES
                .iter()
                .any(|known| scheme.eq_ignore_ascii_case(known))
            {
                return Err(violation(
                    format!("`{scheme}://` is not a scheme ralph-town clones"),
                    0..scheme_end + 3,
                ));
            }
            let host_start = scheme_end + 3;
            let authority = text[host_start..]
                .split(['/', '?', '#'])
                .next()
                .unwrap_or("");
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            if host.starts_with('-') {
                let at = host_start + authority.len() - host.len();
                return Err(violation(
                    "a host cannot start with `-`: ssh would read it as an option",
                    at..at + 1,
                ));
            }
            return Ok(RepoSource::Url(text.to_string()));
        }
        match (text.find(':'), text.find('/')) {
            (Some(colon), slash) if slash.is_none_or(|slash| colon < slash) => {
                let host = text[..colon]
                    .rsplit_once('@')
                    .map_or(&text[..colon], |(_, host)| host);
                let at = colon - host.len();
                if host.is_empty() {
                    return Err(violation("`host:path` has no host", at..colon + 1));
                }
                if host.starts_with('-') {
                    return Err(violation(
                        "a host cannot start with `-`: ssh would read it as an option",
                        at..at + 1,
                    ));
                }
                Ok(RepoSource::ScpLike(text.to_string()))
            }
            _ => Ok(RepoSource::Local(text.to_string())),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            RepoSource::Url(text) | RepoSource::ScpLike(text) | RepoSource::Local(text) => text,
        }
    }

    /// A URL or scp-like location, as opposed to a local path.
    pub(crate) fn is_remote(&self) -> bool {
        !matches!(self, RepoSource::Local(_))
    }

    /// The password (or token) of a URL with `user:password@`, or the user part of an
    /// `http(s)://user@` URL: a credential that would end up on a command line.
    pub(crate) fn credential(&self) -> Option<&str> {
        let RepoSource::Url(url) = self else {
            return None;
        };
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        let (userinfo, _host) = authority.rsplit_once('@')?;
        match userinfo.split_once(':') {
            Some((_, password)) if !password.is_empty() => Some(password),
            _ if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {
                Some(userinfo)
            }
            _ => None,
        }
    }

    /// The directory name a clone gets by default: the last path segment without `.git`.
    pub(crate) fn directory_name(&self) -> Option<String> {
        let text = self.as_str();
        let trimmed = text.trim_end_matches('/');
        let last = trimmed.rsplit(['/', ':']).next().unwrap_or(trimmed);
        match last.strip_suffix(".git").unwrap_or(last) {
            "" | "." | ".." => None,
            name => Some(name.to_string()),
        }
    }
}

impl FromStr for RepoSource {
    type Err = Violation;

    fn from_str(text: &str) -> Result<RepoSource, Violation> {
        RepoSource::parse(text)
    }
}

impl fmt::Display for RepoSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_urls_scp_and_paths_apart() {
        let cases = [
            ("https://github.com/acme/app.git", "url"),
            ("HTTP://host/app", "url"),
            ("ssh://git@host/acme/app", "url"),
            ("git://host/app", "url"),
            ("file:///srv/app", "url"),
            ("git@github.com:acme/app.git", "scp"),
            ("host:app", "scp"),
            ("[::1]:app", "scp"),
            ("../..", "local"),
            (".", "local"),
            ("/srv/app", "local"),
            ("app", "local"),
            ("./a:b", "local"),
            ("dir/with:colon", "local"),
            ("./ext::sh", "local"),
            ("with space $(x)", "local"),
        ];
        for (text, kind) in cases {
            let parsed = RepoSource::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
            let found = match parsed {
                RepoSource::Url(_) => "url",
                RepoSource::ScpLike(_) => "scp",
                RepoSource::Local(_) => "local",
            };
            assert_eq!(found, kind, "{text}");
            assert_eq!(parsed.is_remote(), kind != "local", "{text}");
            assert_eq!(parsed.as_str(), text);
        }
    }

    #[test]
    fn refuses_what_git_would_not_clone_safely() {
        let cases = [
            ("", ""),
            ("   ", "   "),
            ("ext::sh -c touch% /tmp/pwned", "ext::"),
            ("fd::3", "fd::"),
            ("fd::3/x", "fd::"),
            ("git-remote+x::y", "git-remote+x::"),
            ("ftp://host/app.git", "ftp://"),
            ("ext://host/app.git", "ext://"),
            ("ssh://-oProxyCommand=x/app", "-"),
            ("ssh://user@-oProxyCommand=x/app", "-"),
            ("-oProxyCommand=x:app", "-"),
            ("--upload-pack=x", "-"),
            ("user@-x:app", "-"),
            (":app", ":"),
            ("/srv/a\u{202E}pp", "\u{202E}"),
            ("/srv/a\npp", "\n"),
        ];
        for (text, underlined) in cases {
            let error = RepoSource::parse(text).expect_err(text);
            assert_eq!(&text[error.range.clone()], underlined, "{text:?}: {error}");
        }
    }

    #[test]
    fn spots_credentials_in_urls() {
        let credential = |text: &str| {
            RepoSource::parse(text)
                .unwrap()
                .credential()
                .map(str::to_string)
        };
        assert_eq!(
            credential("https://user:hunter2@github.com/a/b.git").as_deref(),
            Some("hunter2")
        );
        assert_eq!(
            credential("https://x-access-token:abc@github.com/a/b.git").as_deref(),
            Some("abc")
        );
        assert_eq!(
            credential("https://ghp_token@github.com/a/b.git").as_deref(),
            Some("ghp_token")
        );
        assert_eq!(credential("ssh://git@github.com/a/b.git"), None);
        assert_eq!(credential("https://github.com/a@b.git"), None);
        assert_eq!(credential("git@github.com:a/b.git"), None);
        assert_eq!(credential("/srv/repos/app"), None);
    }

    #[test]
    fn clones_are_named_after_the_repository() {
        let cases = [
            ("https://x/acme/app.git", Some("app")),
            ("https://x/acme/app/", Some("app")),
            ("git@github.com:acme/app.git", Some("app")),
            ("host:app", Some("app")),
            ("/path/to/app", Some("app")),
            ("/tmp/x/origin/", Some("origin")),
            ("/", None),
            ("https://x/acme/.git", None),
        ];
        for (text, expected) in cases {
            let parsed = RepoSource::parse(text).unwrap();
            assert_eq!(parsed.directory_name().as_deref(), expected, "{text}");
        }
    }
}
