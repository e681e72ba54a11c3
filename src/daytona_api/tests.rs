use serde_json::json;

use super::sandbox::GpuTypes;
use super::*;

fn sandbox_json() -> serde_json::Value {
    json!({
        "id": "a1", "organizationId": "org", "name": "alice", "user": "daytona",
        "env": {"K": "V"}, "labels": {"team": "t"}, "public": false, "networkBlockAll": false,
        "kvm": false, "target": "us", "cpu": 2.0, "gpu": 0, "memory": 4, "disk": 10,
        "toolboxProxyUrl": "https://proxy.app.daytona.io/toolbox",
        "state": "pulling_snapshot", "desiredState": "started", "autoStopInterval": 15,
        "someFutureField": {"nested": true}
    })
}

#[test]
fn sandbox_tolerates_unknown_fields_floats_and_new_states() {
    let sandbox: Sandbox = serde_json::from_value(sandbox_json()).unwrap();
    assert_eq!(sandbox.cpu, 2);
    assert_eq!(sandbox.state, Some(SandboxState::PullingSnapshot));
    let mut value = sandbox_json();
    value["state"] = json!("hibernating");
    let sandbox: Sandbox = serde_json::from_value(value).unwrap();
    assert_eq!(
        sandbox.state,
        Some(SandboxState::Other("hibernating".into()))
    );
    assert_eq!(
        serde_json::to_value(&sandbox).unwrap()["state"],
        "hibernating"
    );
}

#[test]
fn sandbox_writes_integers_and_skips_absent_options() {
    let sandbox: Sandbox = serde_json::from_value(sandbox_json()).unwrap();
    let written = serde_json::to_value(&sandbox).unwrap();
    assert_eq!(written["cpu"], json!(2));
    assert!(written["cpu"].is_u64());
    assert_eq!(
        written["toolboxProxyUrl"],
        "https://proxy.app.daytona.io/toolbox"
    );
    assert!(written.get("errorReason").is_none());
    assert!(written.get("someFutureField").is_none());
}

#[test]
fn sandbox_requires_the_fields_the_sdk_requires() {
    let mut value = sandbox_json();
    value.as_object_mut().unwrap().remove("toolboxProxyUrl");
    assert!(serde_json::from_value::<Sandbox>(value).is_err());
}

#[test]
fn create_sandbox_sends_only_what_is_set() {
    let create = CreateSandbox {
        name: Some("alice".into()),
        ttl_minutes: Some(90),
        auto_delete_interval: Some(-1),
        ..CreateSandbox::default()
    };
    let written = serde_json::to_value(&create).unwrap();
    assert_eq!(
        written,
        json!({"name": "alice", "ttlMinutes": 90, "autoDeleteInterval": -1})
    );
}

#[test]
fn create_sandbox_ignores_unknown_fields_and_reads_gpu_type_both_ways() {
    let create: CreateSandbox = serde_json::from_value(json!({
        "class": "small", "gpuType": "H100", "secrets": [{"TOKEN": "vault-name"}]
    }))
    .unwrap();
    assert_eq!(create.gpu_type, Some(GpuTypes::One("H100".into())));
    let create: CreateSandbox = serde_json::from_value(json!({"gpuType": ["H100"]})).unwrap();
    assert_eq!(create.gpu_type, Some(GpuTypes::Many(vec!["H100".into()])));
}

#[test]
fn negative_resources_are_rejected() {
    assert!(serde_json::from_value::<CreateSandbox>(json!({"cpu": -1})).is_err());
}

#[test]
fn list_page_reads_a_null_cursor() {
    let page: ListSandboxesResponse =
        serde_json::from_value(json!({"items": [], "nextCursor": null})).unwrap();
    assert_eq!(page.next_cursor, None);
}

#[test]
fn snapshot_uses_mem_and_writes_nullable_fields() {
    let snapshot: SnapshotDto = serde_json::from_value(json!({
        "id": "s1", "general": true, "name": "daytona-small", "state": "active",
        "cpu": 1, "gpu": 0, "mem": 1, "disk": 3,
        "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"
    }))
    .unwrap();
    assert_eq!(snapshot.mem, 1);
    assert_eq!(snapshot.state.as_str(), "active");
    let written = serde_json::to_value(&snapshot).unwrap();
    for field in [
        "size",
        "entrypoint",
        "errorReason",
        "lastUsedAt",
        "sourceSandboxId",
    ] {
        assert_eq!(written[field], serde_json::Value::Null, "{field}");
        assert!(written.as_object().unwrap().contains_key(field), "{field}");
    }
}

#[test]
fn git_clone_uses_the_daemon_casing_and_hides_the_password() {
    let request: GitCloneRequest = serde_json::from_value(json!({
        "url": "https://example.com/r.git", "path": "r", "commit_id": "abc",
        "insecure_skip_tls": true, "username": "u", "password": "sentinel-secret-value"
    }))
    .unwrap();
    assert_eq!(request.commit_id.as_deref(), Some("abc"));
    assert_eq!(request.insecure_skip_tls, Some(true));
    assert!(!format!("{request:?}").contains("sentinel-secret-value"));
}

#[test]
fn env_update_hides_values() {
    let request: UpdateEnvRequest = serde_json::from_value(
        json!({"set": {"TOKEN": "sentinel-secret-value"}, "unset": ["OLD"], "unsetValuePrefix": "sentinel-prefix"}),
    )
    .unwrap();
    assert_eq!(
        request.unset_value_prefix.as_deref(),
        Some("sentinel-prefix")
    );
    let debug = format!("{request:?}");
    assert!(debug.contains("TOKEN") && !debug.contains("sentinel-secret-value"));
    assert!(!debug.contains("sentinel-prefix"));
}

#[test]
fn execute_response_reads_the_old_code_field() {
    let response: ExecuteResponse =
        serde_json::from_value(json!({"code": 3, "result": ""})).unwrap();
    assert_eq!(response.exit_code, Some(3));
    let response: ExecuteResponse = serde_json::from_value(json!({"result": "x"})).unwrap();
    assert_eq!(response.exit_code, None);
}

#[test]
fn error_bodies_round_trip() {
    let api: ApiErrorBody = serde_json::from_value(json!({
        "path": "/api/sandbox/x", "timestamp": "t", "statusCode": 404,
        "error": "Not Found", "message": "Sandbox with ID or name x not found"
    }))
    .unwrap();
    assert_eq!(api.status_code, 404);
    let daemon: DaemonErrorBody = serde_json::from_value(json!({
        "statusCode": 408, "message": "command execution timeout", "code": "REQUEST_TIMEOUT",
        "timestamp": "t", "path": "/process/execute", "method": "POST"
    }))
    .unwrap();
    assert_eq!(daemon.code.as_deref(), Some("REQUEST_TIMEOUT"));
}
