//! `serve`'s image builds over real local sandboxes: a Dockerfile's steps really run (under
//! bubblewrap, into a layer of the snapshot), its sandboxes see what they made and others do
//! not, the host is untouched, a failing step fails the build with its output in the build
//! logs, the logs follow until the build ends, and a second build of one image is the cache.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::have;
use crate::serve_support::{KEY, Server, start};

/// A name no other test (or earlier run) uses, for files the builds make.
pub(crate) fn unique(label: &str) -> String {
    format!("rt-{label}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates a snapshot from `dockerfile` and waits until its build has ended.
pub(crate) async fn snapshot(server: &Server, name: &str, dockerfile: &str) -> Value {
    let reply = server
        .post(
            "/api/snapshots",
            json!({"name": name, "buildInfo": {"dockerfileContent": dockerfile}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let reply = server.get(&format!("/api/snapshots/{name}")).await;
        let state = reply.body["state"].as_str().unwrap_or_default().to_string();
        if state == "active" || state == "build_failed" {
            return reply.body;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never built: {:?}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn output(server: &Server, id: &str, command: &str) -> (i64, String) {
    let reply = server.exec(id, command).await;
    assert_eq!(reply.status, 200, "{command}: {:?}", reply.body);
    (
        reply.body["exitCode"].as_i64().unwrap(),
        reply.body["result"].as_str().unwrap().to_string(),
    )
}

async fn logs(server: &Server, url: &str) -> String {
    let response = server
        .client
        .get(format!("{url}?follow=true"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("logs");
    assert_eq!(response.status(), 200);
    response.text().await.expect("the log ends with the build")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_built_snapshot_shows_its_files_to_its_sandboxes_and_leaves_the_host_alone() {
    if !have("bwrap") {
        return;
    }
    let server = start("").await;
    let (directory, script) = (unique("dir"), unique("hello"));
    let dockerfile = format!(
        "FROM debian:bookworm-slim\n\
         ENV GREETING=built-greeting\n\
         RUN mkdir -p /opt/{directory} && echo \"made by $GREETING as $(id -u)\" > /opt/{directory}/file\n\
         RUN printf '#!/bin/sh\\necho script says hi\\n' > /usr/local/bin/{script} \\\n \
             && chmod 0755 /usr/local/bin/{script}\n\
         WORKDIR /opt/{directory}/work\n\
         RUN pwd > where\n\
         CMD [\"sleep\", \"infinity\"]\n"
    );
    let built = snapshot(&server, "with-files", &dockerfile).await;
    assert_eq!(built["state"], "active", "{built}");
    let other = snapshot(
        &server,
        "other",
        &format!("FROM debian:12\nRUN touch /opt/{directory}-other\n"),
    )
    .await;
    assert_eq!(other["state"], "active", "{other}");

    let sandbox = server.create(json!({"snapshot": "with-files"})).await;
    let id = sandbox["id"].as_str().unwrap();
    let (code, made) = output(&server, id, &format!("cat /opt/{directory}/file")).await;
    assert_eq!((code, made.trim()), (0, "made by built-greeting as 0"));
    let (code, said) = output(&server, id, &script).await;
    assert_eq!((code, said.trim()), (0, "script says hi"));
    let (_, env) = output(&server, id, "printf %s \"$GREETING\"").await;
    assert_eq!(
        env, "built-greeting",
        "the image's ENV reaches its sandboxes"
    );
    let (_, workdir) = output(&server, id, &format!("cat /opt/{directory}/work/where")).await;
    assert_eq!(workdir.trim(), format!("/opt/{directory}/work"));
    // The layer is the image's: sandboxes read it, they cannot change it.
    let (code, _) = output(&server, id, &format!("echo x > /opt/{directory}/file")).await;
    assert_ne!(code, 0);

    let stranger = server.create(json!({"snapshot": "other"})).await;
    let stranger = stranger["id"].as_str().unwrap();
    let (code, _) = output(&server, stranger, &format!("test -e /opt/{directory}/file")).await;
    assert_eq!(
        code, 1,
        "another snapshot's sandbox does not see this layer"
    );
    let (code, _) = output(&server, stranger, &format!("command -v {script}")).await;
    assert_ne!(code, 0);
    let (code, _) = output(
        &server,
        stranger,
        &format!("test -e /opt/{directory}-other"),
    )
    .await;
    assert_eq!(code, 0, "but it sees its own");
    let plain = server.create(json!({})).await;
    let (code, _) = output(
        &server,
        plain["id"].as_str().unwrap(),
        &format!("test -e /opt/{directory}/file"),
    )
    .await;
    assert_eq!(code, 1);

    host_lacks(&[
        format!("/opt/{directory}"),
        format!("/opt/{directory}-other"),
        format!("/usr/local/bin/{script}"),
    ]);
}

/// Asserts that no build wrote `paths` on the host.
#[track_caller]
pub(crate) fn host_lacks(paths: &[String]) {
    for path in paths {
        assert!(
            std::fs::symlink_metadata(path).is_err(),
            "the build wrote to the host's {path}"
        );
    }
}

/// The whole build log of `snapshot` (a snapshot's JSON), once its build has ended.
pub(crate) async fn snapshot_log(server: &Server, snapshot: &Value) -> String {
    let url = server
        .get(&format!(
            "/api/snapshots/{}/build-logs-url",
            snapshot["id"].as_str().unwrap()
        ))
        .await;
    logs(server, url.body["url"].as_str().unwrap()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_run_fails_the_build_with_its_output_in_the_logs() {
    if !have("bwrap") {
        return;
    }
    let server = start("").await;
    let marker = unique("marker");
    let dockerfile = format!(
        "FROM node:22-bookworm-slim\nRUN echo {marker}-out && echo {marker}-err >&2 && exit 3\nRUN echo never-reached\n"
    );
    let failed = snapshot(&server, "broken", &dockerfile).await;
    assert_eq!(failed["state"], "build_failed", "{failed}");
    assert!(
        failed["errorReason"]
            .as_str()
            .unwrap()
            .contains("exited with code 3"),
        "{failed}"
    );
    let text = snapshot_log(&server, &failed).await;
    assert!(text.contains(&format!("{marker}-out")), "{text}");
    assert!(text.contains(&format!("{marker}-err")), "{text}");
    assert!(text.contains("cannot be pulled here"), "{text}");
    assert!(text.contains("Build failed"), "{text}");
    assert!(!text.contains("never-reached\n"), "{text}");

    // A sandbox from the same image fails too, with the reason, and takes no commands.
    let created = server
        .post(
            "/api/sandbox",
            json!({"buildInfo": {"dockerfileContent": dockerfile}}),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["state"], "pending_build");
    let id = created.body["id"].as_str().unwrap();
    let sandbox = server.wait_state(id, "build_failed").await;
    assert!(
        sandbox["errorReason"]
            .as_str()
            .unwrap()
            .contains("exited with code 3"),
        "{sandbox}"
    );
    assert!(
        sandbox["buildInfo"]["snapshotRef"]
            .as_str()
            .unwrap()
            .starts_with("daytona-")
    );
    let refused = server.exec(id, "true").await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    let start = server
        .post(&format!("/api/sandbox/{id}/start"), json!({}))
        .await;
    assert_eq!(start.api_error(400), "Sandbox is in an errored state");
    assert_eq!(
        server.delete(&format!("/api/sandbox/{id}")).await.status,
        200
    );

    let plain = server.create(json!({})).await;
    let reply = server
        .get(&format!(
            "/api/sandbox/{}/build-logs-url",
            plain["id"].as_str().unwrap()
        ))
        .await;
    assert!(reply.api_error(404).contains("has no build info"));
}

#[tokio::test(flavor = "multi_thread")]
async fn build_logs_follow_until_the_build_ends() {
    if !have("bwrap") {
        return;
    }
    let server = start("").await;
    let marker = unique("follow");
    let dockerfile = format!(
        "FROM debian:12\nRUN echo {marker}-first && sleep 1 && echo {marker}-second\nRUN echo {marker}-third\n"
    );
    let created = server
        .post(
            "/api/sandbox",
            json!({"buildInfo": {"dockerfileContent": dockerfile}}),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let url = server
        .get(&format!("/api/sandbox/{id}/build-logs-url"))
        .await;
    assert_eq!(url.status, 200, "{:?}", url.body);
    let url = url.body["url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("{}/api/sandbox/{id}/build-logs", server.base));

    // The stream ends by itself once the build has, with every line the build wrote.
    let text = logs(&server, &url).await;
    for line in ["first", "second", "third"] {
        assert!(text.contains(&format!("{marker}-{line}")), "{text}");
    }
    assert!(text.trim_end().ends_with(":daytona"), "{text}");
    assert!(text.contains("Successfully built daytona-"), "{text}");
    let sandbox = server.get(&format!("/api/sandbox/{id}")).await.body;
    assert_ne!(sandbox["state"], "pending_build");
    assert_ne!(sandbox["state"], "building_snapshot");
    server.wait_state(&id, "started").await;
    // Without `follow`, the log so far, at once.
    let whole = server.send(server.client.get(&url).bearer_auth(KEY)).await;
    assert_eq!(whole.body.as_str().unwrap(), text);
    // The logs need the key like every other route.
    let anonymous = server.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cached_build_does_not_run_its_steps_again() {
    if !have("bwrap") {
        return;
    }
    let server = start("").await;
    let directory = unique("cache");
    let dockerfile = format!(
        "FROM debian:12\nRUN mkdir -p /opt/{directory} && cat /proc/sys/kernel/random/uuid > /opt/{directory}/stamp\n"
    );
    let first = snapshot(&server, "first", &dockerfile).await;
    assert_eq!(first["state"], "active", "{first}");
    let second = snapshot(&server, "second", &dockerfile).await;
    assert_eq!(second["state"], "active", "{second}");
    assert_eq!(
        first["buildInfo"]["snapshotRef"],
        second["buildInfo"]["snapshotRef"]
    );

    let stamp = |snapshot: &'static str| {
        let server = &server;
        let directory = directory.clone();
        async move {
            let sandbox = server.create(json!({"snapshot": snapshot})).await;
            output(
                server,
                sandbox["id"].as_str().unwrap(),
                &format!("cat /opt/{directory}/stamp"),
            )
            .await
            .1
        }
    };
    let (one, two) = (stamp("first").await, stamp("second").await);
    assert_eq!(one, two, "the second build reran its step");
    // A sandbox from the same Dockerfile starts from the cached layer too.
    let created = server
        .post(
            "/api/sandbox",
            json!({"buildInfo": {"dockerfileContent": dockerfile}}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    server.wait_state(&id, "started").await;
    assert_eq!(
        output(&server, &id, &format!("cat /opt/{directory}/stamp"))
            .await
            .1,
        one
    );
    let url = server
        .get(&format!("/api/sandbox/{id}/build-logs-url"))
        .await;
    let text = logs(&server, url.body["url"].as_str().unwrap()).await;
    assert_eq!(text.matches("Step 2/2").count(), 1, "{text}");
}
