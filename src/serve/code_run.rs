//! `POST /toolbox/{id}/process/code-run`: what the Python SDK's `sandbox.process.code_run()`
//! sends (0.226.1 posts `{code, language, argv?, envs?, timeout?}` here; it no longer wraps code
//! into `process/execute`). As Daytona's daemon does, the code runs with `python3 -u -`,
//! `node -` or `ts-node`, its output merged in `result`; a timeout is a 408.
//!
//! The code travels as a file written into the sandbox (`~/.daytona/code-run/`), never on a
//! command line, and is removed after the run; `envs` (which may be secrets) only in the
//! process environment. A runtime the sandbox lacks is reported in the daemon's own shape: exit
//! code 127 and a `result` that names the missing program. Python code that uses matplotlib
//! answers the figures it shows as `artifacts.charts` (`code_run_charts.rs`).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::code_run_charts;
use super::error::DaemonError;
use super::state::AppState;
use super::toolbox::{ready, run};
use super::view::JsonBody;
use crate::daytona_api::{CodeRunRequest, CodeRunResponse};
use crate::provider::{ExecRequest, ProviderError};

/// Where code files go, relative to the sandbox home.
const CODE_DIR: &str = ".daytona/code-run";

/// How a language's code file runs: the program it needs and the command line (the file is
/// `"$code_file"`, the arguments `{argv}`).
fn runner(language: &str) -> Option<(&'static str, &'static str, &'static str)> {
    match language {
        "python" => Some(("python3", "py", r#"python3 -u - {argv} < "$code_file""#)),
        "javascript" => Some(("node", "js", r#"node - {argv} < "$code_file""#)),
        // The daemon runs `npx ts-node`, which its image has installed; here `npx` would
        // download a ts-node (without the TypeScript it needs) whenever the host has none.
        "typescript" => Some((
            "ts-node",
            "ts",
            r#"ts-node -T --ignore-diagnostics 5107 -O '{"module":"CommonJS"}' "$code_file" {argv}"#,
        )),
        _ => None,
    }
}

/// The shell text of one run, `file` being relative to the home (the run starts in the work
/// directory). `argv` is joined with spaces and left to the shell, as the daemon does.
fn command(language: &str, file: &str, argv: &[String]) -> Option<String> {
    let (program, _, line) = runner(language)?;
    let file = shlex::try_quote(file).ok()?;
    let line = line.replace("{argv}", &argv.join(" "));
    Some(format!(
        "code_file=\"$HOME\"/{file}\n\
         if ! command -v {program} >/dev/null 2>&1; then\n\
         \x20 echo '{program} is not installed in this sandbox: code_run in {language} needs it' >&2\n\
         \x20 command -p rm -f -- \"$code_file\"; exit 127\n\
         fi\n\
         {line}\n\
         code_status=$?\n\
         command -p rm -f -- \"$code_file\"\n\
         exit $code_status"
    ))
}

pub(super) async fn run_code(
    state: &AppState,
    id: &str,
    request: CodeRunRequest,
) -> Result<CodeRunResponse, DaemonError> {
    let Some((_, extension, _)) = runner(&request.language) else {
        return Err(DaemonError::bad_request(format!(
            "unsupported language: {}",
            request.language
        )));
    };
    let env = request.envs.unwrap_or_default();
    if let Some(name) = env
        .keys()
        .find(|name| !crate::names::EnvName::is_valid(name))
    {
        return Err(DaemonError::bad_request(format!(
            "invalid environment variable name `{name}`"
        )));
    }
    let sandbox = ready(state, id).await?;
    let file = format!("{CODE_DIR}/{}.{extension}", uuid::Uuid::new_v4().simple());
    let javascript = matches!(request.language.as_str(), "javascript" | "typescript");
    // As the daemon does: `node -` would see the file name in `process.argv[1]`.
    let code = if javascript {
        format!("process.argv.splice(1, 1);\n{}", request.code)
    } else if code_run_charts::uses_matplotlib(&request.code) {
        code_run_charts::wrap(&request.code)
    } else {
        request.code
    };
    state
        .provider
        .upload(&sandbox.id, &file, code.as_bytes())
        .await
        .map_err(|error| DaemonError::from_provider(error, &format!("sandbox {id}")))?;
    let Some(command) = command(&request.language, &file, &request.argv.unwrap_or_default()) else {
        return Err(DaemonError::bad_request("the code file path is not valid"));
    };
    let exec = ExecRequest {
        command,
        env,
        timeout: request
            .timeout
            .filter(|&seconds| seconds > 0)
            .map(|seconds| Duration::from_secs(u64::from(seconds))),
        ..ExecRequest::default()
    };
    match run(state, &sandbox, exec).await {
        Ok(output) => {
            let (result, artifacts) = code_run_charts::take_charts(&output.output);
            Ok(CodeRunResponse {
                exit_code: output.exit_code,
                result,
                artifacts,
            })
        }
        Err(ProviderError::Api { message, .. } | ProviderError::Transport { message }) => {
            Ok(CodeRunResponse {
                exit_code: -1,
                result: message,
                artifacts: None,
            })
        }
        Err(ProviderError::Timeout { .. }) => Err(DaemonError::new(
            StatusCode::REQUEST_TIMEOUT,
            "command execution timeout",
        )),
        Err(error) => Err(DaemonError::from_provider(error, &format!("sandbox {id}"))),
    }
}

pub(super) async fn code_run(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<CodeRunRequest>,
) -> Result<Json<CodeRunResponse>, DaemonError> {
    run_code(&state, &id, request).await.map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_runs_from_a_file_and_a_missing_runtime_says_so() {
        let text = command(
            "python",
            ".daytona/code-run/x.py",
            &["a".into(), "b".into()],
        )
        .unwrap();
        assert!(
            text.contains(r#"python3 -u - a b < "$code_file""#),
            "{text}"
        );
        assert!(text.contains("command -v python3"), "{text}");
        assert!(
            text.contains(r#"code_file="$HOME"/.daytona/code-run/x.py"#),
            "{text}"
        );
        assert!(text.contains("exit 127"), "{text}");
        assert!(command("cobol", "f", &[]).is_none());
    }
}
