//! Every route of `serve` in one table: the control plane under `/api` behind the API-key
//! middleware, the toolbox under `/toolbox/{id}` behind its own (the key, or a signed file URL's
//! signature), and the routes with narrower credentials (the preview proxy, the build-context
//! storage) or none (`GET /api/health`). Handlers live in the modules named here; nothing else
//! is decided in this file.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post, put};

use super::state::AppState;
use super::{
    build_logs, computer_use, file_signing, lsp, metrics, middleware, object_storage, platform,
    preview, preview_origin, pty, sandbox, sandbox_actions, sandbox_copies, sandbox_lifecycle,
    sandbox_list, secret_vault_routes, snapshot, ssh_access, toolbox, toolbox_file_changes,
    toolbox_files, toolbox_git, toolbox_git_config, toolbox_git_repo, toolbox_search,
    toolbox_session, toolbox_upload, volume,
};

/// Uploads go to the provider in one piece; this bounds what one request may hold in memory.
const MAX_BODY_BYTES: usize = 1 << 30;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/sandbox", post(sandbox::create).get(sandbox_list::list))
        .route("/sandbox/paginated", get(sandbox_list::list_paginated))
        .route("/sandbox/ssh-access/validate", get(ssh_access::validate))
        .route(
            "/sandbox/{sandbox}",
            get(sandbox::get).delete(sandbox::delete),
        )
        .route("/sandbox/{sandbox}/start", post(sandbox_actions::start))
        .route("/sandbox/{sandbox}/stop", post(sandbox_actions::stop))
        .route(
            "/sandbox/{sandbox}/labels",
            put(sandbox_actions::set_labels),
        )
        .route(
            "/sandbox/{sandbox}/autostop/{minutes}",
            sandbox_actions::AutoTimer::Stop.route(),
        )
        .route(
            "/sandbox/{sandbox}/autoarchive/{minutes}",
            sandbox_actions::AutoTimer::Archive.route(),
        )
        .route(
            "/sandbox/{sandbox}/autodelete/{minutes}",
            sandbox_actions::AutoTimer::Delete.route(),
        )
        .route(
            "/sandbox/{sandbox}/public/{public}",
            post(sandbox_actions::set_public),
        )
        .route(
            "/sandbox/{sandbox}/last-activity",
            post(sandbox_actions::last_activity),
        )
        .route(
            "/sandbox/{sandbox}/toolbox-proxy-url",
            get(sandbox_actions::toolbox_proxy_url),
        )
        .route(
            "/sandbox/{sandbox}/ssh-access",
            post(ssh_access::create).delete(ssh_access::revoke),
        )
        .route("/snapshots", post(snapshot::create).get(snapshot::list))
        .route(
            "/snapshots/{snapshot}",
            get(snapshot::get).delete(snapshot::delete),
        )
        .route("/snapshots/{snapshot}/activate", post(snapshot::activate))
        .route(
            "/snapshots/{snapshot}/deactivate",
            post(snapshot::deactivate),
        )
        .route(
            "/toolbox/{sandbox}/toolbox/process/execute",
            post(toolbox::execute_deprecated),
        )
        .merge(sandbox_lifecycle::routes())
        .merge(sandbox_copies::routes())
        .merge(volume::routes())
        .merge(build_logs::routes())
        .merge(preview::api_routes())
        .merge(file_signing::api_routes())
        .merge(platform::routes())
        .merge(secret_vault_routes::routes())
        .merge(metrics::api_routes())
        .merge(object_storage::api_routes())
        .route_layer(from_fn_with_state(state.clone(), middleware::api))
        // After the middleware layer, so that it needs no key: probes and clients checking the
        // address have none.
        .route("/health", get(middleware::health))
        .fallback(middleware::api_not_found);
    let toolbox = Router::new()
        .route("/{sandbox}/process/execute", post(toolbox::execute))
        // PTY: the SDKs create through `create-connect`, newer than the toolbox spec (NOTES in
        // pty.rs).
        .route("/{sandbox}/process/pty", post(pty::create).get(pty::list))
        .route(
            "/{sandbox}/process/pty/create-connect",
            get(pty::create_connect),
        )
        .route(
            "/{sandbox}/process/pty/{session}",
            get(pty::get).delete(pty::delete),
        )
        .route(
            "/{sandbox}/process/pty/{session}/connect",
            get(pty::connect),
        )
        .route("/{sandbox}/process/pty/{session}/resize", post(pty::resize))
        .route("/{sandbox}/env", post(toolbox::update_env))
        .route("/{sandbox}/user-home-dir", get(toolbox::user_home_dir))
        .route("/{sandbox}/work-dir", get(toolbox::work_dir))
        .route(
            "/{sandbox}/files",
            get(toolbox_files::list).delete(toolbox_files::delete),
        )
        .route("/{sandbox}/files/info", get(toolbox_files::info))
        .route(
            "/{sandbox}/files/folder",
            post(toolbox_files::create_folder),
        )
        .route("/{sandbox}/files/upload", post(toolbox_upload::upload))
        // The current SDKs' upload (`upload_url` signs it), newer than the toolbox spec.
        .route(
            "/{sandbox}/files/upload-v2",
            post(toolbox_upload::upload_v2),
        )
        .route(
            "/{sandbox}/files/bulk-upload",
            post(toolbox_upload::bulk_upload),
        )
        .route("/{sandbox}/files/download", get(toolbox_files::download))
        .route(
            "/{sandbox}/files/bulk-download",
            post(toolbox_files::bulk_download),
        )
        .merge(toolbox_git::routes())
        .merge(lsp::routes())
        .merge(toolbox_git_repo::routes())
        .merge(toolbox_git_config::routes())
        .merge(toolbox_search::routes())
        .merge(toolbox_file_changes::routes())
        .merge(metrics::routes())
        .merge(toolbox_session::routes())
        .merge(computer_use::routes())
        .route_layer(from_fn_with_state(state.clone(), middleware::toolbox))
        .fallback(middleware::toolbox_not_found);
    Router::new()
        .nest("/api", api)
        .nest("/toolbox", toolbox)
        // The preview proxy takes no API key: the preview token or signed link is its
        // credential, and it reaches nothing but a sandbox's port.
        .merge(preview::proxy_routes())
        // Build contexts the SDKs upload: the push access's session token is the credential.
        .merge(object_storage::storage_routes())
        .route(
            "/_ralph/stats",
            get(stats)
                .delete(reset_stats)
                .route_layer(from_fn_with_state(state.clone(), middleware::internal)),
        )
        // A preview's own origin (`{port}-{id}.localhost`) is that preview's, whatever the path.
        .layer(from_fn_with_state(state.clone(), preview_origin::dispatch))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(state.events.layer())
        .with_state(state)
}

async fn stats(State(state): State<Arc<AppState>>) -> axum::Json<serde_json::Value> {
    axum::Json(state.stats.to_json())
}

async fn reset_stats(State(state): State<Arc<AppState>>) -> axum::http::StatusCode {
    state.stats.reset();
    axum::http::StatusCode::NO_CONTENT
}
