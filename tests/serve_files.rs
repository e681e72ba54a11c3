//! `serve`'s toolbox file routes beyond upload and download, over real local sandboxes: content
//! search, name search, replace, move, permissions, folders, deep listings, and the daemon's
//! `FILE_NOT_FOUND` error (with `source`) wherever a path is missing.

use crate::serve_support;

use serde_json::{Value, json};
use serve_support::{KEY, Server, encode, start};

async fn sandbox(server: &Server) -> String {
    server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn run(server: &Server, id: &str, command: &str) -> String {
    let reply = server.exec(id, command).await;
    assert_eq!(reply.body["exitCode"], 0, "{command}: {:?}", reply.body);
    reply.body["result"].as_str().unwrap().to_string()
}

async fn post(server: &Server, path: &str) -> serve_support::Reply {
    server
        .send(server.client.post(server.url(path)).bearer_auth(KEY))
        .await
}

/// The daemon's not-found body for a file, as the SDKs read it.
#[track_caller]
fn file_not_found(reply: &serve_support::Reply) {
    reply.daemon_error(404, "FILE_NOT_FOUND");
    assert_eq!(reply.body["source"], "DAYTONA_DAEMON", "{:?}", reply.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn find_greps_text_files_and_search_matches_names() {
    let server = start("").await;
    let id = sandbox(&server).await;
    run(
        &server,
        &id,
        "mkdir -p src/deep && printf 'one\\nTODO: a:b\\nthree TODO\\n' > src/a.rs && \
         printf 'TODO\\0binary' > src/blob.bin && printf 'none\\n' > src/deep/b.rs && \
         printf 'x TODO\\n' > src/deep/c.txt && ln -s a.rs src/link.rs",
    )
    .await;
    let base = format!("/toolbox/{id}/files");

    let found = server
        .get(&format!("{base}/find?path=src&pattern={}", encode("TODO")))
        .await;
    assert_eq!(found.status, 200, "{:?}", found.body);
    let mut matches: Vec<(String, u64, String)> = found
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["file"].as_str().unwrap().to_string(),
                m["line"].as_u64().unwrap(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    matches.sort();
    assert_eq!(
        matches,
        [
            ("src/a.rs".to_string(), 2, "TODO: a:b".to_string()),
            ("src/a.rs".to_string(), 3, "three TODO".to_string()),
            ("src/deep/c.txt".to_string(), 1, "x TODO".to_string()),
        ],
        "binary files and symlinks are skipped"
    );
    // The pattern is literal text, not a regular expression.
    let literal = server
        .get(&format!("{base}/find?path=src&pattern={}", encode("a.b")))
        .await;
    assert_eq!(literal.body, json!([]));
    let nowhere = server
        .get(&format!("{base}/find?path=missing&pattern=x"))
        .await;
    assert_eq!((nowhere.status, nowhere.body.clone()), (200, json!([])));
    server
        .get(&format!("{base}/find?path=src"))
        .await
        .daemon_error(400, "BAD_REQUEST");

    let searched = server
        .get(&format!(
            "{base}/search?path=src&pattern={}",
            encode("*.rs")
        ))
        .await;
    assert_eq!(searched.status, 200, "{:?}", searched.body);
    assert_eq!(
        searched.body["files"],
        json!(["src/a.rs", "src/deep/b.rs", "src/link.rs"])
    );
    let absolute = server
        .get(&format!(
            "{base}/search?path={}&pattern=deep",
            encode(&run(&server, &id, "printf %s \"$HOME/src\"").await)
        ))
        .await;
    let files = absolute.body["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert!(
        files[0].as_str().unwrap().ends_with("/src/deep"),
        "{files:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_move_permissions_and_deep_listings() {
    let server = start("").await;
    let id = sandbox(&server).await;
    let base = format!("/toolbox/{id}/files");
    run(
        &server,
        &id,
        "mkdir -p d/sub && printf 'a.b a.b\\n' > d/one.txt && printf '\\377a.b' > d/two.bin",
    )
    .await;

    let replaced = server
        .post(
            &format!("{base}/replace"),
            json!({"files": ["d/one.txt", "d/two.bin", "d/missing.txt"], "pattern": "a.b", "newValue": "X"}),
        )
        .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    let results = replaced.body.as_array().unwrap();
    assert_eq!(
        results
            .iter()
            .map(|r| (r["file"].as_str().unwrap(), r["success"].as_bool().unwrap()))
            .collect::<Vec<_>>(),
        [
            ("d/one.txt", true),
            ("d/two.bin", true),
            ("d/missing.txt", false)
        ]
    );
    assert!(
        results[2]["error"]
            .as_str()
            .unwrap()
            .contains("no such file or directory"),
        "{results:?}"
    );
    assert_eq!(run(&server, &id, "cat d/one.txt").await, "X X\n");
    assert_eq!(
        run(&server, &id, "od -An -c d/two.bin | tr -s ' '").await,
        " 377 X\n"
    );

    let moved = post(
        &server,
        &format!("{base}/move?source=d/one.txt&destination=d/sub/renamed.txt"),
    )
    .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(run(&server, &id, "cat d/sub/renamed.txt").await, "X X\n");
    file_not_found(
        &post(
            &server,
            &format!("{base}/move?source=d/one.txt&destination=d/again.txt"),
        )
        .await,
    );
    file_not_found(
        &post(
            &server,
            &format!("{base}/move?source=d/two.bin&destination=no/such/dir/x"),
        )
        .await,
    );
    post(
        &server,
        &format!("{base}/move?source=d/two.bin&destination=d/sub/renamed.txt"),
    )
    .await
    .daemon_error(409, "CONFLICT");
    let directory = post(
        &server,
        &format!("{base}/move?source=d/sub&destination=moved"),
    )
    .await;
    assert_eq!(directory.status, 200, "{:?}", directory.body);
    assert_eq!(run(&server, &id, "ls moved").await, "renamed.txt\n");

    let chmod = post(
        &server,
        &format!("{base}/permissions?path=moved/renamed.txt&mode=0640"),
    )
    .await;
    assert_eq!(chmod.status, 200, "{:?}", chmod.body);
    let info = server
        .get(&format!("{base}/info?path=moved/renamed.txt"))
        .await;
    assert_eq!(info.body["permissions"], "0640");
    assert_eq!(info.body["mode"], "-rw-r-----");
    let owner = info.body["owner"].as_str().unwrap().to_string();
    let same_owner = post(
        &server,
        &format!(
            "{base}/permissions?path=moved/renamed.txt&owner={}",
            encode(&owner)
        ),
    )
    .await;
    assert_eq!(same_owner.status, 200, "{:?}", same_owner.body);
    post(
        &server,
        &format!("{base}/permissions?path=moved/renamed.txt&mode=9z"),
    )
    .await
    .daemon_error(400, "BAD_REQUEST");
    file_not_found(&post(&server, &format!("{base}/permissions?path=gone&mode=0644")).await);

    let folder = post(&server, &format!("{base}/folder?path=a/b/c&mode=0750")).await;
    assert_eq!(folder.status, 201, "{:?}", folder.body);
    run(&server, &id, "touch a/b/c/leaf a/top").await;
    let shallow = server.get(&format!("{base}?path=a")).await;
    let names = |reply: &serve_support::Reply| -> Vec<String> {
        reply
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&shallow), ["b", "top"]);
    let deep = server.get(&format!("{base}?path=a&depth=3")).await;
    assert_eq!(names(&deep), ["b", "c", "leaf", "top"]);
    assert!(
        deep.body
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry["path"].as_str().unwrap().ends_with("/a/b/c/leaf")),
        "{:?}",
        deep.body
    );
    server
        .get(&format!("{base}?path=a&depth=0"))
        .await
        .daemon_error(400, "BAD_REQUEST");

    let removed = server
        .delete(&format!("{base}?path=a&recursive=true"))
        .await;
    assert_eq!(removed.status, 204);
    file_not_found(&server.delete(&format!("{base}?path=a")).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_file_is_file_not_found_from_the_daemon_everywhere() {
    let server = start("").await;
    let id = sandbox(&server).await;
    let base = format!("/toolbox/{id}/files");
    file_not_found(&server.get(&format!("{base}/info?path=nope.txt")).await);
    file_not_found(&server.get(&format!("{base}/download?path=nope.txt")).await);
    file_not_found(&server.get(&format!("{base}?path=nope")).await);

    let response = server
        .client
        .post(server.url(&format!("{base}/bulk-download")))
        .bearer_auth(KEY)
        .json(&json!({"paths": ["nope.txt"]}))
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    let json_start = body.find('{').expect("an error part");
    let json_end = body.rfind('}').unwrap();
    let error: Value = serde_json::from_str(&body[json_start..=json_end]).unwrap();
    assert_eq!(
        (
            error["statusCode"].clone(),
            error["code"].clone(),
            error["source"].clone()
        ),
        (json!(404), json!("FILE_NOT_FOUND"), json!("DAYTONA_DAEMON"))
    );
    // A missing sandbox stays the generic not-found.
    server
        .get("/toolbox/no-such-sandbox/files/info?path=x")
        .await
        .daemon_error(404, "NOT_FOUND");
}

/// A FIFO a sandbox leaves in its home is refused at once by a download, an upload over it and
/// a session's reads, instead of holding `serve` until something writes to it.
#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_in_the_home_is_refused_not_waited_on() {
    let server = start("").await;
    let id = sandbox(&server).await;
    run(&server, &id, "mkfifo pipe").await;
    let patience = std::time::Duration::from_secs(60);
    let download = tokio::time::timeout(
        patience,
        server.get(&format!("/toolbox/{id}/files/download?path=pipe")),
    )
    .await
    .expect("the download answers");
    assert!(download.status >= 400, "{download:?}");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("pipe"),
    );
    let upload = tokio::time::timeout(
        patience,
        server.send(
            server
                .client
                .post(server.url(&format!("/toolbox/{id}/files/upload?path=pipe")))
                .bearer_auth(KEY)
                .multipart(form),
        ),
    )
    .await
    .expect("the upload answers");
    assert!(upload.status >= 400, "{upload:?}");
    // Still a FIFO, untouched.
    assert_eq!(
        run(&server, &id, "test -p pipe && echo fifo").await.trim(),
        "fifo"
    );
}
