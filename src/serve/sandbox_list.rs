//! `GET /api/sandbox` (cursor pages) and the deprecated `GET /api/sandbox/paginated`
//! (numbered pages): label subset match, id and name prefixes, state filters, `sort` and
//! `order` as Daytona takes them (`lastActivityAt desc` by default on the cursor route,
//! `createdAt desc` on the deprecated one).
//!
//! Pages are keyset pages over (sort value, id), ids breaking ties in the same direction, as in
//! Daytona's search adapter, so a sandbox created or deleted between two pages neither repeats
//! nor hides another one. The cursor is opaque: URL-safe base64 of `{"sortValue","id"}`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

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

pub(crate) fn parse_limit(params: &[(String, String)]) -> Result<usize, ApiError> {
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

/// A value sandboxes are ordered by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum SortValue {
    Number(u64),
    Text(String),
}

/// How a list is ordered: a field and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sort {
    pub(crate) field: &'static str,
    pub(crate) descending: bool,
}

/// The fields of the cursor route (`SandboxListSortField`), then the deprecated route's.
const SORT_FIELDS: [&str; 6] = [
    "name",
    "cpu",
    "memoryGib",
    "diskGib",
    "lastActivityAt",
    "createdAt",
];
const DEPRECATED_SORT_FIELDS: [&str; 8] = [
    "id",
    "name",
    "state",
    "snapshot",
    "region",
    "updatedAt",
    "createdAt",
    "lastActivityAt",
];

pub(crate) fn parse_sort(
    params: &[(String, String)],
    fields: &[&'static str],
    default: &'static str,
) -> Result<Sort, ApiError> {
    let value = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let field = match value("sort") {
        None => default,
        Some(name) => fields
            .iter()
            .copied()
            .find(|field| *field == name)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "sort must be one of the following values: {}",
                    fields.join(", ")
                ))
            })?,
    };
    let descending = match value("order") {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => {
            return Err(ApiError::bad_request(
                "order must be one of the following values: asc, desc",
            ));
        }
    };
    Ok(Sort { field, descending })
}

/// The value `sort` orders `sandbox` by, as a client sees it at `now`.
fn sort_value(
    sort: Sort,
    sandbox: &provider::Sandbox,
    record: &SandboxRecord,
    now: Millis,
) -> SortValue {
    let created = to_millis(sandbox.created_at);
    match sort.field {
        "name" => SortValue::Text(sandbox.name.clone()),
        "id" => SortValue::Text(sandbox.id.clone()),
        "cpu" => SortValue::Number(u64::from(record.cpu)),
        "memoryGib" => SortValue::Number(u64::from(record.memory)),
        "diskGib" => SortValue::Number(u64::from(record.disk)),
        "lastActivityAt" => SortValue::Number(record.last_activity_at.max(created)),
        "updatedAt" => SortValue::Number(record.updated_at.max(created)),
        "state" => SortValue::Text(
            serde_json::to_value(derived_state(sandbox, record, now).0)
                .ok()
                .and_then(|value| value.as_str().map(str::to_string))
                .unwrap_or_default(),
        ),
        "snapshot" => SortValue::Text(record.snapshot.clone().unwrap_or_default()),
        "region" => SortValue::Text(record.target.clone()),
        _ => SortValue::Number(created),
    }
}

/// Orders `found` by `sort` over `key` (the sort value, then the id breaking ties in the same
/// direction).
fn order<T>(found: &mut [T], sort: Sort, key: impl Fn(&T) -> (SortValue, String)) {
    found.sort_by(|a, b| {
        let ascending = key(a).cmp(&key(b));
        if sort.descending {
            ascending.reverse()
        } else {
            ascending
        }
    });
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cursor {
    sort_value: SortValue,
    id: String,
}

fn cursor_of((sort_value, id): (SortValue, String)) -> String {
    let cursor = Cursor { sort_value, id };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&cursor).unwrap_or_default())
}

fn parse_cursor(cursor: &str) -> Result<Cursor, ApiError> {
    let invalid = || ApiError::bad_request(format!("Invalid cursor provided: {cursor}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

/// The keyset page of `found` that `params` ask for (`cursor`, `limit`), ordered by `sort` over
/// `key` (the sort value and the id), and the cursor of the next page when there is one.
pub(crate) fn keyset_page<T>(
    mut found: Vec<T>,
    params: &[(String, String)],
    sort: Sort,
    key: impl Fn(&T) -> (SortValue, String),
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = parse_limit(params)?;
    let cursor = match params.iter().find(|(name, _)| name == "cursor") {
        Some((_, text)) if !text.is_empty() => Some(parse_cursor(text)?),
        _ => None,
    };
    order(&mut found, sort, &key);
    let mut after: Vec<T> = found
        .into_iter()
        .filter(|item| match &cursor {
            // Keyset paging: strictly after the last item of the previous page.
            Some(cursor) => {
                let here = key(item).cmp(&(cursor.sort_value.clone(), cursor.id.clone()));
                here == if sort.descending {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            None => true,
        })
        .collect();
    let next_cursor = (after.len() > limit).then(|| cursor_of(key(&after[limit - 1])));
    after.truncate(limit);
    Ok((after, next_cursor))
}

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<ListSandboxesResponse>, ApiError> {
    let filter = parse_filter(&params)?;
    let sort = parse_sort(&params, &SORT_FIELDS, "lastActivityAt")?;
    let now = now();
    let found = matching(&state, &filter, now).await?;
    let (page, next_cursor) = keyset_page(found, &params, sort, |(sandbox, record)| {
        (sort_value(sort, sandbox, record, now), sandbox.id.clone())
    })?;
    let items = page
        .iter()
        .map(|(sandbox, record)| list_item(&state, sandbox, record, now))
        .collect();
    Ok(Json(ListSandboxesResponse { items, next_cursor }))
}

/// A numbered page of the deprecated paginated lists (`?page=&limit=`), checked as Daytona
/// checks it.
pub(crate) struct NumberedPage {
    number: usize,
    limit: usize,
}

/// One numbered page of a list: its items, and the `total`, `page` and `totalPages` Daytona
/// answers beside them.
pub(crate) struct Paged<T> {
    pub(crate) items: Vec<T>,
    pub(crate) total: u64,
    pub(crate) page: u64,
    pub(crate) total_pages: u64,
}

impl NumberedPage {
    pub(crate) fn parse(params: &[(String, String)]) -> Result<NumberedPage, ApiError> {
        let limit = parse_limit(params)?;
        let number = match params.iter().find(|(key, _)| key == "page") {
            Some((_, text)) => text
                .parse::<usize>()
                .ok()
                .filter(|&page| page >= 1)
                .ok_or_else(|| ApiError::bad_request("page must not be less than 1"))?,
            None => 1,
        };
        Ok(NumberedPage { number, limit })
    }

    /// This page of `all`.
    pub(crate) fn of<T>(&self, all: Vec<T>) -> Paged<T> {
        let total = all.len();
        Paged {
            items: all
                .into_iter()
                .skip((self.number - 1) * self.limit)
                .take(self.limit)
                .collect(),
            total: total as u64,
            page: self.number as u64,
            total_pages: total.div_ceil(self.limit) as u64,
        }
    }
}

/// The deprecated `GET /sandbox/paginated`: numbered pages of full records.
pub(crate) async fn list_paginated(
    State(state): State<Arc<AppState>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<PaginatedSandboxes>, ApiError> {
    let filter = parse_filter(&params)?;
    let page = NumberedPage::parse(&params)?;
    let sort = parse_sort(&params, &DEPRECATED_SORT_FIELDS, "createdAt")?;
    let now = now();
    let mut found = matching(&state, &filter, now).await?;
    order(&mut found, sort, |(sandbox, record)| {
        (sort_value(sort, sandbox, record, now), sandbox.id.clone())
    });
    let paged = page.of(found);
    Ok(Json(PaginatedSandboxes {
        items: paged
            .items
            .iter()
            .map(|(sandbox, record)| sandbox_dto(&state, sandbox, record, now))
            .collect(),
        total: paged.total,
        page: paged.page,
        total_pages: paged.total_pages,
    }))
}
