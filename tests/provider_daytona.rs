//! The `daytona` provider end to end against `ralph-town serve` (in-process, loopback, over a
//! `local` provider in a temporary directory): the same conformance suite as `local`, then what
//! only the `daytona` provider offers (SSH access, snapshots).

use crate::conformance;
use crate::daytona_support;

use std::time::{Duration, SystemTime};

use ralph_town::provider::daytona::{CreateSnapshotRequest, SnapshotSource};
use ralph_town::provider::{
    CreateSandbox, ExecRequest, Provider, ProviderError, Resources, ShellAccess,
};

use daytona_support::{Options, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_against_serve() {
    let harness = start(Options::default()).await;
    conformance::run_all(harness.provider.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_access_issues_and_revokes_ssh_tokens() {
    let harness = start(Options::default()).await;
    let provider = harness.provider.as_ref();
    let request = CreateSandbox {
        name: format!("ssh-{}", conformance::token()),
        ..CreateSandbox::default()
    };
    let sandbox = provider.create(&request).await.expect("create");

    let access = provider
        .shell_access(&sandbox.id, None, 30)
        .await
        .expect("shell access");
    let ShellAccess::Ssh {
        sandbox_id,
        token,
        command,
        expires_at,
        ..
    } = access.clone()
    else {
        panic!("Daytona shell access is SSH: {access:?}");
    };
    assert!(!token.is_empty());
    let argv = shlex::split(&command).expect("a shell-quoted command");
    assert_eq!(argv[0], "ssh");
    assert!(
        argv.iter().any(|arg| arg.starts_with(&format!("{token}@"))),
        "{command}"
    );
    assert_eq!(sandbox_id, sandbox.id);
    assert!(
        !format!("{access:?}").contains(&token),
        "Debug hides the token"
    );
    let expires_at = humantime::parse_rfc3339_weak(&expires_at).expect("RFC 3339");
    let in_an_hour = SystemTime::now() + Duration::from_secs(3600);
    assert!(
        expires_at > SystemTime::now() - Duration::from_secs(1) && expires_at < in_an_hour,
        "{expires_at:?}"
    );

    // With a working directory, the command starts a login shell there.
    let ShellAccess::Ssh { command, token, .. } = provider
        .shell_access(&sandbox.id, Some("work dir"), 30)
        .await
        .expect("shell access")
    else {
        panic!("SSH expected");
    };
    let argv = shlex::split(&command).unwrap();
    assert_eq!(argv[argv.len() - 2], "-t");
    assert!(
        argv[argv.len() - 1].starts_with("cd 'work dir';"),
        "{command}"
    );

    provider
        .revoke_ssh_access(&sandbox.id, &token)
        .await
        .expect("revoke");
    assert_eq!(
        harness
            .count("DELETE /api/sandbox/{sandbox}/ssh-access", 200)
            .await,
        1
    );
    provider.delete(&sandbox.id).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_created_listed_and_deleted() {
    let harness = start(Options::default()).await;
    let provider = harness.provider.as_ref();
    let token = conformance::token();

    let from_image = CreateSnapshotRequest {
        name: format!("image-{token}"),
        source: SnapshotSource::Image("debian:12-slim".to_string()),
        entrypoint: None,
        resources: Resources::default(),
    };
    let created = provider
        .create_snapshot(&from_image)
        .await
        .expect("create from an image");
    assert_eq!(created.state, "active");
    assert_eq!(created.image_name.as_deref(), Some("debian:12-slim"));

    let from_dockerfile = CreateSnapshotRequest {
        name: format!("built-{token}"),
        source: SnapshotSource::Dockerfile("FROM debian:12-slim\nENV BUILT=1\n".to_string()),
        entrypoint: None,
        resources: Resources {
            cpu: Some(2),
            memory: Some(2),
            disk: Some(5),
        },
    };
    let built = provider
        .create_snapshot(&from_dockerfile)
        .await
        .expect("create from a Dockerfile");
    assert_eq!(built.state, "active");
    assert_eq!(built.resources.cpu, Some(2));

    let by_name = provider
        .get_snapshot(&created.name)
        .await
        .expect("get by name");
    let by_id = provider.get_snapshot(&created.id).await.expect("get by id");
    assert_eq!(
        (by_name.id.as_str(), by_id.name.as_str()),
        (created.id.as_str(), created.name.as_str())
    );

    let names: Vec<String> = provider
        .list_snapshots()
        .await
        .expect("list")
        .into_iter()
        .map(|snapshot| snapshot.name)
        .collect();
    assert!(
        names.contains(&created.name) && names.contains(&built.name),
        "{names:?}"
    );

    // A name is resolved to the id: the API deletes by id only.
    provider
        .delete_snapshot(&created.name)
        .await
        .expect("delete by name");
    provider
        .delete_snapshot(&built.id)
        .await
        .expect("delete by id");
    for name in [&created.name, &built.name] {
        assert!(matches!(
            provider.get_snapshot(name).await,
            Err(ProviderError::NotFound { .. })
        ));
    }
    assert!(matches!(
        provider.delete_snapshot(&created.name).await,
        Err(ProviderError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_create_the_server_refuses_is_an_error_with_its_message() {
    let harness = start(Options::default()).await;
    let request = CreateSnapshotRequest {
        name: format!("latest-{}", conformance::token()),
        source: SnapshotSource::Image("debian:latest".to_string()),
        entrypoint: None,
        resources: Resources::default(),
    };
    match harness.provider.create_snapshot(&request).await {
        Err(ProviderError::Api {
            status: Some(400),
            message,
            ..
        }) => assert!(message.contains("latest"), "{message}"),
        other => panic!("expected a 400 for `:latest`, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_env_changes_the_environment_of_later_commands() {
    let harness = start(Options::default()).await;
    let provider = harness.provider.as_ref();
    let request = CreateSandbox {
        name: format!("env-{}", conformance::token()),
        env: [
            ("KEPT".to_string(), "kept".to_string()),
            ("GONE".to_string(), "gone".to_string()),
        ]
        .into(),
        ..CreateSandbox::default()
    };
    let sandbox = provider.create(&request).await.expect("create");
    let set = [("ADDED".to_string(), "added value".to_string())].into();
    provider
        .set_env(&sandbox.id, &set, &["GONE".to_string()])
        .await
        .expect("set_env");
    let echo = ExecRequest {
        command: "echo \"$KEPT|$ADDED|${GONE:-unset}\"".to_string(),
        ..ExecRequest::default()
    };
    let output = provider.exec(&sandbox.id, &echo).await.expect("exec");
    assert_eq!(output.output, "kept|added value|unset\n");
    provider.delete(&sandbox.id).await.expect("delete");
    assert!(matches!(
        provider.set_env(&sandbox.id, &set, &[]).await,
        Err(ProviderError::NotFound { .. })
    ));
}
