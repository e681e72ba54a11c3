//! Each preview on its own origin in a browser, at the HTTP level: a raw client sends what a
//! browser sends (`Sec-Fetch-*` headers, `Host: {port}-{id}.localhost`) to an in-process
//! `serve` over real local sandboxes. A top-level navigation to a path-based link moves to the
//! preview's own origin with a one-time code, exchanged there for a cookie; the code is good
//! once and for its own preview; no token or key is ever in a `Location`; expiring the signed
//! link early revokes the cookie; clients without `Sec-Fetch-*` headers see the path-based
//! proxy as before; the web terminal's WebSocket opens there only from its own page, and ends
//! with its link. The browser itself is in `serve_preview_origin_browser`.

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::serve_preview::{fetch, node_server};
use crate::serve_support::{KEY, Server, start};
use crate::serve_web_terminal::{Terminal, connect, sandbox_with_terminal};

/// What Chromium sends for a page typed into the address bar.
pub(crate) const NAVIGATION: [(&str, &str); 3] = [
    ("sec-fetch-mode", "navigate"),
    ("sec-fetch-dest", "document"),
    ("sec-fetch-site", "none"),
];

/// A sandbox web server that answers with what it was asked and the cookies it got, and sets
/// a cookie of its own.
pub(crate) const ECHO: &str = r"
require('http').createServer((request, response) => {
  response.setHeader('set-cookie', 'app=1; Path=/; Domain=localhost')
  const prefix = request.headers['x-forwarded-prefix'] ?? ''
  response.end(`at ${request.url} cookie=${request.headers.cookie ?? ''} prefix=${prefix};`)
}).listen(Number(process.argv[2]), '127.0.0.1')
";

/// One answer, read to the end of the connection.
pub(crate) struct Answer {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(found, _)| found.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// GET `target` from `server`'s listener with `Host: host` and `headers`.
pub(crate) async fn raw(
    server: &Server,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let address = server.base.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut request = format!("GET {target} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// The authority `serve` listens on (`127.0.0.1:port`) and its port.
pub(crate) fn listener(server: &Server) -> (String, String) {
    let authority = server.base.strip_prefix("http://").unwrap().to_string();
    let port = authority.rsplit(':').next().unwrap().to_string();
    (authority, port)
}

/// A signed link (10 minutes) of `id`'s `port`: its path on `serve` and its token.
pub(crate) async fn signed(server: &Server, id: &str, port: u16) -> (String, String) {
    let reply = server
        .get(&format!(
            "/api/sandbox/{id}/ports/{port}/signed-preview-url?expiresInSeconds=600"
        ))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let token = reply.body["token"].as_str().unwrap().to_string();
    (format!("/_preview-signed/{token}"), token)
}

/// Expires the signed link `token` of `id`'s `port` early.
async fn expire(server: &Server, id: &str, port: u16, token: &str) {
    let path = format!("/api/sandbox/{id}/ports/{port}/signed-preview-url/{token}/expire");
    let expired = server.post(&path, json!({})).await;
    assert_eq!(expired.status, 200, "{:?}", expired.body);
}

/// The redirect of a navigation to `path`: its location, checked for secrets (`secrets` and
/// the API key), and the one-time code it carries, if any.
pub(crate) async fn navigate(
    server: &Server,
    path: &str,
    secrets: &[&str],
) -> (String, Option<String>) {
    let (authority, _) = listener(server);
    let moved = raw(server, &authority, path, &NAVIGATION).await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    let location = moved.header("location").unwrap().to_string();
    for secret in secrets.iter().chain([&KEY]) {
        assert!(!location.contains(secret), "a secret in {location}");
    }
    let code = location
        .split_once("ralph_preview_code=")
        .map(|(_, code)| code.to_string());
    (location, code)
}

/// Exchanges `code` on the own origin `host` at `path`: the cookie (`name=value`).
pub(crate) async fn exchange(server: &Server, host: &str, path: &str, code: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    let target = format!("{path}{separator}ralph_preview_code={code}");
    let answer = raw(server, host, &target, &[]).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.header("location"), Some(path));
    let cookie = answer.header("set-cookie").unwrap().to_string();
    assert!(cookie.starts_with("ralph-preview-auth="), "{cookie}");
    for attribute in ["; Path=/;", "; HttpOnly", "; SameSite=Lax", "; Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.to_lowercase().contains("domain"), "{cookie}");
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_moves_to_the_previews_own_origin_and_its_code_is_good_once() {
    if !crate::common::have("node") {
        return;
    }
    let server = start("").await;
    let (id, port) = node_server(&server, "echo.js", ECHO).await;
    let (path, token) = signed(&server, &id, port).await;
    let (authority, serve_port) = listener(&server);

    // Without Sec-Fetch headers (an SDK, curl): the path-based proxy as before.
    let (status, body) = fetch(&server, &format!("{}{path}/x?q=1", server.base), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!("at /x?q=1 cookie= prefix={path};")),
        "{body}"
    );
    // Nor for a frame, or a server reached by a name that is not loopback's.
    let framed = [NAVIGATION[0], ("sec-fetch-dest", "iframe")];
    let target = format!("{path}/x");
    assert_eq!(raw(&server, &authority, &target, &framed).await.status, 200);
    let named = format!("devbox:{serve_port}");
    assert_eq!(raw(&server, &named, &target, &NAVIGATION).await.status, 200);

    let (location, code) = navigate(&server, &format!("{path}/x?q=1"), &[&token]).await;
    let own = format!("{port}-{id}.localhost:{serve_port}");
    let code = code.expect("a code");
    assert_eq!(
        location,
        format!("http://{own}/x?q=1&ralph_preview_code={code}")
    );
    let cookie = exchange(&server, &own, "/x?q=1", &code).await;
    let again = raw(&server, &own, &format!("/x?ralph_preview_code={code}"), &[]).await;
    assert_eq!(again.status, 401, "a code is good once: {}", again.body);

    // The cookie admits the browser; the app gets its own cookies, not serve's, its paths as
    // they are, and keeps its cookies' paths, but on its own host only.
    let with_cookie = format!("{cookie}; theme=dark");
    let page = raw(&server, &own, "/x?q=1", &[("cookie", &with_cookie)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("at /x?q=1 cookie=theme=dark prefix=;"),
        "{}",
        page.body
    );
    assert_eq!(page.header("set-cookie"), Some("app=1; Path=/"));
    // Everything on the own origin is the preview's: no API behind it.
    let api = raw(&server, &own, "/api/sandbox", &[("cookie", &cookie)]).await;
    assert!(api.body.contains("at /api/sandbox cookie="), "{}", api.body);
    let keyed = raw(
        &server,
        &own,
        "/api/sandbox",
        &[("authorization", &format!("Bearer {KEY}"))],
    )
    .await;
    assert_eq!(keyed.status, 401, "{}", keyed.body);
    // Without the cookie, or with another preview's host: refused.
    assert_eq!(raw(&server, &own, "/x", &[]).await.status, 401);
    let other_port = format!("{}-{id}.localhost:{serve_port}", port + 1);
    let elsewhere = raw(&server, &other_port, "/x", &[("cookie", &cookie)]).await;
    assert_eq!(elsewhere.status, 401, "{}", elsewhere.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_given_for_one_sandbox_is_refused_on_another_and_used_up() {
    let server = start("").await;
    let first = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, serve_port) = listener(&server);
    // Nothing needs to listen: the code is given and checked before any forwarding.
    let (path, token) = signed(&server, &first, 3000).await;

    let (_, code) = navigate(&server, &format!("{path}/"), &[&token]).await;
    let code = code.expect("a code");
    let target = format!("/?ralph_preview_code={code}");
    let other = format!("3000-{second}.localhost:{serve_port}");
    let refused = raw(&server, &other, &target, &[]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.header("set-cookie").is_none());
    let own = format!("3000-{first}.localhost:{serve_port}");
    assert_eq!(
        raw(&server, &own, &target, &[]).await.status,
        401,
        "used up"
    );

    let (_, code) = navigate(&server, &format!("{path}/"), &[&token]).await;
    let target = format!("/?ralph_preview_code={}", code.unwrap());
    let other_port = format!("3001-{first}.localhost:{serve_port}");
    assert_eq!(raw(&server, &other_port, &target, &[]).await.status, 403);

    // A name is not an origin: only ids are (a name may later be another sandbox's).
    server.create(json!({"name": "origin-name"})).await;
    let by_name = format!("3000-origin-name.localhost:{serve_port}");
    assert_eq!(raw(&server, &by_name, "/", &[]).await.status, 404);
}

/// A node server in a new sandbox, and a browser let in on its own origin by a signed link:
/// the sandbox, the port, the link's token, the own origin's host and the cookie.
async fn let_in_by_a_signed_link(server: &Server) -> (String, u16, String, String, String) {
    let (id, port) = node_server(server, "echo.js", ECHO).await;
    let (path, token) = signed(server, &id, port).await;
    let (status, body) = fetch(server, &format!("{}{path}/", server.base), None).await;
    assert_eq!(status, 200, "{body}");
    let (_, serve_port) = listener(server);
    let own = format!("{port}-{id}.localhost:{serve_port}");
    let (_, code) = navigate(server, &format!("{path}/"), &[&token]).await;
    let cookie = exchange(server, &own, "/", &code.unwrap()).await;
    assert_eq!(
        raw(server, &own, "/", &[("cookie", &cookie)]).await.status,
        200
    );
    (id, port, token, own, cookie)
}

#[tokio::test(flavor = "multi_thread")]
async fn expiring_a_signed_link_early_revokes_the_cookie_it_gave() {
    if !crate::common::have("node") {
        return;
    }
    let server = start("").await;
    let (id, port, token, own, cookie) = let_in_by_a_signed_link(&server).await;

    expire(&server, &id, port, &token).await;
    let after = raw(&server, &own, "/", &[("cookie", &cookie)]).await;
    assert_eq!(after.status, 401, "{}", after.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browsers_cookie_outlives_a_restart_of_serve_and_nothing_else_forges_one() {
    if !crate::common::have("node") {
        return;
    }
    let server = start("").await;
    let (id, port, _, _, cookie) = let_in_by_a_signed_link(&server).await;

    // The same state root, so the same secret; the sandbox's server keeps running.
    let root = server.shutdown().await;
    let server = crate::serve_support::start_with(crate::serve_support::Options {
        root: Some(root),
        ..Default::default()
    })
    .await;
    let (_, serve_port) = listener(&server);
    let own = format!("{port}-{id}.localhost:{serve_port}");
    let again = raw(&server, &own, "/", &[("cookie", &cookie)]).await;
    assert_eq!(again.status, 200, "{}", again.body);

    // A cookie is only good as this server signed it: changed by one character, it is not.
    let (name, value) = cookie.split_once('=').expect("name=value");
    let last = value.chars().last().expect("a value");
    let other = if last == '0' { '1' } else { '0' };
    let forged = format!("{name}={}{other}", &value[..value.len() - 1]);
    assert_eq!(
        raw(&server, &own, "/", &[("cookie", &forged)]).await.status,
        401
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_preview_moves_without_a_code_and_its_web_terminal_has_no_own_origin() {
    if !crate::common::have("node") {
        return;
    }
    let server = start("").await;
    let (id, port) = node_server(&server, "echo.js", ECHO).await;
    let public = server
        .post(&format!("/api/sandbox/{id}/public/true"), json!({}))
        .await;
    assert!(public.status < 300, "{:?}", public.body);
    let path = format!("/_preview/{id}/{port}");
    let (status, body) = fetch(&server, &format!("{}{path}/", server.base), None).await;
    assert_eq!(status, 200, "{body}");
    let (_, serve_port) = listener(&server);

    let (location, code) = navigate(&server, &format!("{path}/a"), &[]).await;
    let own = format!("{port}-{id}.localhost:{serve_port}");
    assert_eq!(location, format!("http://{own}/a"));
    assert!(code.is_none());
    let page = raw(&server, &own, "/a", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);

    // The web terminal has no own origin: a browser stays at its link, and gets no cookie.
    let terminal = format!("22222-{id}.localhost:{serve_port}");
    assert_eq!(raw(&server, &terminal, "/", &[]).await.status, 404);
}

/// Opens the web terminal's WebSocket at `target` on `host`, as a page of `origin` with
/// `cookie` would: the terminal, or the handshake's status when refused.
async fn terminal_socket(
    server: &Server,
    host: &str,
    target: &str,
    cookie: Option<&str>,
    origin: &str,
) -> Result<Terminal, u16> {
    let (authority, _) = listener(server);
    let mut request = format!("ws://{authority}{target}")
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("host", host.parse().unwrap());
    headers.insert("origin", origin.parse().unwrap());
    if let Some(cookie) = cookie {
        headers.insert("cookie", cookie.parse().unwrap());
    }
    connect(request).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_stays_at_the_web_terminals_link_and_gets_no_cookie_that_opens_a_shell() {
    if !crate::common::have("bwrap") {
        return;
    }
    let server = start("").await;
    let (id, ..) = sandbox_with_terminal(&server).await;
    let (path, token) = signed(&server, &id, 22222).await;
    let (authority, serve_port) = listener(&server);

    // A browser's page load of the link is the page itself: no redirect, no cookie.
    let page = raw(&server, &authority, &format!("{path}/"), &NAVIGATION).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("set-cookie"), None);
    assert_eq!(page.header("location"), None);

    // Its would-be own origin is no way in, a forged code least of all.
    let own = format!("22222-{id}.localhost:{serve_port}");
    let forged = raw(&server, &own, "/?ralph_preview_code=x", &NAVIGATION).await;
    assert_eq!(forged.status, 404, "{}", forged.body);
    let refused = terminal_socket(&server, &own, "/ws", None, &format!("http://{own}")).await;
    assert_eq!(refused.err(), Some(404));

    // At its link, from its own page, the shell opens, and ends with the link.
    let origin = format!("http://{authority}");
    let mut terminal = terminal_socket(&server, &authority, &format!("{path}/ws"), None, &origin)
        .await
        .expect("its own page opens it");
    terminal.ready().await;
    expire(&server, &id, 22222, &token).await;
    assert_eq!(terminal.finish().await, Some(1008), "{}", terminal.output);
}
