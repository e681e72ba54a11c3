//! `GET /api/sandbox` (cursor pages) and the deprecated `GET /api/sandbox/paginated`
//! (numbered pages): label subset match, id and name prefixes, state filters.
//!
//! Pages are keyset pages over (creation time, id), newest first, so a sandbox created or
//! deleted between two pages neither repeats nor hides another one.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};

use super::error::ApiError;
use super::state::{AppState, Millis, SandboxRecord, now, to_millis};
use super::view::{derived_state, list_item, sandbox_dto};
use crate::daytona_api::{ListSandboxesResponse, PaginatedSandboxes};
use crate::provider::{self, Labels};

/// The filters both list routes share.
struct Filter {
    labels: Labels,
    id_prefix: Option<String>,
    name_prefix: Option<String>,
    states: Vec<String>,
}

fn parse_filter(params: &[(String, String)]) -> Result<Filter, ApiError> {
    let value = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let labels = match value("labels").filter(|text| !text.is_empty()) {
        Some(text) => serde_json::from_str::<BTreeMap<String, String>>(&text)
            .map_err(|_| ApiError::bad_request("Invalid labels JSON format"))?,
        None => Labels::new(),
    };
    let states: Vec<String> = params
        .iter()
        .filter(|(key, _)| key == "states" || key == "states[]")
        .flat_map(|(_, value)| value.split(',').map(str::to_string).collect::<Vec<_>>())
        .collect();
    if states.iter().any(|state| state == "destroyed") {
        return Err(ApiError::bad_request("states must not contain destroyed"));
    }
    Ok(Filter {
        labels,
        id_prefix: value("id").map(|id| id.to_lowercase()),
        name_prefix: value("name").map(|name| name.to_lowercase()),
        states,
    })
}

fn parse_limit(params: &[(String, String)]) -> Result<usize, ApiError> {
    match params.iter().find(|(key, _)| key == "limit") {
        None => Ok(100),
        Some((_, text)) => match text.parse::<usize>() {
            Ok(limit @ 1..=200) => Ok(limit),
            Ok(0) => Err(ApiError::bad_request("limit must not be less than 1")),
            Ok(_) => Err(ApiError::bad_request("limit must not be greater than 200")),
            Err(_) => Err(ApiError::bad_request("limit must be an integer number")),
        },
    }
}

/// Matching sandboxes with their records, newest first (ties by id), as shown at `now`.
async fn matching(
    state: &AppState,
    filter: &Filter,
    now: Millis,
) -> Result<Vec<(provider::Sandbox, SandboxRecord)>, ApiError> {
    let mut sandboxes = state
        .provider
        .list(&filter.labels)
        .await
        .map_err(|error| ApiError::from_provider(error, "*"))?;
    sandboxes.retain(|sandbox| {
        let lower = |text: &str| text.to_lowercase();
        filter
            .id_prefix
            .as_ref()
            .is_none_or(|prefix| lower(&sandbox.id).starts_with(prefix))
            && filter
                .name_prefix
                .as_ref()
                .is_none_or(|prefix| lower(&sandbox.name).starts_with(prefix))
    });
    let mut found: Vec<_> = sandboxes
        .into_iter()
        .map(|sandbox| {
            let record = state.store.sandbox(&sandbox.id);
            (sandbox, record)
        })
        .filter(|(sandbox, record)| {
            filter.states.is_empty() || {
                let (shown, _) = derived_state(sandbox, record, now);
                let name = serde_json::to_value(&shown).unwrap_or_default();
                filter.states.iter().any(|state| name == state.as_str())
            }
        })
        .collect();
    found.sort_by(|(a, _), (b, _)| {
        (to_millis(b.created_at), &b.id).cmp(&(to_millis(a.created_at), &a.id))
    });
    Ok(found)
}

fn cursor_of(sandbox: &provider::Sandbox) -> String {
    hex::encode(format!("{}:{}", to_millis(sandbox.created_at), sandbox.id))
}

fn parse_cursor(cursor: &str) -> Result<(Millis, String), ApiError> {
    let invalid = || ApiError::bad_request("Invalid cursor");
    let text =
        String::from_utf8(hex::decode(cursor).map_err(|_| invalid())?).map_err(|_| invalid())?;
    let (created, id) = text.split_once(':').ok_or_else(invalid)?;
    Ok((created.parse().map_err(|_| invalid())?, id.to_string()))
}

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<ListSandboxesResponse>, ApiError> {
    let filter = parse_filter(&params)?;
    let limit = parse_limit(&params)?;
    let cursor = match params.iter().find(|(key, _)| key == "cursor") {
        Some((_, text)) if !text.is_empty() => Some(parse_cursor(text)?),
        _ => None,
    };
    let now = now();
    let found = matching(&state, &filter, now).await?;
    let after: Vec<_> = found
        .into_iter()
        .filter(|(sandbox, _)| match &cursor {
            // Keyset paging: strictly after the last item of the previous page.
            Some((created, id)) => (to_millis(sandbox.created_at), &sandbox.id) < (*created, id),
            None => true,
        })
        .collect();
    let next_cursor = (after.len() > limit).then(|| cursor_of(&after[limit - 1].0));
    let items = after
        .iter()
        .take(limit)
        .map(|(sandbox, record)| list_item(&state, sandbox, record, now))
        .collect();
    Ok(Json(ListSandboxesResponse { items, next_cursor }))
}

/// The deprecated `GET /sandbox/paginated`: numbered pages of full records.
pub(crate) async fn list_paginated(
    State(state): State<Arc<AppState>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<PaginatedSandboxes>, ApiError> {
    let filter = parse_filter(&params)?;
    let limit = parse_limit(&params)?;
    let page = match params.iter().find(|(key, _)| key == "page") {
        Some((_, text)) => text
            .parse::<usize>()
            .ok()
            .filter(|&page| page >= 1)
            .ok_or_else(|| ApiError::bad_request("page must not be less than 1"))?,
        None => 1,
    };
    let now = now();
    let found = matching(&state, &filter, now).await?;
    let total = found.len();
    let items = found
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|(sandbox, record)| sandbox_dto(&state, sandbox, record, now))
        .collect();
    Ok(Json(PaginatedSandboxes {
        items,
        total: total as u64,
        page: page as u64,
        total_pages: total.div_ceil(limit) as u64,
    }))
}
