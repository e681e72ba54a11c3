//! Multi-stage image builds through `serve`, for real: each earlier stage builds its own layer
//! over the host, a later stage's `COPY --from` (by name or index) takes what an earlier one
//! made, and only the last stage is the image its sandboxes see; the build log shows the
//! stages. `COPY --from` an image, or of a path the stage lacks, fails the build with the reason
//! in the log. Needs bubblewrap (skips without, fails under `CI=true`).

use serde_json::json;

use crate::common::have;
use crate::serve_build::{host_lacks, output, snapshot, snapshot_log, unique};
use crate::serve_support::start;

#[tokio::test(flavor = "multi_thread")]
async fn a_later_stage_copies_what_an_earlier_one_made_and_only_the_last_is_the_image() {
    if !have("bwrap") {
        return;
    }
    let server = start("").await;
    let (tool, scratch) = (unique("tool"), unique("scratch"));
    let dockerfile = format!(
        "ARG GREETING=made-in-stage-one\n\
         FROM debian:bookworm-slim AS builder\n\
         WORKDIR /opt/{scratch}\n\
         RUN echo \"$GREETING\" > artefact && mkdir -p out/nested && echo deep > out/nested/file\n\
         FROM debian:bookworm-slim\n\
         COPY --from=builder /opt/{scratch}/artefact /opt/{tool}/artefact\n\
         COPY --from=0 /opt/{scratch}/out /opt/{tool}/out\n\
         RUN cat /opt/{tool}/artefact > /opt/{tool}/seen-by-run\n"
    );
    let built = snapshot(&server, "staged", &dockerfile).await;
    assert_eq!(built["state"], "active", "{built}");

    let sandbox = server.create(json!({"snapshot": "staged"})).await;
    let id = sandbox["id"].as_str().unwrap();
    for (path, expected) in [
        ("artefact", "made-in-stage-one"),
        ("out/nested/file", "deep"),
        ("seen-by-run", "made-in-stage-one"),
    ] {
        let (code, text) = output(&server, id, &format!("cat /opt/{tool}/{path}")).await;
        assert_eq!((code, text.trim()), (0, expected), "{path}");
    }
    let (code, _) = output(&server, id, &format!("test -e /opt/{scratch}")).await;
    assert_eq!(code, 1, "the first stage's own files are not the image's");

    let log = snapshot_log(&server, &built).await;
    for said in [
        "stage 1 of 2 `builder`: its own layer",
        "stage 2 of 2: the image",
        "from stage 1 `builder`",
        "Successfully built",
    ] {
        assert!(log.contains(said), "{said}\n{log}");
    }
    // The earlier stage's layer went with the build; the image's layer stays.
    let layers = server.root.as_ref().unwrap().path().join("state/layers");
    let built_layers: Vec<_> = std::fs::read_dir(&layers)
        .unwrap()
        .flatten()
        .filter(|entry| entry.path().join("upper").is_dir())
        .collect();
    assert!(
        !built_layers.is_empty(),
        "no layer under {}",
        layers.display()
    );
    for layer in built_layers {
        assert!(
            !layer.path().join("stages").exists(),
            "{} kept its stages",
            layer.path().display()
        );
    }
    host_lacks(&[format!("/opt/{tool}"), format!("/opt/{scratch}")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_from_an_image_or_a_missing_path_fails_the_build_with_the_reason_in_its_log() {
    if !have("bwrap") {
        return;
    }
    let server = start("").await;
    let image = snapshot(
        &server,
        "from-image",
        "FROM debian:bookworm-slim\nCOPY --from=alpine:3.20 /bin/busybox /usr/local/bin/busybox\n",
    )
    .await;
    assert_eq!(image["state"], "build_failed", "{image}");
    let reason = image["errorReason"].as_str().unwrap();
    assert!(reason.contains("images cannot be pulled here"), "{reason}");
    let log = snapshot_log(&server, &image).await;
    assert!(
        log.contains("Build failed") && log.contains("--from=alpine:3.20"),
        "{log}"
    );

    let missing = unique("missing");
    let lacking = snapshot(
        &server,
        "from-nothing",
        &format!("FROM a:1 AS one\nRUN true\nFROM b:2\nCOPY --from=one /opt/{missing} /x\n"),
    )
    .await;
    assert_eq!(lacking["state"], "build_failed", "{lacking}");
    let log = snapshot_log(&server, &lacking).await;
    assert!(
        log.contains(&format!("/opt/{missing}")) && log.contains("Build failed"),
        "{log}"
    );
}
