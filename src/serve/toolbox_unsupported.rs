//! Toolbox routes the pinned SDKs call that local sandboxes have no counterpart of: the image
//! entrypoint's session (`/process/session/entrypoint`, `.../entrypoint/logs`).
//!
//! Each answers the daemon's error body with the reason, so that the SDKs raise their own error
//! class (not found for the session that does not exist) instead of reading a 404 route miss as
//! a missing file or sandbox.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use super::error::DaemonError;
use super::state::AppState;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/process/session/entrypoint", get(entrypoint))
        .route(
            "/{sandbox}/process/session/entrypoint/logs",
            get(entrypoint),
        )
}

/// A local sandbox runs no image entrypoint, so there is no session of it to show.
async fn entrypoint() -> DaemonError {
    DaemonError::not_found(
        "session entrypoint not found: local sandboxes run no image entrypoint (a snapshot's `ENTRYPOINT` and `CMD` are noted, not run)",
    )
}
