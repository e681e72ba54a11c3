//! `serve` as an attacker on this machine or its network would try it: what one sandbox's
//! credentials must not open of another sandbox, and what a preview may not do to the origin
//! every preview and the web terminal share (widen a service worker, set a cookie for all).

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::common::have;
use crate::serve_preview::{fetch, free_port, link, run_in_background, serve_home};
use crate::serve_support::{Server, start};

/// Sandboxes on this machine's network all run as the same host user, so the preview proxy
/// must check that the port is the sandbox's own: a public sandbox's link (or any sandbox's
/// token or signed link) used to reach whichever sandbox listened on the port, a private one's
/// too, without its token.
#[tokio::test(flavor = "multi_thread")]
async fn one_sandboxs_preview_link_does_not_reach_another_sandboxs_port() {
    if !have("bwrap") || !have("python3") {
        return;
    }
    let server = start("").await;
    let create = async || {
        let sandbox = server.create(json!({})).await;
        sandbox["id"].as_str().unwrap().to_string()
    };
    let (public, private) = (create().await, create().await);
    let marker = format!("private-{}", uuid::Uuid::new_v4().simple());
    let written = server
        .exec(&private, &format!("echo {marker} > page.txt"))
        .await;
    assert_eq!(written.body["exitCode"], 0, "{:?}", written.body);
    let port = free_port();
    serve_home(&server, &private, port).await;
    // The private sandbox's own link, with its token, reaches its server.
    let own = link(&server, &private, port).await;
    let url = own["url"].as_str().unwrap();
    let (status, body) = fetch(&server, &format!("{url}/page.txt"), own["token"].as_str()).await;
    assert_eq!((status, body.trim()), (200, marker.as_str()));

    let made_public = server
        .post(&format!("/api/sandbox/{public}/public/true"), json!({}))
        .await;
    assert!(made_public.status < 300, "{:?}", made_public.body);
    let other = link(&server, &public, port).await;
    let other_url = other["url"].as_str().unwrap();
    for token in [None, other["token"].as_str()] {
        let (status, body) = fetch(&server, &format!("{other_url}/page.txt"), token).await;
        assert!(
            !body.contains(&marker),
            "another sandbox's link reached it: {body}"
        );
        assert_eq!(status, 403, "{body}");
    }
    let signed = server
        .get(&format!(
            "/api/sandbox/{public}/ports/{port}/signed-preview-url?expiresInSeconds=600"
        ))
        .await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
    let signed_url = signed.body["url"].as_str().unwrap();
    let (status, body) = fetch(&server, &format!("{signed_url}/page.txt"), None).await;
    assert!(
        !body.contains(&marker),
        "another sandbox's signed link reached it: {body}"
    );
    assert_eq!(status, 403, "{body}");
}

/// Uploads `source` as `file` to sandbox `id`'s home and runs `python3 file arguments` there in
/// the background.
pub(crate) async fn run_python_app(
    server: &Server,
    id: &str,
    file: &str,
    source: &str,
    arguments: &str,
) {
    let upload = server
        .client
        .post(server.url(&format!("/toolbox/{id}/files/upload-v2?path={file}")))
        .bearer_auth(crate::serve_support::KEY)
        .body(source.to_string())
        .send()
        .await
        .unwrap();
    assert!(upload.status().is_success(), "{:?}", upload.text().await);
    run_in_background(server, id, &format!("python3 {file} {arguments}")).await;
}

/// The first answer to `request` that is not a 502 (the sandbox's app not listening yet), or
/// the last one after 30 s.
async fn served(request: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = request().send().await.unwrap();
        if response.status() != 502 || Instant::now() > deadline {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A service worker a sandbox's page registers, answered with a script and
/// `Service-Worker-Allowed: /`.
const WORKER_SERVER: &str = r#"
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Type', 'text/javascript')
        self.send_header('Service-Worker-Allowed', '/')
        self.end_headers()
        self.wfile.write(b'self.addEventListener("fetch", () => {})')
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), Handler).serve_forever()
"#;

/// Every preview, and the web terminal's signed links, share `serve`'s one origin (Daytona gives
/// each preview an origin of its own). A service worker a sandbox's page registers is confined
/// to its preview's prefix unless its script's answer widens the scope with
/// `Service-Worker-Allowed`: a worker over the whole origin would see every later preview and
/// terminal link opened in that browser, their tokens included. The proxy drops that header.
#[tokio::test(flavor = "multi_thread")]
async fn a_preview_cannot_widen_a_service_workers_scope_to_the_whole_origin() {
    if !have("python3") {
        return;
    }
    let server = start("").await;
    let sandbox = server.create(json!({})).await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let port = free_port();
    run_python_app(&server, &id, "worker.py", WORKER_SERVER, &format!("{port}")).await;
    let preview = link(&server, &id, port).await;
    let url = format!("{}/sw.js", preview["url"].as_str().unwrap());
    let response = served(|| {
        server
            .client
            .get(&url)
            .header(
                "x-daytona-preview-token",
                preview["token"].as_str().unwrap(),
            )
            .header("service-worker", "script")
    })
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "text/javascript"
    );
    assert_eq!(
        response.headers().get("service-worker-allowed"),
        None,
        "a preview widened its service worker's scope"
    );
}

/// A sandbox's server that sets a session cookie for the whole site, as apps do, on a page
/// and on a WebSocket handshake's `101` alike.
const COOKIE_SERVER: &str = r#"
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        upgrade = self.headers.get('Upgrade')
        self.send_response(101 if upgrade else 200)
        if upgrade:
            self.send_header('Upgrade', upgrade)
            self.send_header('Connection', 'Upgrade')
        self.send_header('Set-Cookie', 'sid=s3ss10n; Path=/; HttpOnly')
        self.send_header('Set-Cookie', 'pref=dark; path=/settings; Max-Age=60')
        self.send_header('Set-Cookie', 'plain=1')
        self.end_headers()
        if not upgrade:
            self.wfile.write(b'ok')
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), Handler).serve_forever()
"#;

/// A server with a sandbox running [`COOKIE_SERVER`], its id and port; `None` without python3.
async fn cookie_app() -> Option<(Server, String, u16)> {
    if !have("python3") {
        return None;
    }
    let server = start("").await;
    let sandbox = server.create(json!({})).await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let port = free_port();
    let arguments = port.to_string();
    run_python_app(&server, &id, "cookies.py", COOKIE_SERVER, &arguments).await;
    Some((server, id, port))
}

/// The cookies [`COOKIE_SERVER`] sets, as a preview under `prefix` must pass them on.
fn scoped_cookies(prefix: &str) -> [String; 3] {
    [
        format!("sid=s3ss10n; Path={prefix}/; HttpOnly"),
        format!("pref=dark; Path={prefix}/settings; Max-Age=60"),
        "plain=1".to_string(),
    ]
}

/// On the shared origin a preview's `Path=/` cookie would be sent to every other preview opened
/// in the same browser (on Daytona each preview's origin is its own): the proxy moves every
/// cookie's path under the preview's prefix, the token link's and the signed link's alike.
#[tokio::test(flavor = "multi_thread")]
async fn a_preview_s_cookies_stay_under_its_own_prefix() {
    let Some((server, id, port)) = cookie_app().await else {
        return;
    };
    let preview = link(&server, &id, port).await;
    let token = preview["token"].as_str().unwrap().to_string();
    let base = preview["url"].as_str().unwrap().to_string();
    let signed = server
        .get(&format!(
            "/api/sandbox/{id}/ports/{port}/signed-preview-url"
        ))
        .await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
    let signed = signed.body["url"].as_str().unwrap().to_string();
    for url in [base, signed] {
        let prefix = reqwest::Url::parse(&url)
            .unwrap()
            .path()
            .trim_end_matches('/')
            .to_string();
        let response = served(|| {
            server
                .client
                .get(format!("{url}/page"))
                .header("x-daytona-preview-token", &token)
        })
        .await;
        assert_eq!(response.status(), 200, "{url}");
        let cookies: Vec<&str> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect();
        assert_eq!(
            cookies,
            scoped_cookies(&prefix),
            "a preview's cookie left its prefix"
        );
    }
}

/// A WebSocket handshake through the proxy (a dev server's hot reload is one) gets its `101`'s
/// cookies kept under the preview's prefix too: browsers keep a handshake's cookies as they
/// keep a page's, so a `Path=/` session cookie set there was sent to every other preview.
#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_handshakes_cookies_stay_under_the_previews_prefix() {
    let Some((server, id, port)) = cookie_app().await else {
        return;
    };
    let preview = link(&server, &id, port).await;
    let (url, token) = (preview["url"].as_str().unwrap(), preview["token"].as_str());
    // Until the server inside is up.
    assert_eq!(fetch(&server, &format!("{url}/page"), token).await.0, 200);
    let prefix = reqwest::Url::parse(url)
        .unwrap()
        .path()
        .trim_end_matches('/')
        .to_string();
    let address = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let handshake = format!(
        "GET {prefix}/socket HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-daytona-preview-token: {}\r\n\r\n",
        token.unwrap()
    );
    stream.write_all(handshake.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut byte)).await;
        match read.expect("the handshake is answered") {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "the connection ended: {other:?} {}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let cookies: Vec<&str> = head
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim())
        })
        .collect();
    assert_eq!(
        cookies,
        scoped_cookies(&prefix),
        "a WebSocket handshake's cookie left the preview's prefix"
    );
}

/// A server that answers its name, listening with `SO_REUSEPORT`, as servers that spread their
/// connections over workers do.
const REUSE_PORT_SERVER: &str = r#"
import http.server, socket, sys
class Server(http.server.HTTPServer):
    def server_bind(self):
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = sys.argv[2].encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(name)))
        self.end_headers()
        self.wfile.write(name)
Server(('127.0.0.1', int(sys.argv[1])), Handler).serve_forever()
"#;

/// How many sockets listen on `port` of this machine.
fn listeners(port: u16) -> usize {
    let local = format!(":{port:04X} ");
    let mut count = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        count += text
            .lines()
            .filter(|line| line.contains(&local) && line.split_whitespace().nth(3) == Some("0A"))
            .count();
    }
    count
}

/// Sandboxes on this machine's network share one host user, so with `SO_REUSEPORT` a process of
/// one sandbox may listen on the very port another's server listens on, and the kernel hands
/// each connection to either socket. The proxy must find every socket the connection may reach
/// this sandbox's: checking one of them let a sandbox's link reach another sandbox's server.
#[tokio::test(flavor = "multi_thread")]
async fn a_port_another_sandbox_also_listens_on_with_so_reuseport_is_not_previewed() {
    if !have("bwrap") || !have("python3") {
        return;
    }
    let server = start("").await;
    let port = free_port();
    let mut sandboxes = Vec::new();
    for name in ["first", "second"] {
        let id = server.create(json!({})).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let marker = format!("{name}-{}", uuid::Uuid::new_v4().simple());
        let arguments = format!("{port} {marker}");
        run_python_app(&server, &id, "reuse.py", REUSE_PORT_SERVER, &arguments).await;
        sandboxes.push((id, marker));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while listeners(port) < 2 {
        assert!(Instant::now() < deadline, "the two servers never listened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (index, (id, _)) in sandboxes.iter().enumerate() {
        let other = &sandboxes[1 - index].1;
        let preview = link(&server, id, port).await;
        let url = format!("{}/", preview["url"].as_str().unwrap());
        // The kernel picks a socket by the connection's ports: enough tries meet both.
        for _ in 0..20 {
            let (status, body) = fetch(&server, &url, preview["token"].as_str()).await;
            assert!(
                !body.contains(other.as_str()),
                "sandbox {id}'s link reached another sandbox's server: {body}"
            );
            assert_eq!(status, 403, "{body}");
        }
    }
}
