//! ralph-town: a team of coding agents, one sandbox each, declared in `team.toml`.

pub mod apply;
pub mod daytona_api;
pub mod plan;
pub mod progress;
pub mod provider;
pub mod secret;
pub mod serve;
pub mod setup;
pub mod team;
