//! The events socket (`/api/socket.io/`, socket.io over Engine.IO 4, websocket transport) of an
//! in-process `serve`, spoken by hand, frame by frame, as the SDKs' socket.io clients speak it:
//! the token goes in the CONNECT packet, and state changes arrive as `sandbox.created` and
//! `sandbox.state.updated` events. The TypeScript SDK test covers the same end to end.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::serve_support::{self, KEY, Server};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the Engine.IO websocket and sends socket.io's CONNECT with `auth`; returns the socket
/// and the server's answer to the CONNECT (`40...` accepted, `44...` refused).
async fn connect(server: &Server, auth: Option<Value>) -> (Socket, String) {
    let url = format!(
        "{}/api/socket.io/?EIO=4&transport=websocket",
        server.base.replacen("http", "ws", 1)
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the events socket accepts websockets");
    let open = text(&mut socket).await;
    assert!(open.starts_with('0'), "Engine.IO open packet: {open}");
    let handshake: Value = serde_json::from_str(&open[1..]).unwrap();
    assert!(handshake["sid"].is_string(), "{handshake}");
    let connect = match auth {
        Some(auth) => format!("40{auth}"),
        None => "40".to_string(),
    };
    socket.send(Message::text(connect)).await.unwrap();
    let answer = text(&mut socket).await;
    (socket, answer)
}

/// The next text frame, answering Engine.IO pings on the way.
async fn text(socket: &mut Socket) -> String {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a frame within 30 s")
            .expect("the socket stays open")
            .expect("a valid frame");
        match frame {
            Message::Text(text) if text.as_str() == "2" => {
                socket.send(Message::text("3")).await.unwrap();
            }
            Message::Text(text) => return text.to_string(),
            _ => {}
        }
    }
}

/// The next socket.io event about sandbox `id`: its name and payload.
async fn event(socket: &mut Socket, id: &str) -> (String, Value) {
    loop {
        let packet = text(socket).await;
        let Some(event) = packet.strip_prefix("42") else {
            continue;
        };
        let event: Value = serde_json::from_str(event).unwrap();
        let (name, payload) = (event[0].as_str().unwrap().to_string(), event[1].clone());
        let about = payload["sandbox"]["id"]
            .as_str()
            .or(payload["id"].as_str())
            .unwrap_or_default();
        if about == id {
            return (name, payload);
        }
    }
}

/// The next `sandbox.state.updated` of sandbox `id` from state `from` to `to`. Other updates
/// may come between: the API shows the provider's new state for a moment before serve records
/// the transition, and the events show what the API shows.
async fn updated(socket: &mut Socket, id: &str, from: &str, to: &str) -> Value {
    loop {
        let (name, update) = event(socket, id).await;
        if name == "sandbox.state.updated" && update["oldState"] == from && update["newState"] == to
        {
            return update;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_io_client_sees_a_sandbox_created_started_stopped_and_destroyed() {
    let server = serve_support::start("create-delay=300ms,transition-delay=200ms").await;
    let (mut socket, answer) = connect(&server, Some(json!({"token": KEY}))).await;
    assert!(answer.starts_with("40"), "{answer}");

    let created = server
        .post("/api/sandbox", json!({"labels": {"k": "v"}}))
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();

    let (name, sandbox) = event(&mut socket, &id).await;
    assert_eq!(name, "sandbox.created");
    assert_eq!(sandbox["labels"]["k"], "v", "{sandbox}");
    let update = updated(&mut socket, &id, "creating", "started").await;
    assert_eq!(update["sandbox"]["state"], "started", "{update}");
    // What the event said is what the API shows.
    let shown = server.get(&format!("/api/sandbox/{id}")).await;
    assert_eq!(shown.body["state"], "started");

    let stopped = server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    assert_eq!(stopped.status, 200, "{:?}", stopped.body);
    let update = updated(&mut socket, &id, "stopping", "stopped").await;
    assert_eq!(update["sandbox"]["state"], "stopped", "{update}");

    let deleted = server.delete(&format!("/api/sandbox/{id}")).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    let update = updated(&mut socket, &id, "stopped", "destroyed").await;
    assert_eq!(update["sandbox"]["state"], "destroyed", "{update}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_events_socket_takes_only_the_pinned_key() {
    let server = serve_support::start_with(serve_support::Options {
        api_key: Some(KEY.to_string()),
        ..serve_support::Options::default()
    })
    .await;
    for auth in [None, Some(json!({})), Some(json!({"token": "dtn_wrong"}))] {
        let (_, answer) = connect(&server, auth.clone()).await;
        assert_eq!(answer, r#"44{"message":"Unauthorized"}"#, "auth {auth:?}");
    }
    let (_, answer) = connect(&server, Some(json!({"token": KEY}))).await;
    assert!(answer.starts_with("40{"), "{answer}");
}
