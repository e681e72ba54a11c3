//! `serve`'s egress proxy for sandboxes with a network of their own, through the API of an
//! in-process `serve`: secrets of a sandbox with an allow list reach their allowed host through
//! the proxy's listener on the sandbox's own loopback (across a stop and start, and a `serve`
//! restart), but only where its network lets it go: once blocked, the proxy sends nothing; a
//! sandbox given a network of its own keeps its secrets, and a domain allow list lets the
//! sandbox's web traffic through to the listed domains only, that of a program ignoring the
//! proxy variables too (its web ports are redirected to the proxy), while nothing reaches this
//! machine directly. Bad domain lists are 400s that leave nothing behind.
//!
//! Needs bubblewrap, `slirp4netns`, `nft` and `curl`: without them the tests skip and say why,
//! and with `CI=true` they fail. The only servers reached are the test's own, on 127.0.0.1.

use serde_json::{Value, json};

use crate::common::{self, SENTINEL};
use crate::serve_support::{Options, Server, start, start_with};
use crate::serve_upstreams::{Seen, header, http_upstream};

/// This machine's loopback, as a sandbox with a network of its own would reach it directly.
pub(crate) const GATEWAY: &str = "10.0.2.2";

/// The proxy's port on a sandbox's own loopback.
const IN_NETWORK: &str = "127.0.0.1:24681";

pub(crate) fn prerequisites() -> bool {
    ["bwrap", "slirp4netns", "nft", "curl"]
        .into_iter()
        .all(common::have)
}

/// What `command` printed in sandbox `id`, its exit code first.
pub(crate) async fn run(server: &Server, id: &str, command: &str) -> (i64, String) {
    let reply = server.exec(id, command).await;
    assert_eq!(reply.status, 200, "{command}: {:?}", reply.body);
    (
        reply.body["exitCode"].as_i64().unwrap_or(-1),
        reply.body["result"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// The HTTP status `curl` got for `url` in sandbox `id` (`000` when it could not connect), and
/// the body, sending `headers`. `direct` leaves the proxy variables unused.
pub(crate) async fn curl(
    server: &Server,
    id: &str,
    url: &str,
    headers: &[&str],
    direct: bool,
) -> (String, String) {
    let mut command = String::from("curl -sS --max-time 10 -o body -w '%{http_code}'");
    if direct {
        command.push_str(" --noproxy '*'");
    }
    for header in headers {
        command.push_str(&format!(" -H \"{header}\""));
    }
    command.push_str(&format!(
        " '{url}' 2>/dev/null; echo; cat body 2>/dev/null; rm -f body"
    ));
    let (_, output) = run(server, id, &command).await;
    let (status, body) = output.split_once('\n').unwrap_or((&output, ""));
    (status.trim().to_string(), body.to_string())
}

/// A secret named `name` whose value is the sentinel, allowed for this machine's loopback by
/// address and by name.
pub(crate) async fn sentinel_secret(server: &Server, name: &str) -> String {
    let reply = server
        .post(
            "/api/secret",
            json!({"name": name, "value": SENTINEL, "hosts": ["127.0.0.1", "localhost"]}),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["placeholder"].as_str().unwrap().to_string()
}

/// Sends a request to `url` from sandbox `id` through its proxy with `$TOKEN` in a header,
/// and checks that it arrived with the secret's value (the sentinel) in its place.
async fn sends_the_secret(server: &Server, seen: &Seen, id: &str, url: &str) {
    let (status, body) = curl(server, id, url, &["Authorization: Bearer $TOKEN"], false).await;
    assert_eq!(status, "200", "{url}: {body}");
    let path = url.rsplit_once('/').map_or("/", |(_, last)| last);
    assert_eq!(
        header(seen, &format!("/{path}"), "authorization"),
        format!("Bearer {SENTINEL}"),
        "{url}"
    );
}

pub(crate) fn id(sandbox: &Value) -> String {
    sandbox["id"].as_str().unwrap().to_string()
}

async fn sandbox_count(server: &Server) -> usize {
    let reply = server.get("/api/sandbox").await;
    reply.body["items"]
        .as_array()
        .or(reply.body.as_array())
        .map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_of_its_own_network_gets_its_secret_through_the_proxy_where_its_network_lets_it_go()
 {
    if !prerequisites() {
        return;
    }
    let seen = Seen::default();
    let port = http_upstream(seen.clone()).await;
    let server = start("").await;
    let placeholder = sentinel_secret(&server, "blocked_token").await;
    let sandbox = server
        .create(json!({"networkAllowList": "127.0.0.0/8", "secrets": [{"TOKEN": "blocked_token"}]}))
        .await;
    let id = id(&sandbox);
    let (_, env) = run(&server, &id, "printf '%s|%s' \"$TOKEN\" \"$http_proxy\"").await;
    let (token, proxy) = env.split_once('|').unwrap();
    assert_eq!(token, placeholder);
    assert!(proxy.ends_with(&format!("@{IN_NETWORK}")), "{proxy}");
    let authorization = "Authorization: Bearer $TOKEN";
    sends_the_secret(
        &server,
        &seen,
        &id,
        &format!("http://127.0.0.1:{port}/blocked"),
    )
    .await;
    // A name goes where its lookup's listed addresses are.
    let url = format!("http://localhost:{port}/by-name");
    assert_eq!(
        curl(&server, &id, &url, &[authorization], false).await.0,
        "200"
    );
    assert!(seen.lock().unwrap().contains_key("/by-name"));
    // Nothing of this machine is reached but through the proxy (this machine's loopback is the
    // gateway to a network of its own, which the list does not hold).
    for host in ["127.0.0.1", GATEWAY] {
        let direct = format!("http://{host}:{port}/direct");
        assert_eq!(
            curl(&server, &id, &direct, &[], true).await.0,
            "000",
            "{host}"
        );
    }
    assert!(!seen.lock().unwrap().contains_key("/direct"));
    // A connection without the sandbox's credential is refused, even from inside.
    let (_, refused) = run(
        &server,
        &id,
        &format!("curl -s -o /dev/null -w '%{{http_code}}' -x http://{IN_NETWORK} http://127.0.0.1:{port}/x"),
    )
    .await;
    assert_eq!(refused, "407");
    // Nor does the port web traffic is redirected to take it: this sandbox has no domain list.
    let (_, sideways) = run(
        &server,
        &id,
        &format!("curl -s -o /dev/null -w '%{{http_code}}' --noproxy '*' -H 'Host: 127.0.0.1:{port}' http://127.0.0.1:24682/sideways"),
    )
    .await;
    assert_eq!(sideways, "403");
    assert!(!seen.lock().unwrap().contains_key("/sideways"));

    // A new network after a stop and start, with a listener in it.
    server.act(&id, "stop", "stopped").await;
    server.act(&id, "start", "started").await;
    sends_the_secret(
        &server,
        &seen,
        &id,
        &format!("http://127.0.0.1:{port}/after-start"),
    )
    .await;

    // And after a restart of serve, for the sandbox that runs on.
    let root = server.shutdown().await;
    let server = start_with(Options {
        root: Some(root),
        ..Options::default()
    })
    .await;
    let url = format!("http://127.0.0.1:{port}/after-restart");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while curl(&server, &id, &url, &[authorization], false).await.0 != "200" {
        assert!(
            std::time::Instant::now() < deadline,
            "no proxy after a restart"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        header(&seen, "/after-restart", "authorization"),
        format!("Bearer {SENTINEL}")
    );

    // Blocked, at once: the proxy is no way out, and the secret goes nowhere.
    let changed = server
        .post(
            &format!("/api/sandbox/{id}/network-settings"),
            json!({"networkBlockAll": true}),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("http://{host}:{port}/after-block");
        let (status, body) = curl(&server, &id, &url, &[authorization], false).await;
        assert_eq!(status, "403", "{host}: {body}");
        assert!(body.contains("blocked (networkBlockAll)"), "{body}");
    }
    assert!(!seen.lock().unwrap().contains_key("/after-block"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_given_a_network_of_its_own_keeps_its_secrets() {
    if !prerequisites() {
        return;
    }
    let seen = Seen::default();
    let port = http_upstream(seen.clone()).await;
    let server = start("").await;
    sentinel_secret(&server, "open_token").await;
    let sandbox = server
        .create(json!({"secrets": [{"TOKEN": "open_token"}]}))
        .await;
    let id = id(&sandbox);
    let authorization = "Authorization: Bearer $TOKEN";
    let url = format!("http://127.0.0.1:{port}/open");
    assert_eq!(
        curl(&server, &id, &url, &[authorization], false).await.0,
        "200"
    );
    let changed = server
        .post(
            &format!("/api/sandbox/{id}/network-settings"),
            json!({"networkAllowList": "127.0.0.1/32"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    let (_, proxy) = run(&server, &id, "printf %s \"$HTTP_PROXY\"").await;
    assert!(proxy.ends_with(&format!("@{IN_NETWORK}")), "{proxy}");
    sends_the_secret(&server, &seen, &id, &format!("http://127.0.0.1:{port}/own")).await;
    let direct = format!("http://{GATEWAY}:{port}/direct");
    assert_eq!(curl(&server, &id, &direct, &[], true).await.0, "000");

    // Given one while stopped: its proxy is in its new network once it starts.
    let stopped = server
        .create(json!({"secrets": [{"TOKEN": "open_token"}]}))
        .await;
    let stopped = stopped["id"].as_str().unwrap().to_string();
    server.act(&stopped, "stop", "stopped").await;
    let changed = server
        .post(
            &format!("/api/sandbox/{stopped}/network-settings"),
            json!({"networkAllowList": "127.0.0.1/32"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    server.act(&stopped, "start", "started").await;
    sends_the_secret(
        &server,
        &seen,
        &stopped,
        &format!("http://127.0.0.1:{port}/changed-while-stopped"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_allow_list_lets_web_traffic_through_to_its_domains_only() {
    if !prerequisites() {
        return;
    }
    let seen = Seen::default();
    let port = http_upstream(seen.clone()).await;
    let server = start("").await;
    let sandbox = server.create(json!({"domainAllowList": "localhost"})).await;
    assert_eq!(sandbox["domainAllowList"], "localhost");
    let id = id(&sandbox);
    // The proxy runs on this machine: `localhost` is this machine's.
    let by_name = format!("http://localhost:{port}/by-name");
    assert_eq!(curl(&server, &id, &by_name, &[], false).await.0, "200");
    assert!(seen.lock().unwrap().contains_key("/by-name"));
    let by_address = format!("http://127.0.0.1:{port}/by-address");
    let (status, body) = curl(&server, &id, &by_address, &[], false).await;
    assert_eq!(status, "403", "{body}");
    assert!(
        body.contains("`127.0.0.1`") && body.contains("`localhost`"),
        "{body}"
    );
    // A tunnel to a host off the list is refused before anything is sent.
    let (status, _) = curl(
        &server,
        &id,
        &format!("https://127.0.0.1:{port}/tunnel"),
        &[],
        false,
    )
    .await;
    assert_eq!(status, "000");
    for host in ["127.0.0.1", GATEWAY] {
        let direct = format!("http://{host}:{port}/direct");
        assert_eq!(
            curl(&server, &id, &direct, &[], true).await.0,
            "000",
            "{host}"
        );
    }
    // A program that ignores the proxy variables: its web ports go to the proxy all the same,
    // where the request's `Host` or the TLS server name decides.
    let transparent = |host: &str, path: &str| {
        format!(
            "curl -sS --noproxy '*' --max-time 10 -o /dev/null -w '%{{http_code}}' -H 'Host: {host}:{port}' http://{GATEWAY}/{path} || true"
        )
    };
    let (_, status) = run(&server, &id, &transparent("localhost", "transparent")).await;
    assert_eq!(status, "200");
    let (_, status) = run(&server, &id, &transparent("127.0.0.1", "transparent-off")).await;
    assert_eq!(status, "403");
    let tls = |name: &str| {
        format!(
            "curl -sS --noproxy '*' --max-time 10 -o /dev/null -w '%{{http_code}}' --resolve {name}:443:{GATEWAY} https://{name}/tls || true"
        )
    };
    let (_, status) = run(&server, &id, &tls("off-the-list.test")).await;
    assert_eq!(status, "403");
    // Let through: this machine's port 443 answers whatever it answers, if anything listens.
    let (_, status) = run(&server, &id, &tls("localhost")).await;
    assert!(!["000", "403"].contains(&status.as_str()), "{status}");
    let sent: Vec<String> = seen.lock().unwrap().keys().cloned().collect();
    assert_eq!(sent, ["/by-name", "/transparent"]);

    // A fork keeps the list, with a proxy of its own in its own network.
    let fork = server
        .post(&format!("/api/sandbox/{id}/fork"), json!({}))
        .await;
    assert_eq!(fork.status, 200, "{:?}", fork.body);
    let fork = fork.body["id"].as_str().unwrap().to_string();
    server.wait_state(&fork, "started").await;
    let forked = format!("http://localhost:{port}/forked");
    assert_eq!(curl(&server, &fork, &forked, &[], false).await.0, "200");
    let (status, _) = curl(&server, &fork, &by_address, &[], false).await;
    assert_eq!(status, "403");

    // A change holds at once, for the sandbox's running processes too: a loop that started
    // before it sees the refusal.
    let loop_command = format!(
        "nohup sh -c 'while :; do curl -s -o /dev/null -w \"%{{http_code}}\\n\" http://localhost:{port}/loop >> codes; sleep 0.2; done' >/dev/null 2>&1 &"
    );
    run(&server, &id, &loop_command).await;
    let changed = server
        .post(
            &format!("/api/sandbox/{id}/network-settings"),
            json!({"domainAllowList": "*.example.test"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body["domainAllowList"], "*.example.test");
    let (status, body) = curl(&server, &id, &by_name, &[], false).await;
    assert_eq!(status, "403", "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, codes) = run(&server, &id, "tail -n 1 codes").await;
        if codes.trim() == "403" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the loop still gets {codes}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    run(&server, &id, "pkill -f 'while [:]'").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_domain_lists_are_400s_naming_the_entry_and_leave_nothing_behind() {
    let server = start("").await;
    let before = sandbox_count(&server).await;
    for (list, entry) in [
        ("example.com,exa mple.com", "exa mple.com"),
        ("10.0.0.1", "10.0.0.1"),
        ("https://example.com", "https://example.com"),
        ("*", "*"),
    ] {
        let message = server
            .post("/api/sandbox", json!({"domainAllowList": list}))
            .await
            .api_error(400);
        assert!(message.contains(&format!("`{entry}`")), "{message}");
    }
    assert_eq!(sandbox_count(&server).await, before);
    let sandbox = server.create(json!({})).await;
    let id = id(&sandbox);
    let message = server
        .post(
            &format!("/api/sandbox/{id}/network-settings"),
            json!({"domainAllowList": "ok.test,bad_entry!"}),
        )
        .await
        .api_error(400);
    assert!(message.contains("`bad_entry!`"), "{message}");
    let record = server.get(&format!("/api/sandbox/{id}")).await.body;
    assert!(
        record.get("domainAllowList").is_none_or(Value::is_null),
        "{record}"
    );
    assert_eq!(record["networkBlockAll"], false);
}

/// The proxy's ports on a sandbox's own loopback are this server's, not the sandbox's: no
/// preview reaches them.
#[tokio::test(flavor = "multi_thread")]
async fn no_preview_reaches_the_proxys_ports_in_a_sandboxs_network() {
    if !prerequisites() {
        return;
    }
    let server = start("").await;
    let sandbox = server.create(json!({"domainAllowList": "localhost"})).await;
    let id = id(&sandbox);
    for port in [24_681, 24_682, 24_683] {
        let link = server
            .get(&format!("/api/sandbox/{id}/ports/{port}/preview-url"))
            .await
            .body;
        let reply = reqwest::Client::new()
            .get(format!("{}/", link["url"].as_str().unwrap()))
            .header("x-daytona-preview-token", link["token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 403, "port {port}");
    }
}
