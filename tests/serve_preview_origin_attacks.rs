//! A preview's own origin against crafted requests: a path that would make a redirect's
//! `Location` name another host (`//evil.example`, `/\evil.example`, a `Host` with more than a
//! port after its name) stays on the preview's origin or is not redirected, and an app's cookie
//! with bytes beyond ASCII, sent in the same header as `serve`'s, neither locks the browser out
//! nor is lost on the way to the app. Raw requests to an in-process `serve` over a real local
//! sandbox, as in `serve_preview_origin`.

use crate::serve_preview::{fetch, node_server};
use crate::serve_preview_origin::{ECHO, NAVIGATION, exchange, listener, navigate, raw, signed};
use crate::serve_support::{Server, start};

/// A started echo server in a new sandbox, once it answers: its signed link's path and token,
/// and its own origin's authority.
async fn echo(server: &Server) -> (String, String, String) {
    let (id, port) = node_server(server, "echo.js", ECHO).await;
    let (path, token) = signed(server, &id, port).await;
    let (status, body) = fetch(server, &format!("{}{path}/", server.base), None).await;
    assert_eq!(status, 200, "{body}");
    let (_, serve_port) = listener(server);
    (path, token, format!("{port}-{id}.localhost:{serve_port}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_path_that_names_another_host_stays_on_the_previews_origin() {
    if !crate::common::have("node") {
        return;
    }
    let server = start("").await;
    let (path, token, own) = echo(&server).await;

    // The first hop names the own origin in full: the path after it is a path.
    let (location, code) = navigate(&server, &format!("{path}//evil.example/x"), &[&token]).await;
    let code = code.expect("a code");
    assert_eq!(
        location,
        format!("http://{own}//evil.example/x?ralph_preview_code={code}")
    );
    // The second is relative: `//evil.example/x` would be another host's.
    let target = format!("//evil.example/x?ralph_preview_code={code}");
    let landed = raw(&server, &own, &target, &[]).await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    assert_eq!(landed.header("location"), Some("/.//evil.example/x"));
    assert!(landed.header("set-cookie").is_some());

    // Browsers read `/\` as `//`.
    let (_, code) = navigate(&server, &format!("{path}/x"), &[&token]).await;
    let target = format!("/\\evil.example?ralph_preview_code={}", code.unwrap());
    let landed = raw(&server, &own, &target, &[]).await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    assert_eq!(landed.header("location"), Some("/./\\evil.example"));

    // A `Host` with more than a port after a loopback name is not redirected anywhere.
    let (authority, _) = listener(&server);
    let crafted = format!("{authority}@evil.example");
    let stayed = raw(&server, &crafted, &format!("{path}/x"), &NAVIGATION).await;
    assert_eq!(stayed.status, 200, "{:?}", stayed.body);
    assert_eq!(stayed.header("location"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apps_cookie_beyond_ascii_neither_locks_the_browser_out_nor_is_lost() {
    if !crate::common::have("node") {
        return;
    }
    let server = start("").await;
    let (path, token, own) = echo(&server).await;
    let (_, code) = navigate(&server, &format!("{path}/x"), &[&token]).await;
    let cookie = exchange(&server, &own, "/x", &code.expect("a code")).await;

    // What a browser sends once the app has set `name=café`: one header, serve's cookie in it.
    let sent = format!("name=café; {cookie}; theme=dark");
    let page = raw(&server, &own, "/x", &[("cookie", &sent)]).await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    assert!(page.body.contains("; theme=dark prefix=;"), "{}", page.body);
    assert!(page.body.contains("cookie=name=caf"), "{}", page.body);
    assert!(!page.body.contains("ralph-preview-auth"), "{}", page.body);
}
