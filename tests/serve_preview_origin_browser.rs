//! Two sandboxes' previews in a real browser: Chromium, driven by playwright-core from
//! `tests/sdk-ts/preview_origin_browser.mjs`, opens their signed links on an in-process `serve`
//! and shows that each lands on an origin of its own, with storage of its own, and that one
//! page's script cannot fetch the other preview with the browser's cookies. The HTTP of it is
//! in `serve_preview_origin`; nothing here may leave loopback.

use crate::serve_preview::{fetch, node_server};
use crate::serve_preview_origin::signed;
use crate::serve_support::{self, Server, run_node_script};
use crate::serve_web_terminal_browser::browser;

/// A sandbox web server: a page, `/secret` (counted) and `/hits` (the count).
const SERVER: &str = r"
let hits = 0
require('http').createServer((request, response) => {
  if (request.url === '/secret') {
    hits += 1
    response.end('secret of NAME')
  } else if (request.url === '/hits') {
    response.end(String(hits))
  } else {
    response.setHeader('content-type', 'text/html; charset=utf-8')
    response.end('<!doctype html><title>NAME</title><p>preview NAME</p>')
  }
}).listen(Number(process.argv[2]), '127.0.0.1')
";

/// A started server named `name` in a new sandbox, and its signed link (10 minutes), once it
/// answers through it.
async fn previewed(server: &Server, name: &str) -> String {
    let (id, port) = node_server(server, "page.js", &SERVER.replace("NAME", name)).await;
    let (path, _) = signed(server, &id, port).await;
    let link = format!("{}{path}", server.base);
    let (status, body) = fetch(server, &format!("{link}/"), None).await;
    assert_eq!(status, 200, "{body}");
    link
}

#[tokio::test(flavor = "multi_thread")]
async fn two_previews_in_chromium_share_no_storage_and_cannot_fetch_each_other() {
    let Some(folder) = browser() else {
        return;
    };
    let server = serve_support::start("").await;
    let first = previewed(&server, "a").await;
    let second = previewed(&server, "b").await;
    let work = tempfile::tempdir().unwrap();
    let env = [
        ("LINK_A", first.as_str()),
        ("LINK_B", second.as_str()),
        ("WORK", work.path().to_str().unwrap()),
        // The browser unpacks itself into the temporary directory: this test's own.
        ("TMPDIR", work.path().to_str().unwrap()),
    ];
    run_node_script(
        &folder,
        "preview_origin_browser.mjs",
        &server,
        &env,
        "preview-origin-browser: done",
    )
    .await;
}
