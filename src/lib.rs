//! ralph-town: a team of coding agents, one sandbox each, declared in `team.toml`.
//!
//! The data flows one way: file (`team`) -> desired state (`desired`) -> observed sandboxes
//! (`provider`) -> plan (`plan`, pure) -> apply (`apply`) -> report (`progress`).

pub(crate) mod apply;
pub mod cli;
pub(crate) mod daytona_api;
pub(crate) mod desired;
mod durable;
pub mod error;
pub(crate) mod guard;
pub(crate) mod mcp;
mod names;
pub(crate) mod plan;
pub(crate) mod progress;
pub mod provider;
pub(crate) mod report;
pub(crate) mod runner;
pub(crate) mod sandbox;
pub mod secret;
pub mod serve;
pub mod setup;
pub mod team;
pub mod vocabulary;
pub mod workflow;
