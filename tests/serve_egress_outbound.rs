//! `outboundProxyUrl` through the API of an in-process `serve`: recorded and returned on the
//! sandbox's own record (not in lists), given as the proxy variables of a sandbox without the
//! egress proxy, and chained to by the egress proxy for one with secrets (here a blocked one),
//! with the secret's value substituted on the way; a name its allow list admitted by address is
//! sent to the outbound proxy as that address (plain HTTP, and the `CONNECT` of an opaque tunnel
//! or of HTTPS over HTTP/1.1 or HTTP/2, whose TLS still names the host),
//! so that the outbound proxy cannot look it up again. The proxy's credential is a sentinel that
//! no error may hold; a malformed URL is a 400 naming the field, leaving nothing behind.
//!
//! The outbound proxy is the test's own recording proxy on 127.0.0.1, forwarding absolute-form
//! requests to the test's upstream and joining `CONNECT`s. Needs what `serve_egress_network`
//! needs, and python3.

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, Response};
use base64::Engine as _;
use hyper_util::rt::TokioIo;
use serde_json::json;

use crate::common::SENTINEL;
use crate::serve_egress_hold::{HOLDER, launch, printed};
use crate::serve_egress_network::{curl, prerequisites, run, sentinel_secret};
use crate::serve_egress_tunnel::echo_upstream;
use crate::serve_secrets::files_holding;
use crate::serve_support::{Options, start, start_with};
use crate::serve_upstreams::{Seen, header, http_upstream, https_upstream_offering};

/// The outbound proxy's password: a credential that must show nowhere.
const CREDENTIAL: &str = "outbound-credential-sentinel-5c1e";

/// What the recording proxy received: each request's URL and `Proxy-Authorization`.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// What the recording proxy was asked for, in order: URLs and `CONNECT` authorities.
fn targets(received: &Received) -> Vec<String> {
    received
        .lock()
        .unwrap()
        .iter()
        .map(|(target, _)| target.clone())
        .collect()
}

/// A plain HTTP proxy on loopback that records each request (a `CONNECT`'s authority, another
/// request's URL) and forwards it, `Host` as it came; a `CONNECT` is joined to its authority.
async fn recording_proxy(received: Received) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (received, client) = (received.clone(), client.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<_>| {
                    let (received, client) = (received.clone(), client.clone());
                    async move {
                        Ok::<_, std::convert::Infallible>(relay(&received, &client, request).await)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    port
}

async fn relay(
    received: &Received,
    client: &reqwest::Client,
    request: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let authorization = request
        .headers()
        .get("proxy-authorization")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    received
        .lock()
        .unwrap()
        .push((request.uri().to_string(), authorization));
    if request.method() == axum::http::Method::CONNECT {
        let target = request.uri().to_string();
        tokio::spawn(async move {
            let (Ok(upgraded), Ok(mut upstream)) = (
                hyper::upgrade::on(request).await,
                tokio::net::TcpStream::connect(target).await,
            ) else {
                return;
            };
            let mut client = TokioIo::new(upgraded);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
        return Response::new(Body::empty());
    }
    let mut headers = request.headers().clone();
    headers.remove("proxy-authorization");
    let answer = client
        .get(request.uri().to_string())
        .headers(headers)
        .send()
        .await
        .unwrap();
    let mut response = Response::new(Body::from(answer.bytes().await.unwrap()));
    *response.status_mut() = axum::http::StatusCode::OK;
    response
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outbound_proxy_is_the_sandboxs_proxy_and_the_egress_proxy_chains_to_it() {
    if !prerequisites() || !crate::common::have("python3") {
        return;
    }
    let seen = Seen::default();
    let upstream = http_upstream(seen.clone()).await;
    let received = Received::default();
    let proxy_port = recording_proxy(received.clone()).await;
    let outbound = format!("http://agent:{CREDENTIAL}@127.0.0.1:{proxy_port}");
    let expected_authorization = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("agent:{CREDENTIAL}"))
    );
    let server = start("").await;

    // Without secrets: the sandbox's proxy variables are the outbound proxy.
    let plain = server.create(json!({"outboundProxyUrl": outbound})).await;
    let plain_id = plain["id"].as_str().unwrap();
    let record = server.get(&format!("/api/sandbox/{plain_id}")).await.body;
    assert_eq!(record["outboundProxyUrl"], outbound.as_str());
    let listed = server.get("/api/sandbox").await.body.to_string();
    assert!(!listed.contains(CREDENTIAL), "{listed}");
    let (_, variables) = run(
        &server,
        plain_id,
        "printf '%s|%s|%s|%s' \"$HTTP_PROXY\" \"$HTTPS_PROXY\" \"$http_proxy\" \"$https_proxy\"",
    )
    .await;
    assert_eq!(variables, [outbound.as_str(); 4].join("|"));
    let url = format!("http://127.0.0.1:{upstream}/plain");
    assert_eq!(curl(&server, plain_id, &url, &[], false).await.0, "200");
    assert!(seen.lock().unwrap().contains_key("/plain"));
    assert!(
        received
            .lock()
            .unwrap()
            .contains(&(url, expected_authorization.clone())),
        "{:?}",
        received.lock().unwrap()
    );

    // With a secret, on a network of its own that lists this machine's loopback: the egress
    // proxy chains to the outbound proxy.
    sentinel_secret(&server, "chained_token").await;
    let chained = server
        .create(json!({
            "outboundProxyUrl": outbound,
            "networkAllowList": "127.0.0.0/8",
            "secrets": [{"TOKEN": "chained_token"}],
        }))
        .await;
    let chained_id = chained["id"].as_str().unwrap();
    let (_, proxy) = run(&server, chained_id, "printf %s \"$HTTP_PROXY\"").await;
    assert!(!proxy.contains(CREDENTIAL), "{proxy}");
    let url = format!("http://127.0.0.1:{upstream}/chained");
    let sent = curl(
        &server,
        chained_id,
        &url,
        &["Authorization: Bearer $TOKEN"],
        false,
    )
    .await;
    assert_eq!(sent.0, "200", "{}", sent.1);
    assert_eq!(
        header(&seen, "/chained", "authorization"),
        format!("Bearer {SENTINEL}")
    );
    assert!(
        received
            .lock()
            .unwrap()
            .contains(&(url, expected_authorization)),
        "{:?}",
        received.lock().unwrap()
    );

    // A name the allow list admitted by its address: the outbound proxy is told that address,
    // so that it cannot look the name up again, and the destination still gets the name.
    let url = format!("http://localhost:{upstream}/pinned");
    let sent = curl(&server, chained_id, &url, &[], false).await;
    assert_eq!(sent.0, "200", "{}", sent.1);
    let requested = targets(&received);
    assert!(
        requested.contains(&format!("http://127.0.0.1:{upstream}/pinned")),
        "{requested:?}"
    );
    assert_eq!(
        header(&seen, "/pinned", "host"),
        format!("localhost:{upstream}")
    );
    // And an opaque tunnel to it: `CONNECT` to the address.
    let echo = echo_upstream(Arc::default(), Arc::default()).await;
    launch(
        &server,
        chained_id,
        "holder",
        HOLDER,
        &format!("localhost:{echo} /tmp/never"),
    )
    .await;
    let output = printed(&server, chained_id, "holder", "open").await;
    assert_eq!(output.trim(), "open one");
    let requested = targets(&received);
    assert!(
        requested.contains(&format!("127.0.0.1:{echo}")),
        "{requested:?}"
    );

    // An outbound proxy that does not answer: the error names no credential.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let gone = server
        .create(json!({
            "outboundProxyUrl": format!("http://agent:{CREDENTIAL}@127.0.0.1:{closed_port}"),
            "secrets": [{"TOKEN": "chained_token"}],
        }))
        .await;
    let gone_id = gone["id"].as_str().unwrap();
    let url = format!("http://127.0.0.1:{upstream}/unreachable");
    let (status, body) = curl(&server, gone_id, &url, &[], false).await;
    assert_eq!(status, "502", "{body}");
    assert!(!body.contains(CREDENTIAL), "{body}");

    // The credential is kept in the 0600 records and, for the sandbox given the outbound proxy
    // itself, in its environment changes: nowhere else under the state root (no log).
    let state = server.root.as_ref().unwrap().path().join("state");
    let holding = files_holding(&state, "", CREDENTIAL);
    let names: std::collections::BTreeSet<&str> = holding
        .iter()
        .filter_map(|path| Path::new(path).file_name()?.to_str())
        .collect();
    assert_eq!(names, ["env.json", "serve.json"].into(), "{holding:?}");
    let environment = holding
        .iter()
        .filter(|path| path.ends_with("env.json"))
        .count();
    assert_eq!(environment, 1, "{holding:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_outbound_proxy_url_is_a_400_naming_the_field_and_never_the_credential() {
    let server = start("").await;
    for url in [
        format!("ftp://agent:{CREDENTIAL}@127.0.0.1:21"),
        format!("agent:{CREDENTIAL}@127.0.0.1:3128"),
        format!("http://agent:{CREDENTIAL}@127.0.0.1:3128/path"),
        format!("http://agent:{CREDENTIAL}@127.0.0.1:port"),
    ] {
        let message = server
            .post("/api/sandbox", json!({"outboundProxyUrl": url}))
            .await
            .api_error(400);
        assert!(message.contains("outboundProxyUrl"), "{message}");
        assert!(!message.contains(CREDENTIAL), "{message}");
    }
    let message = server
        .post("/api/sandbox", json!({"queueTimeout": 0}))
        .await
        .api_error(400);
    assert!(message.contains("queueTimeout"), "{message}");
    let listed = server.get("/api/sandbox").await.body;
    let items = listed["items"].as_array().or(listed.as_array()).unwrap();
    assert!(items.is_empty(), "{listed}");
    // Recorded and returned as Daytona does; nothing local acts on them.
    let made = server
        .create(json!({"otelEndpointOverride": "http://127.0.0.1:4318", "queueTimeout": 5}))
        .await;
    assert_eq!(made["otelEndpointOverride"], "http://127.0.0.1:4318");
    assert_eq!(made["queueTimeout"], 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_through_an_outbound_proxy_goes_to_the_address_the_name_was_admitted_at() {
    if !prerequisites() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let ca_file = root.path().join("upstream-ca.pem");
    let seen = Seen::default();
    let upstream = https_upstream_offering(seen.clone(), &ca_file, &["h2", "http/1.1"]).await;
    let received = Received::default();
    let proxy_port = recording_proxy(received.clone()).await;
    let server = start_with(Options {
        upstream_ca: Some(ca_file),
        root: Some(root),
        ..Options::default()
    })
    .await;
    sentinel_secret(&server, "pinned_token").await;
    let sandbox = server
        .create(json!({
            "outboundProxyUrl": format!("http://agent:{CREDENTIAL}@127.0.0.1:{proxy_port}"),
            "networkAllowList": "127.0.0.0/8",
            "secrets": [{"TOKEN": "pinned_token"}],
        }))
        .await;
    let id = sandbox["id"].as_str().unwrap();
    // HTTP/1.1 and HTTP/2 from the sandbox, each with the value put in, and the outbound proxy
    // told the address (the TLS inside still names `localhost`, which the certificate holds).
    for (version, path) in [("--http1.1", "/pinned-h1"), ("--http2", "/pinned-h2")] {
        let command = format!(
            "curl -sS --max-time 10 {version} -H \"Authorization: Bearer $TOKEN\" https://localhost:{upstream}{path}"
        );
        let (code, output) = run(&server, id, &command).await;
        assert_eq!((code, output.as_str()), (0, "ok"), "{version}");
        assert_eq!(
            header(&seen, path, "authorization"),
            format!("Bearer {SENTINEL}"),
            "{version}"
        );
    }
    let requested = targets(&received);
    assert_eq!(
        requested,
        [
            format!("127.0.0.1:{upstream}"),
            format!("127.0.0.1:{upstream}")
        ],
        "each request's CONNECT names the address"
    );
}
