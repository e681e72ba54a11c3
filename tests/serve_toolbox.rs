//! `serve`'s toolbox (`/toolbox/{id}/...`) over real local sandboxes: command execution with
//! real exit codes, merged output and 408 timeouts, files (multipart, chunked, bulk), listings,
//! the environment, and `git clone` from a real local repository.

use crate::serve_support;

use std::process::Command;

use futures::StreamExt as _;
use serde_json::json;
use serve_support::{KEY, Options, start, start_with};

async fn sandbox(server: &serve_support::Server) -> String {
    server.create(json!({"env": {"FROM_CREATE": "yes"}})).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn execute_reports_real_exit_codes_and_merged_output() {
    let server = start("").await;
    let id = sandbox(&server).await;
    let reply = server.exec(&id, "echo out; echo err >&2; exit 3").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["exitCode"], 3);
    let result = reply.body["result"].as_str().unwrap();
    assert!(
        result.contains("out\n") && result.contains("err\n"),
        "{result}"
    );

    let missing = server.exec(&id, "definitely-not-a-command-4711").await;
    assert_eq!(missing.body["exitCode"], 127);
    let piped = server
        .exec(&id, "printf 'a\\nb\\n' | wc -l && echo $FROM_CREATE")
        .await;
    assert_eq!(
        piped.body["result"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["2", "yes"]
    );

    let with_env = server
        .post(
            &format!("/toolbox/{id}/process/execute"),
            json!({"command": "echo $ONE_OFF", "envs": {"ONE_OFF": "value 1"}, "cwd": "/tmp"}),
        )
        .await;
    assert_eq!(with_env.body, json!({"exitCode": 0, "result": "value 1\n"}));

    let nowhere = server
        .post(
            &format!("/toolbox/{id}/process/execute"),
            json!({"command": "true", "cwd": "/home/daytona/does/not/exist"}),
        )
        .await;
    assert_eq!(nowhere.status, 200);
    assert_eq!(nowhere.body["exitCode"], -1);
    assert!(!nowhere.body["result"].as_str().unwrap().is_empty());

    let blank = server.exec(&id, "  ").await;
    blank.daemon_error(400, "BAD_REQUEST");
    let bad_name = server
        .post(
            &format!("/toolbox/{id}/process/execute"),
            json!({"command": "true", "envs": {"NOT-VALID": "x"}}),
        )
        .await;
    bad_name.daemon_error(400, "BAD_REQUEST");
    let unknown = server.exec("no-such-sandbox", "true").await;
    unknown.daemon_error(404, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timed_out_command_is_408_with_the_daemon_body() {
    let server = start("").await;
    let id = sandbox(&server).await;
    let reply = server
        .post(
            &format!("/toolbox/{id}/process/execute"),
            json!({"command": "sleep 30", "timeout": 1}),
        )
        .await;
    let message = reply.daemon_error(408, "REQUEST_TIMEOUT");
    assert_eq!(message, "command execution timeout");
    assert_eq!(reply.body["path"], "/process/execute");
    assert_eq!(reply.body["method"], "POST");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deprecated_execute_route_still_works() {
    let server = start("").await;
    let id = sandbox(&server).await;
    let reply = server
        .post(
            &format!("/api/toolbox/{id}/toolbox/process/execute"),
            json!({"command": "exit 4"}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.body["exitCode"].clone()),
        (200, json!(4))
    );
    let missing = server
        .post(
            "/api/toolbox/nope/toolbox/process/execute",
            json!({"command": "true"}),
        )
        .await;
    missing.api_error(404);
}

#[tokio::test(flavor = "multi_thread")]
async fn files_upload_download_list_info_and_delete() {
    let server = start("").await;
    let id = sandbox(&server).await;
    let base = format!("/toolbox/{id}/files");

    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"hello\x00world".to_vec()).file_name("x"),
    );
    let upload = server
        .send(
            server
                .client
                .post(server.url(&format!("{base}/upload?path=docs/one.bin")))
                .bearer_auth(KEY)
                .multipart(form),
        )
        .await;
    assert_eq!(upload.status, 200, "{:?}", upload.body);

    // A chunked body, as the TypeScript SDK sends.
    let chunks = futures::stream::iter(["files[0].path", "files[0].file"].map(|_| ()))
        .enumerate()
        .map(|(index, ())| Ok::<_, std::io::Error>(format!("chunk {index};")));
    let form = reqwest::multipart::Form::new()
        .text("files[0].path", "docs/two.txt")
        .part(
            "files[0].file",
            reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(chunks))
                .file_name("docs/two.txt"),
        )
        .text("files[1].path", "/home/daytona/docs/deep/three.txt")
        .part(
            "files[1].file",
            reqwest::multipart::Part::bytes(b"3".to_vec()).file_name("three"),
        );
    let bulk = server
        .send(
            server
                .client
                .post(server.url(&format!("{base}/bulk-upload")))
                .bearer_auth(KEY)
                .multipart(form),
        )
        .await;
    assert_eq!(bulk.status, 200, "{:?}", bulk.body);

    let download = server
        .client
        .get(server.url(&format!("{base}/download?path=docs/one.bin")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"hello\x00world");
    let two = server.exec(&id, "cat docs/two.txt").await;
    assert_eq!(two.body["result"], "chunk 0;chunk 1;");

    let listing = server.get(&format!("{base}?path=docs")).await;
    assert_eq!(listing.status, 200, "{:?}", listing.body);
    let entries = listing.body.as_array().unwrap();
    let names: Vec<_> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["deep", "one.bin", "two.txt"]);
    assert_eq!(entries[0]["isDir"], true);
    assert_eq!(entries[1]["size"], 11);
    assert!(
        entries[1]["path"]
            .as_str()
            .unwrap()
            .ends_with("/docs/one.bin"),
        "{}",
        entries[1]
    );
    assert_eq!(entries[1]["permissions"], "0644");
    assert!(entries[1]["modTime"].is_string() && entries[1]["owner"].is_string());

    let info = server.get(&format!("{base}/info?path=docs/two.txt")).await;
    assert_eq!(
        (
            info.body["name"].clone(),
            info.body["isDir"].clone(),
            info.body["size"].clone()
        ),
        (json!("two.txt"), json!(false), json!(16))
    );

    let folder = server
        .send(
            server
                .client
                .post(server.url(&format!("{base}/folder?path=made/here&mode=0700")))
                .bearer_auth(KEY),
        )
        .await;
    assert_eq!(folder.status, 201, "{:?}", folder.body);
    let made = server.get(&format!("{base}/info?path=made/here")).await;
    assert_eq!(
        (made.body["isDir"].clone(), made.body["permissions"].clone()),
        (json!(true), json!("0700"))
    );

    let not_empty = server.delete(&format!("{base}?path=docs")).await;
    not_empty.daemon_error(400, "BAD_REQUEST");
    let removed = server
        .delete(&format!("{base}?path=docs&recursive=true"))
        .await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    server
        .get(&format!("{base}/info?path=docs/two.txt"))
        .await
        .daemon_error(404, "FILE_NOT_FOUND");
    server
        .get(&format!("{base}/download?path=docs/one.bin"))
        .await
        .daemon_error(404, "FILE_NOT_FOUND");
    server
        .get(&format!("{base}?path=nowhere"))
        .await
        .daemon_error(404, "FILE_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_download_answers_multipart_with_file_and_error_parts() {
    let server = start("").await;
    let id = sandbox(&server).await;
    server.exec(&id, "printf 'content' > present.txt").await;
    let response = server
        .client
        .post(server.url(&format!("/toolbox/{id}/files/bulk-download")))
        .bearer_auth(KEY)
        .json(&json!({"paths": ["present.txt", "absent.txt"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    let boundary = content_type.split("boundary=").nth(1).unwrap().to_string();
    let body = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
    let parts: Vec<&str> = body.split(&format!("--{boundary}")).collect();
    assert_eq!(parts.len(), 4, "{body}");
    assert!(
        parts[1].contains("name=\"file\"; filename=\"present.txt\""),
        "{}",
        parts[1]
    );
    assert!(parts[1].ends_with("\r\n\r\ncontent\r\n"), "{:?}", parts[1]);
    assert!(
        parts[2].contains("name=\"error\"; filename=\"absent.txt\""),
        "{}",
        parts[2]
    );
    assert!(parts[2].contains("\"statusCode\":404"), "{}", parts[2]);
    assert_eq!(parts[3], "--\r\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn env_changes_reach_later_commands() {
    let server = start("").await;
    let id = sandbox(&server).await;
    let set = server
        .post(
            &format!("/toolbox/{id}/env"),
            json!({"set": {"ADDED": "sentinel-4711"}, "unset": ["FROM_CREATE"]}),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    let seen = server
        .exec(&id, "echo \"${ADDED}-${FROM_CREATE:-unset}\"")
        .await;
    assert_eq!(seen.body["result"], "sentinel-4711-unset\n");
    server
        .post(
            &format!("/toolbox/{id}/env"),
            json!({"set": {"FROM_CREATE": "back"}, "unset": ["ADDED"]}),
        )
        .await;
    let seen = server
        .exec(&id, "echo \"${ADDED:-gone}-${FROM_CREATE}\"")
        .await;
    assert_eq!(seen.body["result"], "gone-back\n");
    let bad = server
        .post(&format!("/toolbox/{id}/env"), json!({"set": {"1X": "v"}}))
        .await;
    bad.daemon_error(400, "BAD_REQUEST");
}

/// `unsetValuePrefix` is how Daytona reconciles secret placeholders: every variable whose value
/// has the prefix goes, unless `set` names it.
#[tokio::test(flavor = "multi_thread")]
async fn an_env_change_unsets_the_variables_whose_values_have_the_prefix() {
    let server = start("").await;
    let created = server
        .create(json!({"env": {"A": "ph-1", "B": "ph-2", "C": "keep-ph-3"}}))
        .await;
    let id = created["id"].as_str().unwrap();
    // Set by a change, not at create: as much the sandbox's.
    let earlier = server
        .post(&format!("/toolbox/{id}/env"), json!({"set": {"D": "ph-4"}}))
        .await;
    assert_eq!(earlier.status, 200, "{:?}", earlier.body);
    let change = server
        .post(
            &format!("/toolbox/{id}/env"),
            json!({"set": {"B": "ph-new"}, "unsetValuePrefix": "ph-"}),
        )
        .await;
    assert_eq!(change.status, 200, "{:?}", change.body);
    let seen = server
        .exec(
            id,
            "echo \"${A:-unset} ${B:-unset} ${C:-unset} ${D:-unset}\"",
        )
        .await;
    assert_eq!(seen.body["result"], "unset ph-new keep-ph-3 unset\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn home_and_work_directories() {
    let server = start("").await;
    let id = sandbox(&server).await;
    let home = server.get(&format!("/toolbox/{id}/user-home-dir")).await;
    let work = server.get(&format!("/toolbox/{id}/work-dir")).await;
    assert_eq!(home.status, 200);
    assert!(!home.body["dir"].as_str().unwrap().is_empty());
    assert_eq!(home.body["dir"], work.body["dir"]);
}

fn git(directory: &std::path::Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(directory)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn git_clone_checks_out_a_branch_and_a_commit() {
    if !crate::common::have("git") {
        return;
    }
    let repository = tempfile::tempdir().unwrap();
    let origin = repository.path().join("origin");
    std::fs::create_dir(&origin).unwrap();
    git(&origin, &["init", "-q", "-b", "main"]);
    std::fs::write(origin.join("file.txt"), "one\n").unwrap();
    git(&origin, &["add", "."]);
    git(&origin, &["commit", "-q", "-m", "one"]);
    git(&origin, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(origin.join("file.txt"), "two\n").unwrap();
    git(&origin, &["commit", "-q", "-am", "two"]);
    let first = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "main"])
            .current_dir(&origin)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();

    let server = start_with(Options {
        read_only_paths: vec![repository.path().to_path_buf()],
        ..Options::default()
    })
    .await;
    let id = sandbox(&server).await;
    let url = origin.to_str().unwrap();
    let clone = server
        .post(
            &format!("/toolbox/{id}/git/clone"),
            json!({"url": url, "path": "work/feature", "branch": "feature",
                   "username": "someone", "password": "sentinel-password-4711"}),
        )
        .await;
    assert_eq!(clone.status, 200, "{:?}", clone.body);
    let content = server.exec(&id, "cat work/feature/file.txt").await;
    assert_eq!(content.body["result"], "two\n");
    let config = server
        .exec(
            &id,
            "cat work/feature/.git/config; cat ~/.gitconfig 2>/dev/null; true",
        )
        .await;
    assert!(
        !config.body["result"]
            .as_str()
            .unwrap()
            .contains("sentinel-password-4711")
    );

    let pinned = server
        .post(
            &format!("/toolbox/{id}/git/clone"),
            json!({"url": url, "path": "work/pinned", "commit_id": first.trim()}),
        )
        .await;
    assert_eq!(pinned.status, 200, "{:?}", pinned.body);
    let content = server.exec(&id, "cat work/pinned/file.txt").await;
    assert_eq!(content.body["result"], "one\n");

    let missing = server
        .post(
            &format!("/toolbox/{id}/git/clone"),
            json!({"url": "/no/such/repo", "path": "x"}),
        )
        .await;
    assert!(missing.status >= 400, "{:?}", missing.body);
    assert!(missing.body["message"].is_string());
}
