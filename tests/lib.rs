//! The integration tests: one binary, a module per area (`cli_*`, `serve_*`, `team_*`, ...),
//! sharing the harnesses in `common`, `serve_support`, `daytona_support` and `conformance`.

mod common;
mod conformance;
mod daytona_support;
mod serve_support;

mod cli_daytona;
mod cli_errors;
mod cli_init;
mod cli_run;
mod cli_sandbox;
mod cli_sandbox_daytona;
mod cli_sandbox_ssh;
mod cli_up;
mod daytona_compat;
mod daytona_openapi;
mod daytona_resilience;
mod examples;
mod mcp_server;
mod provider_daytona;
mod provider_local;
mod serve_api;
mod serve_records;
mod serve_sdk;
mod serve_simulation;
mod serve_ssh;
mod serve_toolbox;
mod setup_render;
mod setup_script;
mod setup_worktree;
mod team_bounds;
mod team_errors;
mod team_load;
mod team_malformed;
mod team_schema;
mod team_sources;
mod team_spec_hash;
