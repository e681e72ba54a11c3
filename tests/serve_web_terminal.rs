//! Daytona's web terminal (port 22222) through `serve`'s preview links, against an in-process
//! `serve` and real local sandboxes: the page and its vendored xterm.js assets, the token
//! checked as for any preview, and a WebSocket client of our own speaking the daemon's
//! protocol (a JSON size resizes, anything else is input, output is UTF-8 text) to a login
//! shell of its own, which ends with the socket and with the sandbox.

use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::serve_support::{KEY, Server, start};
use crate::sessions_local::running;

const TOKEN_HEADER: &str = "x-daytona-preview-token";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A started sandbox and its port 22222 preview link (url, token).
pub(crate) async fn sandbox_with_terminal(server: &Server) -> (String, String, String) {
    let sandbox = server.create(json!({})).await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let reply = server
        .get(&format!("/api/sandbox/{id}/ports/22222/preview-url"))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let url = reply.body["url"].as_str().unwrap().to_string();
    let token = reply.body["token"].as_str().unwrap().to_string();
    (id, url, token)
}

/// A signed link (10 minutes) of sandbox `id`'s port 22222: what a browser opens.
pub(crate) async fn signed_link(server: &Server, id: &str) -> String {
    let signed = server
        .get(&format!(
            "/api/sandbox/{id}/ports/22222/signed-preview-url?expiresInSeconds=600"
        ))
        .await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
    signed.body["url"].as_str().unwrap().to_string()
}

/// GET `url` with the preview token when given: status, content type, cache control, body.
async fn get(server: &Server, url: &str, token: Option<&str>) -> (u16, String, String, String) {
    let mut request = server.client.get(url);
    if let Some(token) = token {
        request = request.header(TOKEN_HEADER, token);
    }
    let response = request.send().await.expect("the proxy answers");
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (content_type, cache) = (header("content-type"), header("cache-control"));
    let status = response.status().as_u16();
    (status, content_type, cache, response.text().await.unwrap())
}

/// A WebSocket client of one web terminal, and the text it has seen.
pub(crate) struct Terminal {
    pub(crate) socket: Socket,
    pub(crate) output: String,
}

/// Opens `<link>/ws`, with the preview token when given; the handshake's status when refused.
pub(crate) async fn open(url: &str, token: Option<&str>) -> Result<Terminal, u16> {
    open_from(url, token, None).await
}

/// [`open`] as a browser page of `origin` would.
async fn open_from(url: &str, token: Option<&str>, origin: Option<&str>) -> Result<Terminal, u16> {
    let url = format!("{}/ws", url.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert(TOKEN_HEADER, token.parse().unwrap());
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    connect(request).await
}

/// Opens the web terminal's WebSocket with `request`: the terminal, or the handshake's status
/// when refused.
pub(crate) async fn connect(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> Result<Terminal, u16> {
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(Terminal {
            socket,
            output: String::new(),
        }),
        Err(WsError::Http(response)) => Err(response.status().as_u16()),
        Err(error) => panic!("the WebSocket failed: {error}"),
    }
}

impl Terminal {
    pub(crate) async fn send(&mut self, text: &str) {
        self.socket.send(Message::text(text)).await.unwrap();
    }

    /// The next frame, or a failure after a generous deadline; `None` at the end of the stream.
    async fn next(&mut self) -> Option<Message> {
        tokio::time::timeout(Duration::from_secs(30), self.socket.next())
            .await
            .expect("a frame within 30 s")
            .and_then(Result::ok)
    }

    /// Reads output until it holds `needle`; returns all output so far. Output comes only as
    /// text frames.
    pub(crate) async fn expect(&mut self, needle: &str) -> String {
        while !self.output.contains(needle) {
            match self.next().await {
                Some(Message::Text(text)) => self.output.push_str(&text),
                other => panic!("waiting for {needle:?} got {other:?}\n{}", self.output),
            }
        }
        self.output.clone()
    }

    /// Waits for the shell's prompt: bash drops what is typed before it reads at its prompt.
    pub(crate) async fn ready(&mut self) {
        self.expect("$ ").await;
    }

    /// Reads to the end: the close frame's code, if one came (output before it is kept).
    pub(crate) async fn finish(&mut self) -> Option<u16> {
        loop {
            match self.next().await {
                Some(Message::Text(text)) => self.output.push_str(&text),
                Some(Message::Close(frame)) => return frame.map(|frame| u16::from(frame.code)),
                None => return None,
                Some(other) => panic!("expected the end of the terminal, got {other:?}"),
            }
        }
    }
}

/// Waits until `condition` holds (a guard against hanging, not a timing assertion).
pub(crate) async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A new sandbox's web terminal running `sleep <seconds>` in its shell, with the sandbox's id
/// and that `seconds` (an argument no other process on the machine uses).
async fn busy_terminal(server: &Server) -> (String, Terminal, String) {
    let (id, url, token) = sandbox_with_terminal(server).await;
    let seconds = format!(
        "87{:03}.{:06}",
        fastrand::u32(..1000),
        fastrand::u32(..1_000_000)
    );
    let mut terminal = open(&url, Some(&token)).await.expect("a socket");
    terminal.ready().await;
    terminal.send(&format!("sleep {seconds}\r")).await;
    until("the sleeper starts", || running(&["sleep", &seconds]) == 1).await;
    (id, terminal, seconds)
}

/// The host pid of the parent of the one process running `argv` (the shell that started it).
pub(crate) fn parent_of(argv: &[&str]) -> u32 {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|arg| format!("{arg}\0").into_bytes())
        .collect();
    let pid = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find(|entry| std::fs::read(entry.path().join("cmdline")).is_ok_and(|line| line == wanted))
        .expect("the process runs")
        .file_name();
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", pid.to_str().unwrap())).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Whether host process `pid` is alive (not gone, not a zombie).
pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_terminal_page_and_its_assets_are_served_through_the_preview_link() {
    let server = start("").await;
    let (id, url, token) = sandbox_with_terminal(&server).await;

    // The link itself (redirected into its directory) is the page.
    let (status, content_type, cache, page) = get(&server, &url, Some(&token)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert_eq!(cache, "no-cache");
    for asset in ["xterm.js", "addon-fit.js", "xterm.css"] {
        assert!(page.contains(&format!("\"{asset}\"")), "{asset} in {page}");
    }
    let assets = [
        ("xterm.js", "text/javascript; charset=utf-8", "Terminal"),
        ("addon-fit.js", "text/javascript; charset=utf-8", "FitAddon"),
        ("xterm.css", "text/css; charset=utf-8", ".xterm"),
    ];
    for (asset, expected_type, content) in assets {
        let (status, content_type, cache, body) =
            get(&server, &format!("{url}/{asset}"), Some(&token)).await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, expected_type),
            "{asset}"
        );
        assert!(cache.contains("max-age="), "{asset}: {cache}");
        assert!(body.contains(content), "{asset}");
        assert_eq!(
            body.as_bytes(),
            std::fs::read(format!("assets/web-terminal/{asset}")).unwrap(),
            "{asset} is the vendored file"
        );
    }
    let (status, ..) = get(&server, &format!("{url}/nothing.js"), Some(&token)).await;
    assert_eq!(status, 404);

    // The token is checked as for any preview: page, assets and socket.
    for path in ["", "/", "/xterm.js", "/ws"] {
        let (status, ..) = get(&server, &format!("{url}{path}"), None).await;
        assert_eq!(status, 401, "{path} without the token");
        let (status, ..) = get(&server, &format!("{url}{path}"), Some(KEY)).await;
        assert_eq!(status, 401, "{path} with the API key for a token");
    }
    assert_eq!(open(&url, None).await.err(), Some(401));
    assert_eq!(open(&url, Some("wrong")).await.err(), Some(401));

    // A signed link serves the same page, and a socket with no header, as a browser opens it.
    let signed_url = signed_link(&server, &id).await;
    let (status, _, _, signed_page) = get(&server, &format!("{signed_url}/"), None).await;
    assert_eq!((status, signed_page.as_str()), (200, page.as_str()));
    let mut terminal = open(&signed_url, None).await.expect("a signed socket");
    terminal.ready().await;
    terminal.send("echo signed-$((6*7))\r").await;
    terminal.expect("signed-42").await;
    drop(terminal);
    // Another site's page that learnt the link opens no shell; the link's own page does.
    let foreign = open_from(&signed_url, None, Some("https://elsewhere.example")).await;
    assert_eq!(foreign.err(), Some(403));
    let own = server.base.clone();
    assert!(open_from(&signed_url, None, Some(&own)).await.is_ok());

    // A shell is no public page: a public sandbox's web terminal still needs the token.
    let public = server
        .post(&format!("/api/sandbox/{id}/public/true"), json!({}))
        .await;
    assert_eq!(public.body["public"], true, "{:?}", public.body);
    for path in ["/", "/ws"] {
        let (status, ..) = get(&server, &format!("{url}{path}"), None).await;
        assert_eq!(status, 401, "{path} of a public sandbox without the token");
    }
    assert_eq!(open(&url, None).await.err(), Some(401));
    assert!(open(&url, Some(&token)).await.is_ok());

    // Stopped: refused as any preview of a stopped sandbox.
    let stopped = server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    assert_eq!(stopped.status, 200, "{:?}", stopped.body);
    server.wait_state(&id, "stopped").await;
    let (status, _, _, body) = get(&server, &format!("{url}/"), Some(&token)).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("not started"), "{body}");
    assert_eq!(open(&url, Some(&token)).await.err(), Some(409));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_web_terminal_is_a_login_shell_of_its_own_that_resizes_and_keeps_characters_whole() {
    let server = start("").await;
    let (id, url, token) = sandbox_with_terminal(&server).await;
    let home = server.exec(&id, "printf %s \"$HOME\"").await.body["result"]
        .as_str()
        .unwrap()
        .to_string();
    let mut terminal = open(&url, Some(&token)).await.expect("a socket");
    terminal.send(r#"{"rows":31,"cols":97}"#).await;
    terminal.ready().await;

    // The echo of the line shows `$((6*7))`; only running it prints 42.
    terminal.send("stty size; echo $((6*7))\r").await;
    // (Bash turns bracketed paste off before running the line, so the size follows a `CSI`.)
    let output = terminal.expect("31 97\r\n42\r\n").await;
    assert!(output.contains("$((6*7))"), "{output}");
    terminal
        .send("echo \"term=$TERM pwd=$(pwd) login=$(shopt -q login_shell && echo yes)\"\r")
        .await;
    terminal
        .expect(&format!("term=xterm-256color pwd={home} login=yes"))
        .await;

    // Multi-byte characters come back whole, one even when split across two writes.
    terminal
        .send("printf 'wide:\\303\\251\\342\\202\\254\\360\\237\\230\\200:'; printf 'split:\\342\\202'; sleep 0.5; printf '\\254:end-%d\\n' 42\r")
        .await;
    let output = terminal.expect(":end-42").await;
    assert!(output.contains("wide:é€😀:split:€:end-42"), "{output:?}");
    assert!(!output.contains('\u{fffd}'), "{output}");

    // A binary frame is input too, and the toolbox does not see the terminal as a PTY session.
    terminal
        .socket
        .send(Message::binary(b"echo binary-$((7*6))\r".to_vec()))
        .await
        .unwrap();
    terminal.expect("binary-42").await;
    let sessions = server.get(&format!("/toolbox/{id}/process/pty")).await;
    assert_eq!(sessions.body, json!({"sessions": []}));

    // Another socket gets a shell of its own.
    let mut other = open(&url, Some(&token)).await.expect("a second socket");
    other.ready().await;
    other.send("echo \"other-$$\"; stty size\r").await;
    let output = other.expect("24 80\r\n").await;
    assert!(output.contains("other-"), "{output}");

    // The shell's exit closes the socket normally.
    terminal.send("exit\r").await;
    assert_eq!(terminal.finish().await, Some(1000));
    other.send("exit 3\r").await;
    assert_eq!(other.finish().await, Some(1000));
}

#[tokio::test(flavor = "multi_thread")]
async fn closing_a_web_terminal_ends_its_shell_and_what_it_runs() {
    let server = start("").await;
    let (_, mut terminal, seconds) = busy_terminal(&server).await;
    let sleeper = ["sleep", seconds.as_str()];
    let shell = parent_of(&sleeper);
    assert!(alive(shell));

    terminal.socket.close(None).await.unwrap();
    drop(terminal);
    until("the sleeper ends", || running(&sleeper) == 0).await;
    until("the shell ends", || !alive(shell)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_or_deleting_the_sandbox_closes_its_web_terminals() {
    let server = start("").await;
    for ending in ["stop", "delete"] {
        let (id, mut terminal, seconds) = busy_terminal(&server).await;
        let sleeper = ["sleep", seconds.as_str()];
        let reply = if ending == "stop" {
            server
                .post(&format!("/api/sandbox/{id}/stop"), json!({}))
                .await
        } else {
            server.delete(&format!("/api/sandbox/{id}")).await
        };
        assert!(reply.status < 300, "{ending}: {:?}", reply.body);
        let code = terminal.finish().await;
        assert_eq!(code, Some(1000), "{ending}: {}", terminal.output);
        until("the sleeper ends", || running(&sleeper) == 0).await;
    }
}
