//! Cookies a preview sets stay under its prefix.
//!
//! Daytona gives every preview an origin of its own, so a cookie with `Path=/` belongs to that
//! preview alone. Here every preview shares `serve`'s one origin under `/_preview/{id}/{port}`
//! (or a signed link's prefix), so an app's `Path=/` cookie (a session id) would be sent to
//! every other sandbox's server opened in the same browser. The proxy moves each `Path`
//! attribute of a `Set-Cookie` under the preview's prefix, as a reverse proxy's cookie path
//! rewriting does: `Path=/` becomes `Path=/_preview/{id}/{port}/`. A cookie without a `Path`
//! already defaults to a directory under the prefix, which every preview path is. A `Domain`
//! attribute is dropped, here and on a preview's own origin: a preview's cookies are its host's.

use axum::http::HeaderValue;

/// `set_cookie` with its `Path` attributes moved under `prefix` (no trailing `/`; none on a
/// preview's own origin) and without `Domain`: a cookie of `Domain=localhost` would reach every
/// preview's own origin (`*.localhost`), so a preview's cookies stay host-only. A path that is
/// not absolute (which browsers ignore) is kept as it is. Read as bytes, not text: browsers
/// keep a cookie with bytes beyond ASCII, so such a cookie must not keep its `Path=/` either.
pub(super) fn scoped(set_cookie: &HeaderValue, prefix: &str) -> HeaderValue {
    let mut attributes = set_cookie.as_bytes().split(|&byte| byte == b';');
    let mut scoped = attributes.next().unwrap_or_default().to_vec();
    for attribute in attributes {
        let equals = attribute.iter().position(|&byte| byte == b'=');
        let (name, value) = match equals {
            Some(at) => (&attribute[..at], &attribute[at + 1..]),
            None => (attribute, &b""[..]),
        };
        let name = name.trim_ascii();
        if name.eq_ignore_ascii_case(b"domain") {
            continue;
        }
        scoped.push(b';');
        let path = value.trim_ascii();
        if name.eq_ignore_ascii_case(b"path") && path.starts_with(b"/") {
            scoped.extend_from_slice(b" Path=");
            scoped.extend_from_slice(prefix.as_bytes());
            scoped.extend_from_slice(path);
        } else {
            scoped.extend_from_slice(attribute);
        }
    }
    HeaderValue::from_bytes(&scoped).unwrap_or_else(|_| set_cookie.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(value: &str) -> String {
        scoped(&HeaderValue::from_str(value).unwrap(), "/_preview/ab/3000")
            .to_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_path_moves_under_the_prefix_and_nothing_else_changes() {
        assert_eq!(
            scope("sid=1; Path=/; HttpOnly; SameSite=Lax"),
            "sid=1; Path=/_preview/ab/3000/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            scope("a=b;path=/api;Secure"),
            "a=b; Path=/_preview/ab/3000/api;Secure"
        );
        // A value may hold `Path=` text; only the attribute is moved.
        assert_eq!(scope("q=Path=/x; Max-Age=5"), "q=Path=/x; Max-Age=5");
        // No path, or one browsers ignore: left to the browser's default, under the prefix.
        assert_eq!(
            scope("a=b; Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
            "a=b; Expires=Wed, 21 Oct 2026 07:28:00 GMT"
        );
        assert_eq!(scope("a=b; Path=relative"), "a=b; Path=relative");
        // Host-only: no other host (another preview's own origin) gets it.
        assert_eq!(
            scope("a=b; Domain=localhost; Path=/; domain=.localhost"),
            "a=b; Path=/_preview/ab/3000/"
        );
    }

    /// Browsers keep a cookie whose value has bytes beyond ASCII (UTF-8 text an app wrote as
    /// it came): its path moves all the same.
    #[test]
    fn a_cookie_with_bytes_beyond_ascii_moves_too() {
        let cookie = HeaderValue::from_bytes(b"name=Jos\xc3\xa9; Path=/; HttpOnly").unwrap();
        assert_eq!(
            scoped(&cookie, "/_preview/ab/3000").as_bytes(),
            b"name=Jos\xc3\xa9; Path=/_preview/ab/3000/; HttpOnly"
        );
    }
}
