//! `ralph-town mcp`: an MCP server on stdio whose tools call the same library functions as the
//! command line (`workflow` for the team, `sandbox` for single sandboxes).
//!
//! An adapter only: it turns tool arguments into typed calls and results into answers (a text
//! summary plus `structured_content`), and holds no planning logic. Stdout is the protocol, so
//! nothing here prints to it; progress and logs go to stderr. A failure is a tool error
//! (`is_error: true`) carrying the reason, never a protocol error, and no answer holds a secret
//! value: team secrets and credential-looking values are redacted from every answer.

mod answer;
mod arguments;
mod sandbox;
mod team;
mod work;

use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool_handler};

use crate::error::{Error, Result};
use crate::provider::ProviderKind;
use crate::workflow::Switches;

/// How refusals name the tools' arguments.
const SWITCHES: Switches = Switches {
    force: "`force: true`",
    confirm: "`confirm: true`",
    prune: "`prune: true`",
    adopt: "`adopt: true`",
};

const INSTRUCTIONS: &str = "ralph-town gives each teammate of a coding team its own sandbox. \
Team tools (`team_plan`, `team_up`, `team_status`, `team_down`) converge the sandboxes declared \
in a `team.toml`; `team_up` and `team_down` refuse to destroy work unless told (`confirm`, \
`force`). Teammates run their `command` after setup: `team_logs`, `team_wait`, \
`teammate_status` and `teammate_restart` watch and steer them, and the `teammate_*` file tools \
read, write, edit, list and diff a teammate's workdir. Sandbox tools (`sandbox_*`) manage single sandboxes on the `local` or `daytona` \
provider.";

/// The MCP server: every tool of ralph-town.
#[derive(Clone)]
pub(crate) struct Server {
    tool_router: ToolRouter<Server>,
}

impl Server {
    pub(crate) fn new() -> Server {
        Server {
            tool_router: Server::team_router() + Server::sandbox_router() + Server::work_router(),
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

/// A tool panicked: a bug, answered as a tool error so that the client is not left waiting.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("`{tool}` failed with an internal error")]
#[diagnostic(
    code(ralph_town::internal),
    help("this is a bug in ralph-town; the server's stderr has the details")
)]
struct ToolPanicked {
    tool: String,
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {
    // rmcp runs each request in its own task and sends nothing when that task panics, so the
    // client would wait forever: every tool call answers, a panic as a tool error.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let tool = request.name.to_string();
        let call = ToolCallContext::new(self, request, context);
        match AssertUnwindSafe(self.tool_router.call(call))
            .catch_unwind()
            .await
        {
            Ok(answer) => answer,
            Err(_) => Ok(CallToolResponse::Complete(answer::error(
                &ToolPanicked { tool },
                serde_json::json!({}),
            ))),
        }
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("ralph-town", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}

/// Serves MCP on stdin/stdout until the client closes the connection.
pub(crate) async fn serve_stdio() -> Result<()> {
    let failed = |context: &str, error: String| Error::io(context, std::io::Error::other(error));
    let service = Server::new()
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|error| failed("the MCP client did not initialize", error.to_string()))?;
    service
        .waiting()
        .await
        .map_err(|error| failed("the MCP server stopped", error.to_string()))?;
    Ok(())
}

/// The provider a sandbox tool uses: its `provider` argument, else `RALPH_TOWN_PROVIDER`, else
/// `local`.
fn provider_kind(argument: Option<ProviderKind>) -> Result<ProviderKind> {
    if let Some(kind) = argument {
        return Ok(kind);
    }
    match std::env::var("RALPH_TOWN_PROVIDER").ok().as_deref() {
        None | Some("" | "local") => Ok(ProviderKind::Local),
        Some("daytona") => Ok(ProviderKind::Daytona),
        Some(other) => Err(Error::NotFound {
            message: format!("`RALPH_TOWN_PROVIDER` names an unknown provider `{other}`"),
            hint: Some("use `local` or `daytona`".to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_listed_with_a_described_input_schema() {
        let server = Server::new();
        let names: Vec<String> = server
            .tool_router
            .list_all()
            .into_iter()
            .map(|tool| tool.name.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "sandbox_create",
                "sandbox_delete",
                "sandbox_env_list",
                "sandbox_env_set",
                "sandbox_exec",
                "sandbox_list",
                "sandbox_preflight",
                "sandbox_run",
                "sandbox_ssh",
                "team_down",
                "team_logs",
                "team_plan",
                "team_status",
                "team_up",
                "team_wait",
                "teammate_diff",
                "teammate_edit_file",
                "teammate_exec",
                "teammate_list_files",
                "teammate_read_file",
                "teammate_restart",
                "teammate_status",
                "teammate_write_file",
            ]
        );
        for tool in server.tool_router.list_all() {
            assert!(tool.description.is_some(), "{}", tool.name);
            let properties = tool.input_schema["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{}: no properties", tool.name));
            for (name, property) in properties {
                assert!(
                    property.get("description").is_some(),
                    "{}.{name} has no description",
                    tool.name
                );
            }
        }
    }
}
