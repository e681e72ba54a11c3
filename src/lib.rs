//! ralph-town: a team of coding agents, one sandbox each, declared in `team.toml`.
//!
//! The data flows one way: file (`team`) -> desired state (`desired`) -> observed sandboxes
//! (`provider`) -> plan (`plan`, pure) -> apply (`apply`) -> report (`progress`).

pub mod apply;
pub mod cli;
pub mod daytona_api;
pub mod desired;
mod durable;
pub mod error;
pub mod guard;
pub mod mcp;
mod names;
pub mod plan;
pub mod progress;
pub mod provider;
pub mod report;
pub mod sandbox;
pub mod secret;
pub mod serve;
pub mod setup;
pub mod team;
pub mod vocabulary;
pub mod workflow;
