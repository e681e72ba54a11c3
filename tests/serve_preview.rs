//! `serve`'s preview links over real local sandboxes: a web server started in a sandbox (in a
//! process session, as an agent would) is reachable through the link with its token, refused
//! without it, and refused once the sandbox has stopped; signed links carry their own token and
//! expire; the proxy reaches nothing that is not a sandbox's and opens no API route.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::have;
use crate::serve_support::{KEY, Server, start};

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `python3 -m http.server` in the sandbox's home, in a session that outlives the call.
async fn serve_home(server: &Server, id: &str, port: u16) {
    let reply = server
        .post(
            &format!("/toolbox/{id}/process/session"),
            json!({"sessionId": "web"}),
        )
        .await;
    assert!(reply.status < 300, "{:?}", reply.body);
    let reply = server
        .post(
            &format!("/toolbox/{id}/process/session/web/exec"),
            json!({"command": format!("python3 -m http.server {port} --bind 127.0.0.1"), "runAsync": true}),
        )
        .await;
    assert!(reply.status < 300, "{:?}", reply.body);
}

/// GETs `url` (with the preview token when given) until the server inside answers 200.
async fn fetch(server: &Server, url: &str, token: Option<&str>) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut request = server.client.get(url);
        if let Some(token) = token {
            request = request.header("x-daytona-preview-token", token);
        }
        let response = request.send().await.expect("proxy answers");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        // 502 while the server inside is still starting.
        if status != 502 || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn link(server: &Server, id: &str, port: u16) -> Value {
    let reply = server
        .get(&format!("/api/sandbox/{id}/ports/{port}/preview-url"))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

#[tokio::test(flavor = "multi_thread")]
async fn a_web_server_in_a_sandbox_is_reachable_through_its_preview_link_with_the_token() {
    if !have("python3") {
        return;
    }
    let server = start("").await;
    let sandbox = server.create(json!({})).await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let marker = format!("preview-{}", uuid::Uuid::new_v4().simple());
    let written = server.exec(&id, &format!("echo {marker} > page.txt")).await;
    assert_eq!(written.body["exitCode"], 0, "{:?}", written.body);
    let port = free_port();
    serve_home(&server, &id, port).await;

    let preview = link(&server, &id, port).await;
    assert_eq!(preview["sandboxId"], id.as_str());
    let url = preview["url"].as_str().unwrap().to_string();
    let token = preview["token"].as_str().unwrap().to_string();
    assert_eq!(url, format!("{}/_preview/{id}/{port}", server.base));
    assert_eq!(
        link(&server, &id, port).await["token"],
        token.as_str(),
        "one token per sandbox"
    );

    let (status, body) = fetch(&server, &format!("{url}/page.txt"), Some(&token)).await;
    assert_eq!((status, body.trim()), (200, marker.as_str()));
    // The bare link redirects into the preview, whose listing links resolve inside it.
    let (status, listing) = fetch(&server, &url, Some(&token)).await;
    assert_eq!(status, 200);
    assert!(listing.contains("page.txt"), "{listing}");

    let (status, _) = fetch(&server, &format!("{url}/page.txt"), None).await;
    assert_eq!(status, 401, "no token, no preview");
    let (status, _) = fetch(&server, &format!("{url}/page.txt"), Some("wrong-token")).await;
    assert_eq!(status, 401);
    let (status, body) = fetch(&server, &format!("{url}/page.txt"), Some(KEY)).await;
    assert_eq!(status, 401, "the API key is not a preview token: {body}");

    // A signed link needs no header, and stops working once expired.
    let signed = server
        .get(&format!(
            "/api/sandbox/{id}/ports/{port}/signed-preview-url?expiresInSeconds=600"
        ))
        .await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
    assert_eq!(signed.body["port"], port);
    let signed_url = signed.body["url"].as_str().unwrap().to_string();
    let (status, body) = fetch(&server, &format!("{signed_url}/page.txt"), None).await;
    assert_eq!((status, body.trim()), (200, marker.as_str()));
    let expire = server
        .post(
            &format!(
                "/api/sandbox/{id}/ports/{port}/signed-preview-url/{}/expire",
                signed.body["token"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(expire.status, 200, "{:?}", expire.body);
    let (status, _) = fetch(&server, &format!("{signed_url}/page.txt"), None).await;
    assert_eq!(status, 401);

    // Stopped: its ports are not previewed, token or not.
    let stopped = server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    assert_eq!(stopped.status, 200, "{:?}", stopped.body);
    server.wait_state(&id, "stopped").await;
    let (status, body) = fetch(&server, &format!("{url}/page.txt"), Some(&token)).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("not started"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_preview_proxy_reaches_only_sandbox_ports_and_no_api_route() {
    let server = start("").await;
    let sandbox = server.create(json!({})).await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let api_port: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();

    // This server's own port: refused, with or without a token.
    let preview = link(&server, &id, api_port).await;
    let token = preview["token"].as_str().unwrap().to_string();
    let (status, body) = fetch(
        &server,
        &format!("{}/api/sandbox", preview["url"].as_str().unwrap()),
        Some(&token),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // A host process that is not a sandbox's: this test, as root, when sandbox commands run as
    // their own uid. (As an ordinary user they run as that user, whose ports look alike.)
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let url = link(&server, &id, port).await["url"]
        .as_str()
        .unwrap()
        .to_string();
    if running_as_root() {
        let (status, _) = fetch(&server, &format!("{url}/"), Some(&token)).await;
        assert_eq!(status, 403, "a root-owned host port was proxied");
    }
    // Unknown sandboxes and bad ports.
    let (status, _) = fetch(
        &server,
        &format!("{}/_preview/nope/8080/", server.base),
        Some(&token),
    )
    .await;
    assert_eq!(status, 404);
    let reply = server
        .get(&format!("/api/sandbox/{id}/ports/0/preview-url"))
        .await;
    reply.api_error(400);
    // The preview-url route needs the key like every API route.
    let anonymous = server
        .client
        .get(server.url(&format!("/api/sandbox/{id}/ports/{port}/preview-url")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    drop(host);
}

/// Whether this test runs as root (sandbox commands then run as their own uid).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .and_then(|line| line.split_whitespace().nth(1).map(|uid| uid == "0"))
        .unwrap_or(false)
}
