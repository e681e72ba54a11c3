//! `POST /sandbox/{id}/network-settings` changes only what it names, as Daytona merges a change
//! into a sandbox's settings: a list alone keeps the other list, blocking clears the lists (and
//! wins over a list in the same change), a list unblocks, and a blank list clears only itself. Driven through an in-process `serve`,
//! checking both the answer and what a later read of the sandbox shows, and that a change that
//! is refused changes nothing.
//!
//! Needs bubblewrap, `slirp4netns`, `nft` and `curl` (a domain list gives the sandbox a network
//! of its own): without them the test skips and says why, and with `CI=true` it fails.

use serde_json::{Value, json};

use crate::serve_egress_network::prerequisites;
use crate::serve_support::{Server, start};

/// The three settings as the sandbox's record shows them, after a change to `change`.
async fn change(server: &Server, id: &str, change: Value) -> (Value, Value, Value) {
    let reply = server
        .post(
            &format!("/api/sandbox/{id}/network-settings"),
            change.clone(),
        )
        .await;
    assert_eq!(reply.status, 200, "{change}: {:?}", reply.body);
    let read = server.get(&format!("/api/sandbox/{id}")).await.body;
    let settings = |body: &Value| {
        (
            body["networkBlockAll"].clone(),
            body.get("networkAllowList").cloned().unwrap_or(Value::Null),
            body.get("domainAllowList").cloned().unwrap_or(Value::Null),
        )
    };
    assert_eq!(settings(&reply.body), settings(&read), "{change}");
    settings(&read)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_change_keeps_what_it_does_not_name() {
    if !prerequisites() {
        return;
    }
    let server = start("").await;
    let sandbox = server
        .create(json!({"domainAllowList": "example.test"}))
        .await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let (block, allow, domains) = (json!(false), json!("192.0.2.0/24"), json!("example.test"));

    // An allow list alone keeps the domain list.
    assert_eq!(
        change(&server, &id, json!({"networkAllowList": "192.0.2.0/24"})).await,
        (block.clone(), allow.clone(), domains.clone())
    );
    // A domain list alone keeps the allow list.
    assert_eq!(
        change(&server, &id, json!({"domainAllowList": "*.example.test"})).await,
        (block.clone(), allow.clone(), json!("*.example.test"))
    );
    // A blank list clears only itself.
    assert_eq!(
        change(&server, &id, json!({"networkAllowList": ""})).await,
        (block.clone(), Value::Null, json!("*.example.test"))
    );
    // A refused change changes nothing.
    let refused = server
        .post(
            &format!("/api/sandbox/{id}/network-settings"),
            json!({"networkAllowList": "192.0.2.0/24,not-a-network"}),
        )
        .await
        .api_error(400);
    assert!(refused.contains("not-a-network"), "{refused}");
    assert_eq!(
        change(&server, &id, json!({"domainAllowList": "example.test"})).await,
        (block.clone(), Value::Null, domains.clone())
    );
    // Blocking clears the lists; a list unblocks.
    assert_eq!(
        change(&server, &id, json!({"networkBlockAll": true})).await,
        (json!(true), Value::Null, Value::Null)
    );
    assert_eq!(
        change(&server, &id, json!({"networkAllowList": "192.0.2.0/24"})).await,
        (block.clone(), allow.clone(), Value::Null)
    );
    // Unblocking without a list opens the network: both lists go.
    change(&server, &id, json!({"domainAllowList": "example.test"})).await;
    assert_eq!(
        change(&server, &id, json!({"networkBlockAll": false})).await,
        (block, Value::Null, Value::Null)
    );
    // A change that blocks and lists blocks, as on create.
    assert_eq!(
        change(
            &server,
            &id,
            json!({"networkBlockAll": true, "networkAllowList": "192.0.2.0/24", "domainAllowList": "example.test"})
        )
        .await,
        (json!(true), Value::Null, Value::Null)
    );
}
