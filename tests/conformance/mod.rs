//! The contract every provider keeps, run unchanged against each of them (`local` directly,
//! `daytona` against a Daytona-compatible server). It only uses the `Provider` trait and only
//! expects what Daytona itself does, so a backend that passes behaves like Daytona to callers.
//!
//! Every case labels its sandboxes with a value unique to the run, so runs (and the cases of
//! one run) can share a backend concurrently. Nothing here may depend on a backend's paths
//! beyond what a sandbox reports about itself (`pwd`, `$HOME`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ralph_town::provider::{
    CreateSandbox, ExecOutput, ExecRequest, Labels, Lifecycle, Provider, ProviderError, Sandbox,
    SandboxState,
};

const RUN_LABEL: &str = "ralph-town-conformance/run";
const CASE_LABEL: &str = "ralph-town-conformance/case";

/// Runs every case, concurrently, each on its own sandboxes.
pub(crate) async fn run_all(provider: Arc<dyn Provider>) {
    tokio::join!(
        sandbox_lifecycle(provider.clone()),
        exec_contract(provider.clone()),
        files_contract(provider.clone()),
        listing_by_labels(provider.clone()),
        names_are_unique(provider.clone()),
    );
}

/// A random token for names and label values.
pub(crate) fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

async fn create(
    provider: &dyn Provider,
    name: &str,
    labels: Labels,
    env: &[(&str, &str)],
) -> Sandbox {
    let request = CreateSandbox {
        name: name.to_string(),
        labels,
        env: env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        ..CreateSandbox::default()
    };
    let sandbox = provider
        .create(&request)
        .await
        .unwrap_or_else(|error| panic!("create `{name}`: {error}"));
    assert_eq!(
        sandbox.state,
        SandboxState::Started,
        "create returns a started sandbox"
    );
    sandbox
}

async fn run(provider: &dyn Provider, id: &str, command: &str) -> ExecOutput {
    run_with(
        provider,
        id,
        ExecRequest {
            command: command.to_string(),
            ..ExecRequest::default()
        },
    )
    .await
}

async fn run_with(provider: &dyn Provider, id: &str, request: ExecRequest) -> ExecOutput {
    let command = request.command.clone();
    provider
        .exec(id, &request)
        .await
        .unwrap_or_else(|error| panic!("exec `{command}`: {error}"))
}

#[track_caller]
fn assert_output(output: &ExecOutput, exit_code: i32, text: &str) {
    assert_eq!(
        (output.exit_code, output.output.as_str()),
        (exit_code, text),
        "{output:?}"
    );
}

async fn ids(provider: &dyn Provider, filter: &Labels) -> Vec<String> {
    let mut ids: Vec<String> = provider
        .list(filter)
        .await
        .expect("list")
        .into_iter()
        .map(|sandbox| sandbox.id)
        .collect();
    ids.sort();
    ids
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, ProviderError>, what: &str) {
    match result {
        Err(ProviderError::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Create, look up, relabel, retime, stop, start and delete one sandbox.
pub(crate) async fn sandbox_lifecycle(provider: Arc<dyn Provider>) {
    let provider = provider.as_ref();
    let run_id = token();
    let name = format!("ct-{run_id}-life");
    let created = create(
        provider,
        &name,
        labels(&[(RUN_LABEL, &run_id), (CASE_LABEL, "lifecycle")]),
        &[("PLAIN", "configured")],
    )
    .await;
    assert_eq!(created.name, name);
    assert_eq!(
        created.env.get("PLAIN").map(String::as_str),
        Some("configured")
    );

    let by_id = provider.get(&created.id).await.expect("get by id");
    let by_name = provider.get(&name).await.expect("get by name");
    assert_eq!(
        (by_id.id.as_str(), by_id.name.as_str()),
        (created.id.as_str(), name.as_str())
    );
    assert_eq!(by_name.id, created.id);
    assert_eq!(by_id.labels.get(RUN_LABEL), Some(&run_id));
    assert_eq!(by_id.state, SandboxState::Started);
    assert_not_found(
        provider.get(&format!("ct-{run_id}-missing")).await,
        "get of a missing sandbox",
    );

    // Labels are replaced as a whole, not merged.
    let relabelled = labels(&[
        (RUN_LABEL, &run_id),
        ("ralph-town-conformance/phase", "relabelled"),
    ]);
    let updated = provider
        .set_labels(&created.id, &relabelled)
        .await
        .expect("set_labels");
    assert_eq!(updated.labels, relabelled);
    assert_eq!(
        provider.get(&created.id).await.expect("get").labels,
        relabelled
    );
    assert!(
        ids(
            provider,
            &labels(&[(RUN_LABEL, &run_id), (CASE_LABEL, "lifecycle")])
        )
        .await
        .is_empty()
    );
    assert_eq!(ids(provider, &relabelled).await, vec![created.id.clone()]);

    // Lifecycle changes touch only the timers given.
    let before = provider.get(&created.id).await.expect("get").lifecycle;
    let change = Lifecycle {
        auto_stop: Some(45),
        ..Lifecycle::default()
    };
    let retimed = provider
        .set_lifecycle(&created.id, &change)
        .await
        .expect("set_lifecycle");
    let expected = Lifecycle {
        auto_stop: Some(45),
        ..before
    };
    assert_eq!(retimed.lifecycle, expected);
    assert_eq!(
        provider.get(&created.id).await.expect("get").lifecycle,
        expected
    );

    let stopped = provider.stop(&created.id).await.expect("stop");
    assert_eq!(stopped.state, SandboxState::Stopped);
    assert_eq!(
        provider.get(&created.id).await.expect("get").state,
        SandboxState::Stopped
    );
    let refused = provider
        .exec(
            &created.id,
            &ExecRequest {
                command: "true".into(),
                ..ExecRequest::default()
            },
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(ProviderError::Conflict { .. } | ProviderError::Api { .. })
        ),
        "exec in a stopped sandbox: {refused:?}"
    );

    let started = provider.start(&created.id).await.expect("start");
    assert_eq!(started.state, SandboxState::Started);
    assert_output(&run(provider, &created.id, "echo back").await, 0, "back\n");

    provider.delete(&created.id).await.expect("delete");
    assert_not_found(provider.get(&created.id).await, "get after delete");
    assert_not_found(provider.get(&name).await, "get by name after delete");
    assert_not_found(provider.delete(&created.id).await, "second delete");
    assert!(
        ids(provider, &labels(&[(RUN_LABEL, &run_id)]))
            .await
            .is_empty()
    );
    let gone = provider
        .exec(
            &created.id,
            &ExecRequest {
                command: "true".into(),
                ..ExecRequest::default()
            },
        )
        .await;
    assert!(gone.is_err(), "exec after delete: {gone:?}");
}

/// Exit codes, merged output, environment, working directory and timeouts.
pub(crate) async fn exec_contract(provider: Arc<dyn Provider>) {
    let provider = provider.as_ref();
    let run_id = token();
    let sandbox = create(
        provider,
        &format!("ct-{run_id}-exec"),
        labels(&[(RUN_LABEL, &run_id), (CASE_LABEL, "exec")]),
        &[("PLAIN", "from-create"), ("SHARED", "from-create")],
    )
    .await;
    let id = sandbox.id.as_str();

    assert_output(&run(provider, id, "true").await, 0, "");
    assert_output(
        &run(provider, id, "echo partial; exit 3").await,
        3,
        "partial\n",
    );
    let missing = run(provider, id, &format!("ct-no-such-command-{run_id}")).await;
    assert_eq!(missing.exit_code, 127, "{missing:?}");
    assert!(missing.output.contains("not found"), "{missing:?}");

    // stdout and stderr share one stream, in the order written.
    assert_output(
        &run(provider, id, "echo one; echo two >&2; echo three").await,
        0,
        "one\ntwo\nthree\n",
    );
    // More than a pipe buffer of output must neither block nor be cut.
    let long = run(provider, id, "seq 1 30000").await;
    assert_eq!(long.exit_code, 0);
    assert_eq!(long.output.lines().count(), 30000);
    assert_eq!(long.output.lines().last(), Some("30000"));

    assert_output(
        &run(provider, id, "echo \"$PLAIN\"").await,
        0,
        "from-create\n",
    );
    let request_env: BTreeMap<String, String> =
        [("REQUEST_ONLY", "from-request"), ("SHARED", "overridden")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
    let with_env = ExecRequest {
        command: "echo \"$REQUEST_ONLY $SHARED $PLAIN\"".to_string(),
        env: request_env,
        ..ExecRequest::default()
    };
    assert_output(
        &run_with(provider, id, with_env).await,
        0,
        "from-request overridden from-create\n",
    );
    // Request env is for that one process only.
    assert_output(
        &run(provider, id, "echo \"[$REQUEST_ONLY] $SHARED\"").await,
        0,
        "[] from-create\n",
    );

    // The default working directory is the home, and an absolute cwd is honoured.
    let home = run(provider, id, "pwd").await.output.trim_end().to_string();
    assert_output(
        &run(provider, id, "echo \"$HOME\"").await,
        0,
        &format!("{home}\n"),
    );
    assert_output(
        &run(provider, id, "mkdir -p work/sub && echo made").await,
        0,
        "made\n",
    );
    let in_sub = ExecRequest {
        command: "pwd".to_string(),
        cwd: Some(format!("{home}/work/sub")),
        ..ExecRequest::default()
    };
    assert_output(
        &run_with(provider, id, in_sub).await,
        0,
        &format!("{home}/work/sub\n"),
    );

    let slow = ExecRequest {
        command: "sleep 30".to_string(),
        timeout: Some(Duration::from_secs(1)),
        ..ExecRequest::default()
    };
    match provider.exec(id, &slow).await {
        Err(ProviderError::Timeout { .. }) => {}
        other => panic!("a command over its timeout: expected Timeout, got {other:?}"),
    }
    assert_output(&run(provider, id, "echo alive").await, 0, "alive\n");

    provider.delete(id).await.expect("delete");
}

/// Upload and download, text and binary, relative and absolute.
pub(crate) async fn files_contract(provider: Arc<dyn Provider>) {
    let provider = provider.as_ref();
    let run_id = token();
    let sandbox = create(
        provider,
        &format!("ct-{run_id}-files"),
        labels(&[(RUN_LABEL, &run_id), (CASE_LABEL, "files")]),
        &[],
    )
    .await;
    let id = sandbox.id.as_str();

    let binary: Vec<u8> = (0..4).flat_map(|_| 0..=255u8).chain([b'\n']).collect();
    provider
        .upload(id, "conformance/nested/data.bin", &binary)
        .await
        .expect("upload binary");
    assert_eq!(
        provider
            .download(id, "conformance/nested/data.bin")
            .await
            .expect("download"),
        binary
    );
    assert_output(
        &run(provider, id, "wc -c < conformance/nested/data.bin").await,
        0,
        "1025\n",
    );

    provider
        .upload(id, "conformance/hello.txt", b"hello\n")
        .await
        .expect("upload text");
    assert_output(
        &run(provider, id, "cat conformance/hello.txt").await,
        0,
        "hello\n",
    );
    provider
        .upload(id, "conformance/hello.txt", b"hi\n")
        .await
        .expect("overwrite");
    assert_eq!(
        provider
            .download(id, "conformance/hello.txt")
            .await
            .expect("download"),
        b"hi\n"
    );

    let home = run(provider, id, "pwd").await.output.trim_end().to_string();
    provider
        .upload(id, &format!("{home}/conformance/absolute.txt"), b"absolute")
        .await
        .expect("upload absolute");
    assert_eq!(
        provider
            .download(id, "conformance/absolute.txt")
            .await
            .expect("download"),
        b"absolute"
    );

    assert_output(
        &run(provider, id, "printf 'made inside' > inside.txt").await,
        0,
        "",
    );
    assert_eq!(
        provider
            .download(id, &format!("{home}/inside.txt"))
            .await
            .expect("download"),
        b"made inside"
    );
    assert_not_found(
        provider.download(id, "conformance/missing.txt").await,
        "download of a missing file",
    );

    provider.delete(id).await.expect("delete");
}

/// Listing matches every given label and nothing else.
pub(crate) async fn listing_by_labels(provider: Arc<dyn Provider>) {
    let provider = provider.as_ref();
    let run_id = token();
    let mut created = Vec::new();
    for (suffix, group, role) in [("a", "one", "a"), ("b", "one", "b"), ("c", "two", "c")] {
        let sandbox_labels = labels(&[
            (RUN_LABEL, &run_id),
            (CASE_LABEL, "listing"),
            ("ralph-town-conformance/group", group),
            ("ralph-town-conformance/role", role),
        ]);
        created.push(
            create(
                provider,
                &format!("ct-{run_id}-{suffix}"),
                sandbox_labels,
                &[],
            )
            .await
            .id,
        );
    }
    let (a, b, c) = (created[0].clone(), created[1].clone(), created[2].clone());
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    let run_filter = labels(&[(RUN_LABEL, &run_id)]);
    assert_eq!(
        ids(provider, &run_filter).await,
        sorted(vec![a.clone(), b.clone(), c.clone()])
    );
    let group_one = labels(&[
        (RUN_LABEL, &run_id),
        ("ralph-town-conformance/group", "one"),
    ]);
    assert_eq!(
        ids(provider, &group_one).await,
        sorted(vec![a.clone(), b.clone()])
    );
    let only_b = labels(&[
        (RUN_LABEL, &run_id),
        ("ralph-town-conformance/group", "one"),
        ("ralph-town-conformance/role", "b"),
    ]);
    assert_eq!(ids(provider, &only_b).await, vec![b.clone()]);
    let nobody = labels(&[
        (RUN_LABEL, &run_id),
        ("ralph-town-conformance/group", "three"),
    ]);
    assert!(ids(provider, &nobody).await.is_empty());
    let everything = ids(provider, &Labels::new()).await;
    assert!(
        [&a, &b, &c].iter().all(|id| everything.contains(id)),
        "an empty filter lists all"
    );
    let listed = provider.list(&only_b).await.expect("list");
    assert_eq!(
        listed[0]
            .labels
            .get("ralph-town-conformance/role")
            .map(String::as_str),
        Some("b")
    );

    for id in [a, b, c] {
        provider.delete(&id).await.expect("delete");
    }
    assert!(ids(provider, &run_filter).await.is_empty());
}

/// Names are unique among live sandboxes and free again once deleted; no name means the id.
pub(crate) async fn names_are_unique(provider: Arc<dyn Provider>) {
    let provider = provider.as_ref();
    let run_id = token();
    let name = format!("ct-{run_id}-name");
    let run_labels = labels(&[(RUN_LABEL, &run_id), (CASE_LABEL, "names")]);
    let first = create(provider, &name, run_labels.clone(), &[]).await;
    let again = CreateSandbox {
        name: name.clone(),
        labels: run_labels.clone(),
        ..CreateSandbox::default()
    };
    match provider.create(&again).await {
        Err(ProviderError::Conflict { .. }) => {}
        other => panic!("a second sandbox named `{name}`: expected Conflict, got {other:?}"),
    }
    assert_eq!(provider.get(&name).await.expect("get").id, first.id);
    assert_eq!(ids(provider, &run_labels).await, vec![first.id.clone()]);
    provider.delete(&name).await.expect("delete by name");

    let second = create(provider, &name, run_labels.clone(), &[]).await;
    assert_ne!(second.id, first.id);
    provider.delete(&second.id).await.expect("delete");

    let unnamed = create(provider, "", run_labels.clone(), &[]).await;
    assert_eq!(unnamed.name, unnamed.id);
    provider.delete(&unnamed.id).await.expect("delete");
}
