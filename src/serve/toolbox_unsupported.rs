//! Toolbox routes the pinned SDKs call that local sandboxes have no counterpart of: the part of
//! computer use `computer_use.rs` does not serve (the accessibility tree) and the image
//! entrypoint's session (`/process/session/entrypoint`, `.../entrypoint/logs`).
//!
//! Each answers the daemon's error body with the reason, so that the SDKs raise their own error
//! classes (unprocessable entity for what cannot be done here, not found for the session that
//! does not exist) instead of reading a 404 route miss as a missing file or sandbox.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{any, get};

use super::error::DaemonError;
use super::state::AppState;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/computeruse/{*rest}", any(computer_use))
        .route("/{sandbox}/process/session/entrypoint", get(entrypoint))
        .route(
            "/{sandbox}/process/session/entrypoint/logs",
            get(entrypoint),
        )
}

fn not_possible(message: &str) -> DaemonError {
    DaemonError::new(StatusCode::UNPROCESSABLE_ENTITY, message).with_code("UNPROCESSABLE_ENTITY")
}

async fn computer_use() -> DaemonError {
    not_possible(
        "the accessibility tree is not served for local sandboxes: it needs the AT-SPI bus of Daytona's desktop images (the display, mouse, keyboard, screenshots and recordings are served)",
    )
}

/// A local sandbox runs no image entrypoint, so there is no session of it to show.
async fn entrypoint() -> DaemonError {
    DaemonError::not_found(
        "session entrypoint not found: local sandboxes run no image entrypoint (a snapshot's `ENTRYPOINT` and `CMD` are noted, not run)",
    )
}
