//! `serve`'s volumes over real local sandboxes: create, list, get by id and by name, delete,
//! with Daytona's states and refusals, and mounts that really share files between sandboxes
//! (a directory under the state root, bound at the mount path).

use crate::serve_support;

use serde_json::{Value, json};
use serve_support::{KEY, Server, start};

async fn volume(server: &Server, name: &str) -> Value {
    let reply = server.post("/api/volumes", json!({"name": name})).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

async fn run(server: &Server, id: &str, command: &str) -> String {
    let reply = server.exec(id, command).await;
    assert_eq!(reply.body["exitCode"], 0, "{command}: {:?}", reply.body);
    reply.body["result"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn volumes_have_daytonas_states_lookups_and_refusals() {
    let server = start("create-delay=300ms,transition-delay=300ms").await;
    let created = volume(&server, "data").await;
    assert_eq!(created["state"], "pending_create");
    assert!(created["errorReason"].is_null() && created.get("errorReason").is_some());
    let id = created["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert_eq!(
        server
            .post("/api/volumes", json!({"name": "data"}))
            .await
            .api_error(400),
        "Volume with name data already exists"
    );
    // Not ready yet: no sandbox may mount it, and it cannot be deleted.
    let early = server
        .post(
            "/api/sandbox",
            json!({"volumes": [{"volumeId": "data", "mountPath": "/home/daytona/data"}]}),
        )
        .await;
    assert!(early.api_error(400).contains("is not in a ready state"));
    server
        .delete(&format!("/api/volumes/{id}"))
        .await
        .api_error(400);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.get(&format!("/api/volumes/{id}")).await.body["state"] != "ready" {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let by_name = server.get("/api/volumes/by-name/data").await;
    assert_eq!(
        (by_name.status, by_name.body["id"].clone()),
        (200, json!(id))
    );
    volume(&server, "other").await;
    let listed = server.get("/api/volumes").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 2);

    let deleted = server.delete(&format!("/api/volumes/{id}")).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    assert_eq!(
        server.get(&format!("/api/volumes/{id}")).await.body["state"],
        "pending_delete"
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        server.get(&format!("/api/volumes/{id}")).await.body["state"],
        "deleted"
    );
    assert_eq!(
        server.get("/api/volumes/by-name/data").await.api_error(404),
        "Volume with name data not found"
    );
    assert_eq!(
        server
            .get("/api/volumes")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        server
            .get("/api/volumes?includeDeleted=true")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The name is free again once the volume is deleted.
    volume(&server, "data").await;
    server
        .get("/api/volumes/00000000-0000-4000-8000-00000000dead")
        .await
        .api_error(404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mounted_volume_shares_files_between_sandboxes() {
    let server = start("").await;
    let created = volume(&server, "shared").await;
    let id = created["id"].as_str().unwrap().to_string();
    let writer = server
        .create(json!({"name": "writer", "volumes": [{"volumeId": id, "mountPath": "/home/daytona/shared"}]}))
        .await;
    assert_eq!(
        writer["volumes"],
        json!([{"volumeId": id, "mountPath": "/home/daytona/shared"}])
    );
    let writer = writer["id"].as_str().unwrap().to_string();
    run(&server, &writer, "echo hello > shared/note.txt").await;

    // Mounted by name, elsewhere, in another sandbox.
    let reader = server
        .create(json!({"name": "reader", "volumes": [{"volumeId": "shared", "mountPath": "/home/daytona/mnt/v"}]}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(run(&server, &reader, "cat mnt/v/note.txt").await, "hello\n");
    // The toolbox's file routes reach the volume too.
    let form = reqwest::multipart::Form::new()
        .text("files[0].path", "mnt/v/uploaded.txt")
        .part(
            "files[0].file",
            reqwest::multipart::Part::bytes(b"up".to_vec()).file_name("mnt/v/uploaded.txt"),
        );
    let upload = server
        .send(
            server
                .client
                .post(server.url(&format!("/toolbox/{reader}/files/bulk-upload")))
                .bearer_auth(KEY)
                .multipart(form),
        )
        .await;
    assert_eq!(upload.status, 200, "{:?}", upload.body);
    assert_eq!(run(&server, &writer, "cat shared/uploaded.txt").await, "up");
    // A sandbox without the mount does not see it.
    let plain = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let absent = server.exec(&plain, "ls shared").await;
    assert_ne!(absent.body["exitCode"], 0);
    // Under bubblewrap the volume can sit outside the home too.
    if matches!(
        server.provider.isolation(),
        ralph_town::provider::local::Isolation::Bubblewrap
    ) {
        let in_tmp = server
            .create(json!({"volumes": [{"volumeId": "shared", "mountPath": "/tmp/v"}]}))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            run(&server, &in_tmp, "cat /tmp/v/note.txt").await,
            "hello\n"
        );
        server.delete(&format!("/api/sandbox/{in_tmp}")).await;
    }

    assert!(
        server
            .delete(&format!("/api/volumes/{id}"))
            .await
            .api_error(409)
            .contains("in use by one or more sandboxes")
    );
    for sandbox in [&writer, &reader] {
        assert_eq!(
            server
                .delete(&format!("/api/sandbox/{sandbox}"))
                .await
                .status,
            200
        );
    }
    assert_eq!(
        server.delete(&format!("/api/volumes/{id}")).await.status,
        200
    );
    let files = server.provider.root().join("volumes").join(&id);
    assert!(!files.exists(), "the volume's files are gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_mounts_are_refused_before_anything_is_created() {
    let server = start("").await;
    volume(&server, "v").await;
    let refused = |mounts: Value| {
        let server = &server;
        async move {
            server
                .post("/api/sandbox", json!({"volumes": mounts}))
                .await
        }
    };
    assert_eq!(
        refused(json!([{"volumeId": "v", "mountPath": "relative"}]))
            .await
            .api_error(400),
        "Invalid mount path relative (must be absolute)"
    );
    assert_eq!(
        refused(json!([{"volumeId": "v", "mountPath": "/etc/v"}]))
            .await
            .api_error(400),
        "Invalid mount path /etc/v (cannot mount to system directory)"
    );
    assert_eq!(
        refused(json!([{"volumeId": "missing", "mountPath": "/home/daytona/m"}]))
            .await
            .api_error(404),
        "Volume 'missing' not found"
    );
    assert!(
        refused(json!([{"volumeId": "v", "mountPath": "/no-such-dir-on-this-host/v"}]))
            .await
            .api_error(400)
            .contains("local sandboxes mount volumes under")
    );
    assert!(
        refused(json!([{"volumeId": "v", "mountPath": "/home/daytona/m", "subpath": "../x"}]))
            .await
            .api_error(400)
            .contains("Invalid subpath")
    );
    let listed = server.get("/api/sandbox").await;
    assert_eq!(listed.body["items"], json!([]));
}
