//! The toolbox's language servers (`/toolbox/{id}/lsp/...`) against an in-process `serve`: the
//! official Python SDK (`tests/sdk/lsp_test.py`) and TypeScript SDK (`tests/sdk-ts/lsp_test.mjs`)
//! start real servers (`pylsp`, `typescript-language-server`, pinned in
//! `scripts/sdk-requirements.txt` and `tests/sdk-ts/package.json`) in a sandbox that finds them
//! on its `PATH`, and a server dies with its sandbox's stop or delete, seen from the host's
//! process table.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common;
use crate::serve_openapi;
use crate::serve_sdk_ts::sdk_node;
use crate::serve_support::{self, Server, encode, run_node_script, run_python_script, sdk_python};

/// The local provider's `PATH` for sandbox commands, after the servers' directories.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where sandboxes find the pinned language servers: their `PATH`, and the host paths `serve`
/// must show them read-only (what they do not see otherwise: a checkout under `/root` or
/// `/tmp`, pyenv's Python under `~/.pyenv`, node from nvm).
pub(crate) struct Servers {
    pub(crate) path: String,
    pub(crate) read_only: Vec<PathBuf>,
}

impl Servers {
    /// An in-process `serve` whose sandboxes see the servers.
    pub(crate) async fn serve(&self) -> Server {
        serve_support::start_with(serve_support::Options {
            read_only_paths: self.read_only.clone(),
            ..serve_support::Options::default()
        })
        .await
    }
}

/// The pinned language servers, when they are installed (else the test skips; under `CI=true`
/// it fails).
pub(crate) fn servers() -> Option<Servers> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os("RALPH_TOWN_SDK_VENV")
        .map_or_else(|| root.join("target/sdk-venv"), PathBuf::from);
    let node_modules = root.join("tests/sdk-ts/node_modules");
    let node_bin = node_modules.join(".bin");
    for (program, folder, install) in [
        ("pylsp", &venv.join("bin"), "scripts/sdk-venv.sh"),
        (
            "typescript-language-server",
            &node_bin,
            "scripts/sdk-node.sh",
        ),
    ] {
        if !folder.join(program).is_file() {
            common::skip(&format!(
                "`{program}` in `{}` (install it with `{install}`)",
                folder.display()
            ));
            return None;
        }
    }
    if !common::have("node") {
        return None;
    }
    let node = which("node")?;
    // The venv's scripts run the Python it was made from: `home` in `pyvenv.cfg` is its `bin`.
    let config = std::fs::read_to_string(venv.join("pyvenv.cfg")).unwrap_or_default();
    let python_home = config.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "home").then(|| PathBuf::from(value.trim()))
    })?;
    let prefixes = [python_home.parent()?, node.parent()?.parent()?];
    let read_only = [venv.as_path(), node_modules.as_path()]
        .into_iter()
        .chain(prefixes)
        .filter(|path| hidden_from_sandboxes(path))
        .map(Path::to_path_buf)
        .collect();
    Some(Servers {
        path: format!(
            "{}:{}:{SYSTEM_PATH}",
            venv.join("bin").display(),
            node_bin.display()
        ),
        read_only,
    })
}

/// Where `program` is on this process's `PATH`, symlinks resolved.
fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|folder| folder.join(program))
        .find(|path| path.is_file())
        .and_then(|path| path.canonicalize().ok())
}

/// Whether sandboxes see `path` only when `serve` is told to show it: home directories are
/// hidden from them, and each has a `/tmp` of its own (a checkout under `/tmp`).
fn hidden_from_sandboxes(path: &Path) -> bool {
    let home = std::env::home_dir();
    ["/root", "/home", "/tmp"]
        .iter()
        .map(Path::new)
        .chain(home.as_deref())
        .any(|hidden| path.starts_with(hidden))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_drives_python_and_typescript_language_servers() {
    let Some(python) = sdk_python(&["daytona", "pylsp"]).await else {
        return;
    };
    let Some(servers) = servers() else {
        return;
    };
    let server = servers.serve().await;
    let env = [("LSP_SANDBOX_PATH", servers.path.as_str())];
    run_python_script(&python, "lsp_test.py", &server, &env, "sdk-lsp: done").await;
    for route in [
        "POST /toolbox/{sandbox}/lsp/start",
        "POST /toolbox/{sandbox}/lsp/did-open",
        "POST /toolbox/{sandbox}/lsp/completions",
        "GET /toolbox/{sandbox}/lsp/document-symbols",
        "GET /toolbox/{sandbox}/lsp/workspacesymbols",
        "POST /toolbox/{sandbox}/lsp/did-close",
        "POST /toolbox/{sandbox}/lsp/stop",
    ] {
        assert!(server.requests(route).await >= 2, "{route}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_drives_a_typescript_language_server() {
    let Some(folder) = sdk_node() else {
        return;
    };
    let Some(servers) = servers() else {
        return;
    };
    let server = servers.serve().await;
    let env = [("LSP_SANDBOX_PATH", servers.path.as_str())];
    run_node_script(&folder, "lsp_test.mjs", &server, &env, "sdk-ts-lsp: done").await;
}

/// Processes of this machine whose environment holds `marker` (set in one sandbox's env), as
/// `pid command line`, by pid.
fn processes_marked(marker: &str) -> Vec<String> {
    let needle = format!("LSP_TEST_MARKER={marker}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|entry| {
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            let marked = environ
                .split(|byte| *byte == 0)
                .any(|variable| variable == needle.as_bytes());
            let command = std::fs::read(entry.path().join("cmdline")).ok()?;
            let pid = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            marked.then(|| (pid, String::from_utf8_lossy(&command).replace('\0', " ")))
        })
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .map(|(pid, command)| format!("{pid} {command}"))
        .collect()
}

/// Waits until `test` holds of the marked processes (or fails after a generous deadline).
pub(crate) async fn wait_processes(marker: &str, what: &str, test: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let processes = processes_marked(marker);
        if test(&processes) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {processes:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A started sandbox that finds the servers, with a marker in its environment, and a running
/// Python language server in it.
async fn sandbox_with_server(server: &Server, path: &str, marker: &str) -> String {
    let sandbox = server
        .create(json!({ "env": { "PATH": path, "LSP_TEST_MARKER": marker } }))
        .await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let start = json!({ "languageId": "python", "pathToProject": "/tmp" });
    let reply = server
        .post(&format!("/toolbox/{id}/lsp/start"), start.clone())
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    wait_processes(marker, "no language server runs", |processes| {
        processes.iter().any(|command| command.contains("pylsp"))
    })
    .await;
    // A second start finds the server running and starts no other.
    let running = processes_marked(marker);
    let reply = server
        .post(&format!("/toolbox/{id}/lsp/start"), start)
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(processes_marked(marker), running);
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_language_server_does_not_outlive_its_sandbox_stop_or_delete() {
    if !common::have("bwrap") {
        return;
    }
    let Some(servers) = servers() else {
        return;
    };
    let server = servers.serve().await;
    let path = servers.path;
    let marker = format!("stop-{}", std::process::id());
    let id = sandbox_with_server(&server, &path, &marker).await;

    let reply = server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    server.wait_state(&id, "stopped").await;
    wait_processes(
        &marker,
        "the server outlived the stop",
        <[String]>::is_empty,
    )
    .await;
    // Started again, the sandbox has no server until one is started.
    let reply = server
        .post(&format!("/api/sandbox/{id}/start"), json!({}))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    server.wait_state(&id, "started").await;
    let query = "languageId=python&pathToProject=/tmp&uri=file:///tmp/a.py";
    let reply = server
        .get(&format!("/toolbox/{id}/lsp/document-symbols?{query}"))
        .await;
    let message = reply.daemon_error(400, "BAD_REQUEST");
    assert!(message.contains("server not initialized"), "{message}");

    let marker = format!("delete-{}", std::process::id());
    let id = sandbox_with_server(&server, &path, &marker).await;
    let reply = server.delete(&format!("/api/sandbox/{id}")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    server.wait_gone(&id).await;
    wait_processes(
        &marker,
        "the server outlived the delete",
        <[String]>::is_empty,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lsp_requests_missing_a_field_or_a_server_get_the_daemon_errors() {
    let server = serve_support::start("").await;
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = server
        .post(
            &format!("/toolbox/{id}/lsp/start"),
            json!({ "languageId": "python" }),
        )
        .await;
    assert_eq!(
        reply.daemon_error(400, "BAD_REQUEST"),
        "pathToProject is required"
    );
    let reply = server
        .get(&format!(
            "/toolbox/{id}/lsp/workspacesymbols?languageId=python&pathToProject=/p"
        ))
        .await;
    assert_eq!(reply.daemon_error(400, "BAD_REQUEST"), "query is required");
    let body = json!({ "languageId": "python", "pathToProject": "/p", "uri": "file:///p/a.py" });
    let reply = server
        .post(&format!("/toolbox/{id}/lsp/did-open"), body)
        .await;
    let message = reply.daemon_error(400, "BAD_REQUEST");
    assert!(message.starts_with("server not initialized"), "{message}");
    let reply = server
        .post(
            &format!("/toolbox/{id}/lsp/stop"),
            json!({ "languageId": "python", "pathToProject": "/p" }),
        )
        .await;
    let message = reply.daemon_error(500, "INTERNAL_SERVER_ERROR");
    assert!(
        message.contains("no python server runs for project `/p`"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_server_answers_keep_the_daytona_openapi_contract() {
    // Without bubblewrap (the recording harness), sandboxes see every host path.
    let Some(Servers { path, .. }) = servers() else {
        return;
    };
    let Some((python, harness, client)) = serve_openapi::recording().await else {
        return;
    };
    let id = client.started(json!({ "env": { "PATH": path } })).await;
    let home = client.exec(&id, "printf %s \"$HOME\"").await["result"]
        .as_str()
        .unwrap()
        .to_string();
    let project = format!("{home}/contract");
    let file = format!("{project}/main.ts");
    client
        .exec(
            &id,
            &format!("mkdir -p {project} && printf 'export function area(side: number) {{ return side * side }}\\nconst n = 1\\nn.toF' > {file}"),
        )
        .await;
    let toolbox = format!("/toolbox/{id}/lsp");
    let server = json!({ "languageId": "typescript", "pathToProject": project });
    let document = json!({ "languageId": "typescript", "pathToProject": project, "uri": format!("file://{file}") });
    client
        .ok(
            "POST",
            &format!("{toolbox}/start"),
            Some(server.clone()),
            200,
        )
        .await;
    client
        .ok(
            "POST",
            &format!("{toolbox}/did-open"),
            Some(document.clone()),
            200,
        )
        .await;
    let query = format!(
        "languageId=typescript&pathToProject={}&uri={}",
        encode(&project),
        encode(&format!("file://{file}"))
    );
    let symbols = client
        .ok(
            "GET",
            &format!("{toolbox}/document-symbols?{query}"),
            None,
            200,
        )
        .await;
    assert!(
        symbols
            .as_array()
            .unwrap()
            .iter()
            .any(|symbol| symbol["name"] == "area"),
        "{symbols}"
    );
    let mut completion = document.clone();
    completion["position"] = json!({ "line": 2, "character": 5 });
    completion["context"] = json!({ "triggerKind": 1 });
    let list = client
        .ok(
            "POST",
            &format!("{toolbox}/completions"),
            Some(completion),
            200,
        )
        .await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|item| item["label"] == "toFixed"),
        "{list}"
    );
    let query = format!(
        "query=area&languageId=typescript&pathToProject={}",
        encode(&project)
    );
    client
        .ok(
            "GET",
            &format!("{toolbox}/workspacesymbols?{query}"),
            None,
            200,
        )
        .await;
    client
        .ok(
            "POST",
            &format!("{toolbox}/did-close"),
            Some(document.clone()),
            200,
        )
        .await;
    client
        .ok(
            "POST",
            &format!("{toolbox}/stop"),
            Some(server.clone()),
            200,
        )
        .await;
    // The daemon's errors: a stopped server, and stopping it again.
    client
        .ok("POST", &format!("{toolbox}/did-open"), Some(document), 400)
        .await;
    client
        .ok("POST", &format!("{toolbox}/stop"), Some(server), 500)
        .await;
    client
        .ok("DELETE", &format!("/api/sandbox/{id}"), None, 200)
        .await;
    serve_openapi::assert_contract(&python, &harness).await;
}
