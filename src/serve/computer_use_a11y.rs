//! The accessibility routes of computer use (`/toolbox/{id}/computeruse/a11y/...`, the SDK's
//! `computer_use.accessibility`): the tree, find, and focus, invoke and set value on a node, and
//! the buses they need, started and ended with the display (`computer_use.rs`). Like every X
//! route it must not reach the sandbox's programs from this process: the buses and the queries
//! run inside the sandbox, through the provider, as the sandbox user.
//!
//! The buses: `start` runs, as the async command of a second process session
//! (`daytona-computeruse-a11y`, so `stop`, a restart of `xvfb`, and stopping or deleting the
//! sandbox end them with the display's), a private session bus (`dbus-daemon --session`) and
//! AT-SPI's launcher (`at-spi-bus-launcher --launch-immediately --a11y=1`), which starts the
//! accessibility bus and its registry. Both listen on socket files in a fresh directory under the
//! sandbox's own `/tmp` (the launcher's is `$XDG_RUNTIME_DIR/at-spi`): never on an abstract
//! socket, which lives in the network namespace every sandbox shares with the host. Programs the
//! sandbox starts from then on get `DBUS_SESSION_BUS_ADDRESS` and `GTK_MODULES=gail:atk-bridge`
//! (GTK 2; GTK 3 bridges by itself), and lose `NO_AT_BRIDGE`; the launcher also announces the bus
//! on the display's root window (`AT_SPI_BUS`), where toolkits look first. Missing programs do
//! not fail `start` (the display works without them): the routes answer 503 naming the packages.
//!
//! The queries: `computer_use_a11y.py`, shipped in this binary and run with the sandbox's
//! `python3` (the system one when the first on `PATH` lacks PyGObject), speaks AT-SPI's D-Bus
//! protocol through Gio as Daytona's daemon does through godbus, with its semantics: node ids
//! `bus-name:object-path`, scopes, name matching, walk budget and find limits, the error
//! statuses. Raw D-Bus rather than `libatspi` because an action names its node by id, which
//! `libatspi` cannot look up; rather than a Rust D-Bus crate because the bus is the sandbox's and
//! must be reached from inside it. The request travels in the environment, never the command
//! line. `scope=pid` compares with the pid the accessibility bus sees, which is the pid the
//! sandbox's commands see: the sandbox's own pid namespace under bubblewrap (every command of a
//! sandbox shares it), the host's without.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::computer_use::{DIR, Tool, display_ready, failed, missing, run_in_session, run_x};
use super::error::DaemonError;
use super::state::AppState;
use super::toolbox::run_script;
use super::view::JsonBody;
use crate::provider::{self, ProviderError};

const SCRIPT: &str = include_str!("computer_use_a11y.py");
const SESSION: &str = "daytona-computeruse-a11y";

const PYTHON: Tool = Tool {
    program: "python3",
    package: "python3",
};
const DBUS_DAEMON: Tool = Tool {
    program: "dbus-daemon",
    package: "dbus-daemon",
};
const LAUNCHER: Tool = Tool {
    program: "at-spi-bus-launcher",
    package: "at-spi2-core",
};
const PYGOBJECT: Tool = Tool {
    program: "python3-gi",
    package: "python3-gi",
};

/// Sets `$launcher` to AT-SPI's launcher, or to nothing: it is not on `PATH`, and Debian moved it.
const FIND_LAUNCHER: &str = "launcher=; for l in /usr/libexec/at-spi-bus-launcher /usr/lib/at-spi2-core/at-spi-bus-launcher; do [ -x \"$l\" ] && launcher=$l && break; done";

/// Daytona's code of an unreachable accessibility bus.
const A11Y_UNAVAILABLE: &str = "A11Y_UNAVAILABLE";

/// What the sandbox's programs get while the buses run.
const GTK_MODULES: &str = "gail:atk-bridge";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/computeruse/a11y/tree", get(tree))
        .route("/{sandbox}/computeruse/a11y/find", post(find))
        .route("/{sandbox}/computeruse/a11y/node/focus", post(focus))
        .route("/{sandbox}/computeruse/a11y/node/invoke", post(invoke))
        .route("/{sandbox}/computeruse/a11y/node/value", post(set_value))
}

/// Starts the session and accessibility buses beside the running display; leaves them off, for
/// the routes to explain, when the sandbox lacks their programs or they fail.
pub(super) async fn start_buses(
    state: &AppState,
    sandbox: &provider::Sandbox,
) -> Result<(), DaemonError> {
    // A session whose buses died (or a sandbox restarted under it) goes first.
    let _ = state.provider.delete_session(&sandbox.id, SESSION).await;
    run_script(
        state,
        sandbox,
        format!("cd ~/{DIR} && rm -f bus.address a11y.exit a11y.err"),
        BTreeMap::new(),
    )
    .await?;
    let buses = format!(
        "cd ~/{DIR} || exit 1\n{FIND_LAUNCHER}\n\
         if ! command -v dbus-daemon >/dev/null || [ -z \"$launcher\" ]; then echo missing >a11y.exit; exit 0; fi\n\
         run=$(mktemp -d /tmp/daytona-a11y.XXXXXX) || {{ echo failed >a11y.exit; exit 1; }}\n\
         echo \"$run\" >a11y.dir\n\
         export DISPLAY=\":$(cat display)\" XDG_RUNTIME_DIR=\"$run\"\n\
         unset DBUS_SESSION_BUS_ADDRESS AT_SPI_BUS_ADDRESS\n\
         dbus-daemon --session --nofork --print-address=3 --address=\"unix:dir=$run\" 3>\"$run/address\" 2>a11y.err &\n\
         i=0; while [ ! -s \"$run/address\" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n\
         [ -s \"$run/address\" ] || {{ echo 'dbus-daemon gave no address' >>a11y.err; echo failed >a11y.exit; exit 1; }}\n\
         export DBUS_SESSION_BUS_ADDRESS=\"$(head -n 1 \"$run/address\")\"\n\
         \"$launcher\" --launch-immediately --a11y=1 2>>a11y.err &\n\
         i=0; while ! ls \"$run\"/at-spi/bus* >/dev/null 2>&1 && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n\
         echo \"$DBUS_SESSION_BUS_ADDRESS\" >bus.address\n\
         wait; echo $? >a11y.exit"
    );
    run_in_session(state, sandbox, SESSION, buses).await?;
    let wait = format!(
        "cd ~/{DIR} || exit 1\ni=0\nwhile [ ! -s bus.address ] && [ ! -e a11y.exit ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n\
         head -n 1 bus.address 2>/dev/null || true"
    );
    let output = run_script(state, sandbox, wait, BTreeMap::new()).await?;
    let address = output.output.trim();
    if output.exit_code != 0 || address.is_empty() {
        return Ok(());
    }
    let set = BTreeMap::from([
        ("DBUS_SESSION_BUS_ADDRESS".to_string(), address.to_string()),
        ("GTK_MODULES".to_string(), GTK_MODULES.to_string()),
    ]);
    state
        .provider
        .set_env(&sandbox.id, &set, &["NO_AT_BRIDGE".to_string()])
        .await
        .map_err(failed)
}

/// Ends the buses and removes what `start_buses` put in the environment and in `/tmp`.
pub(super) async fn stop_buses(
    state: &AppState,
    sandbox: &provider::Sandbox,
) -> Result<(), DaemonError> {
    match state.provider.delete_session(&sandbox.id, SESSION).await {
        Ok(()) | Err(ProviderError::NotFound { .. }) => {}
        Err(error) => return Err(failed(error)),
    }
    let unset = [
        "DBUS_SESSION_BUS_ADDRESS".to_string(),
        "GTK_MODULES".to_string(),
    ];
    match state
        .provider
        .set_env(&sandbox.id, &BTreeMap::new(), &unset)
        .await
    {
        Ok(()) | Err(ProviderError::Unsupported { .. }) => {}
        Err(error) => return Err(failed(error)),
    }
    let clean = format!(
        "cd ~/{DIR} 2>/dev/null || exit 0\nrun=$(cat a11y.dir 2>/dev/null); rm -f bus.address a11y.dir a11y.exit\n\
         case \"$run\" in /tmp/daytona-a11y.*) rm -rf \"$run\";; esac"
    );
    run_script(state, sandbox, clean, BTreeMap::new()).await?;
    Ok(())
}

/// What the script answers: a body, or an error with its status, or a missing part.
#[derive(Debug, Deserialize)]
struct Answer {
    status: u16,
    #[serde(default)]
    body: Value,
    #[serde(default)]
    error: String,
    #[serde(default)]
    missing: Option<String>,
}

/// Runs one request (`op` and its fields) through the script in the sandbox.
async fn query(state: &AppState, id: &str, request: Value) -> Result<Value, DaemonError> {
    // Whatever makes the bus unreachable, a missing package included, is Daytona's
    // `A11Y_UNAVAILABLE`, which the SDKs raise as their own error class.
    run_query(state, id, request).await.map_err(|error| {
        if error.status == StatusCode::SERVICE_UNAVAILABLE {
            error.with_code(A11Y_UNAVAILABLE)
        } else {
            error
        }
    })
}

async fn run_query(state: &AppState, id: &str, request: Value) -> Result<Value, DaemonError> {
    let sandbox = display_ready(state, id).await?;
    let env = BTreeMap::from([
        ("DAYTONA_A11Y_SCRIPT".to_string(), SCRIPT.to_string()),
        ("DAYTONA_A11Y_REQUEST".to_string(), request.to_string()),
    ]);
    // The bus of this display, not whatever the sandbox's environment says.
    let script = format!(
        "cd ~/{DIR} || exit 1\n{FIND_LAUNCHER}\nexport DAYTONA_A11Y_LAUNCHER=\"$launcher\"\n\
         export DBUS_SESSION_BUS_ADDRESS=\"$(head -n 1 bus.address 2>/dev/null)\"\n\
         export DAYTONA_A11Y_LOG=\"$PWD/a11y.err\"\n\
         python3 -c \"$DAYTONA_A11Y_SCRIPT\" 2>a11y-query.err"
    );
    let output = run_x(state, &sandbox, &[PYTHON, DBUS_DAEMON], &script, env).await?;
    let last = output.lines().rev().find(|line| !line.trim().is_empty());
    let answer: Answer = last
        .and_then(|line| serde_json::from_str(line).ok())
        .ok_or_else(|| {
            DaemonError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the accessibility query gave no answer: {}", output.trim()),
            )
        })?;
    answer_of(answer)
}

fn answer_of(answer: Answer) -> Result<Value, DaemonError> {
    match (answer.status, answer.missing.as_deref()) {
        (_, Some("launcher")) => Err(missing(LAUNCHER)),
        (_, Some(_)) => Err(missing(PYGOBJECT)),
        (200, None) => Ok(answer.body),
        (status, None) => Err(DaemonError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            answer.error,
        )),
    }
}

/// `GET /computeruse/a11y/tree`'s query: numbers are read here, so that a bad one is a 400.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TreeQuery {
    scope: Option<String>,
    pid: Option<String>,
    max_depth: Option<String>,
}

fn integer(value: Option<&str>, name: &str) -> Result<Option<i64>, DaemonError> {
    value
        .filter(|value| !value.is_empty())
        .map(|value| {
            value.parse().map_err(|_| {
                DaemonError::bad_request(format!("`{name}` must be an integer, not `{value}`"))
            })
        })
        .transpose()
}

/// `GET /computeruse/a11y/tree`.
async fn tree(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query_string): Query<TreeQuery>,
) -> Result<Json<Value>, DaemonError> {
    let pid = integer(query_string.pid.as_deref(), "pid")?;
    let max_depth = integer(query_string.max_depth.as_deref(), "maxDepth")?.unwrap_or(-1);
    let request = json!({
        "op": "tree",
        "scope": query_string.scope,
        "pid": pid,
        "maxDepth": max_depth,
    });
    Ok(Json(query(&state, &id, request).await?))
}

/// `POST /computeruse/a11y/find`: Daytona's `FindAccessibilityNodesRequest`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FindRequest {
    scope: Option<String>,
    pid: Option<i64>,
    role: Option<String>,
    name: Option<String>,
    name_match: Option<String>,
    states: Option<Vec<String>>,
    limit: Option<i64>,
}

async fn find(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<FindRequest>,
) -> Result<Json<Value>, DaemonError> {
    let request = json!({
        "op": "find",
        "scope": request.scope,
        "pid": request.pid,
        "role": request.role,
        "name": request.name,
        "nameMatch": request.name_match,
        "states": request.states,
        "limit": request.limit,
    });
    Ok(Json(query(&state, &id, request).await?))
}

/// The body of the node routes: `AccessibilityNodeRequest`, with `action` (invoke) or `value`.
#[derive(Debug, Deserialize)]
struct NodeRequest {
    id: Option<String>,
    action: Option<String>,
    value: Option<String>,
}

/// Runs `op` on the node `request` names: 400 without an id, before the sandbox is asked.
async fn on_node(
    state: &AppState,
    id: &str,
    op: &str,
    request: NodeRequest,
) -> Result<Json<Value>, DaemonError> {
    let node = request.id.filter(|node| !node.is_empty()).ok_or_else(|| {
        DaemonError::bad_request(
            "`id` is required: a node id `bus-name:object-path` from the tree or find",
        )
    })?;
    let request = json!({
        "op": op,
        "id": node,
        "action": request.action,
        "value": request.value,
    });
    Ok(Json(query(state, id, request).await?))
}

/// `POST /computeruse/a11y/node/focus`.
async fn focus(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<NodeRequest>,
) -> Result<Json<Value>, DaemonError> {
    on_node(&state, &id, "focus", request).await
}

/// `POST /computeruse/a11y/node/invoke`: `action` empty is the node's first.
async fn invoke(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<NodeRequest>,
) -> Result<Json<Value>, DaemonError> {
    on_node(&state, &id, "invoke", request).await
}

/// `POST /computeruse/a11y/node/value`.
async fn set_value(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<NodeRequest>,
) -> Result<Json<Value>, DaemonError> {
    on_node(&state, &id, "value", request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn answer(line: &str) -> Result<Value, DaemonError> {
        answer_of(serde_json::from_str(line).unwrap())
    }

    #[test]
    fn a_missing_program_is_named_with_its_package() {
        let error = answer(r#"{"status": 503, "missing": "launcher"}"#).unwrap_err();
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            error
                .message
                .contains("`at-spi-bus-launcher` is not installed")
                && error.message.contains("the `at-spi2-core` package"),
            "{}",
            error.message
        );
        let error = answer(r#"{"status": 503, "missing": "python3-gi"}"#).unwrap_err();
        assert!(
            error.message.contains("`python3-gi` package"),
            "{}",
            error.message
        );
    }

    #[test]
    fn the_script_status_is_the_answer_status() {
        assert_eq!(
            answer(r#"{"status": 200, "body": {"matches": []}}"#).unwrap(),
            json!({"matches": []})
        );
        for status in [400, 404, 500, 503] {
            let line = format!(r#"{{"status": {status}, "error": "why"}}"#);
            let error = answer(&line).unwrap_err();
            assert_eq!(
                (error.status.as_u16(), error.message.as_str()),
                (status, "why")
            );
        }
    }
}
