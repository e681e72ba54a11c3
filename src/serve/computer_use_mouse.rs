//! The mouse and display routes of computer use (`/computeruse/mouse/...`, `/display/...`):
//! each runs `xdotool` on the sandbox's display through [`run_x`], which moves and clicks
//! through XTEST as a real user would, and answers where the pointer ended. This file must not
//! start or stop the display (`computer_use.rs` does); keys are `computer_use_keyboard.rs`'s.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::computer_use::{XDOTOOL, display_ready, run_x};
use super::computer_use_keyboard::keysym;
use super::error::DaemonError;
use super::state::AppState;
use super::view::JsonBody;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/computeruse/mouse/position", get(position))
        .route("/{sandbox}/computeruse/mouse/move", post(mouse_move))
        .route("/{sandbox}/computeruse/mouse/click", post(click))
        .route("/{sandbox}/computeruse/mouse/down", post(mouse_down))
        .route("/{sandbox}/computeruse/mouse/up", post(mouse_up))
        .route("/{sandbox}/computeruse/mouse/drag", post(drag))
        .route("/{sandbox}/computeruse/mouse/scroll", post(scroll))
        .route("/{sandbox}/computeruse/display/info", get(display_info))
        .route("/{sandbox}/computeruse/display/windows", get(windows))
}

/// Prints the pointer as `x y`; every mouse action ends with it.
const PRINT_POINTER: &str = "eval \"$(xdotool getmouselocation --shell)\"; echo \"$X $Y\"";

/// The `x y` line a script printed last.
fn pointer(output: &str) -> Value {
    let mut numbers = output
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .map(|number| number.parse::<i64>().unwrap_or_default());
    json!({ "x": numbers.next().unwrap_or_default(), "y": numbers.next().unwrap_or_default() })
}

/// Runs an `xdotool` script with `env` and answers the pointer it ends at.
async fn pointer_after(
    state: &AppState,
    id: &str,
    script: &str,
    env: BTreeMap<String, String>,
) -> Result<Json<Value>, DaemonError> {
    let sandbox = display_ready(state, id).await?;
    let output = run_x(
        state,
        &sandbox,
        &[XDOTOOL],
        &format!("{script}\n{PRINT_POINTER}"),
        env,
    )
    .await?;
    Ok(Json(pointer(&output)))
}

/// A mouse button's X number.
fn button(name: Option<&str>) -> Result<u8, DaemonError> {
    match name.unwrap_or("left") {
        "" | "left" => Ok(1),
        "middle" => Ok(2),
        "right" => Ok(3),
        other => Err(DaemonError::bad_request(format!(
            "invalid button: {other} (expected left, right or middle)"
        ))),
    }
}

/// Holds `modifiers` down around `action`.
fn with_modifiers(
    modifiers: Option<&[String]>,
    action: &str,
) -> Result<(String, BTreeMap<String, String>), DaemonError> {
    let keys = modifiers
        .unwrap_or_default()
        .iter()
        .map(|name| keysym(name))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Ok((action.to_string(), BTreeMap::new()));
    }
    let env = BTreeMap::from([("RT_MODIFIERS".to_string(), keys.join(" "))]);
    Ok((
        format!(
            "xdotool keydown $RT_MODIFIERS\n{action}\ns=$?\nxdotool keyup $RT_MODIFIERS\n[ $s -eq 0 ] || exit $s"
        ),
        env,
    ))
}

/// The move that starts a mouse action, when it names a point.
fn move_to(x: Option<i64>, y: Option<i64>) -> String {
    match (x, y) {
        (Some(x), Some(y)) => format!("xdotool mousemove -- {x} {y}\n"),
        _ => String::new(),
    }
}

/// `x`, `y` of a mouse request.
#[derive(Debug, Deserialize)]
struct Point {
    x: Option<i64>,
    y: Option<i64>,
    button: Option<String>,
}

async fn position(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, DaemonError> {
    pointer_after(&state, &id, "", BTreeMap::new()).await
}

async fn mouse_move(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(point): JsonBody<Point>,
) -> Result<Json<Value>, DaemonError> {
    let (Some(x), Some(y)) = (point.x, point.y) else {
        return Err(DaemonError::bad_request("Invalid coordinates"));
    };
    pointer_after(&state, &id, &move_to(Some(x), Some(y)), BTreeMap::new()).await
}

/// `MouseClickRequest`.
#[derive(Debug, Deserialize)]
struct Click {
    x: Option<i64>,
    y: Option<i64>,
    button: Option<String>,
    double: Option<bool>,
    clicks: Option<i64>,
    modifiers: Option<Vec<String>>,
}

async fn click(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Click>,
) -> Result<Json<Value>, DaemonError> {
    let button = button(request.button.as_deref())?;
    let clicks = match request.clicks {
        Some(clicks) if !(1..=10).contains(&clicks) => {
            return Err(DaemonError::bad_request(
                "invalid clicks: must be between 1 and 10",
            ));
        }
        Some(clicks) => clicks,
        None if request.double == Some(true) => 2,
        None => 1,
    };
    let action = format!("xdotool click --repeat {clicks} {button}");
    let (action, env) = with_modifiers(request.modifiers.as_deref(), &action)?;
    let script = format!("{}{action}", move_to(request.x, request.y));
    pointer_after(&state, &id, &script, env).await
}

async fn mouse_down(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(point): JsonBody<Point>,
) -> Result<Json<Value>, DaemonError> {
    let button = button(point.button.as_deref())?;
    let script = format!("{}xdotool mousedown {button}", move_to(point.x, point.y));
    pointer_after(&state, &id, &script, BTreeMap::new()).await
}

async fn mouse_up(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(point): JsonBody<Point>,
) -> Result<Json<Value>, DaemonError> {
    let button = button(point.button.as_deref())?;
    let script = format!("{}xdotool mouseup {button}", move_to(point.x, point.y));
    pointer_after(&state, &id, &script, BTreeMap::new()).await
}

/// `MouseDragRequest`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Drag {
    start_x: i64,
    start_y: i64,
    end_x: i64,
    end_y: i64,
    button: Option<String>,
    modifiers: Option<Vec<String>>,
}

async fn drag(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Drag>,
) -> Result<Json<Value>, DaemonError> {
    let button = button(request.button.as_deref())?;
    let action = format!(
        "xdotool mousemove -- {} {} mousedown {button} mousemove -- {} {} mouseup {button}",
        request.start_x, request.start_y, request.end_x, request.end_y
    );
    let (script, env) = with_modifiers(request.modifiers.as_deref(), &action)?;
    pointer_after(&state, &id, &script, env).await
}

/// `MouseScrollRequest`.
#[derive(Debug, Deserialize)]
struct Scroll {
    x: Option<i64>,
    y: Option<i64>,
    direction: Option<String>,
    amount: Option<u32>,
    modifiers: Option<Vec<String>>,
}

async fn scroll(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Scroll>,
) -> Result<Json<Value>, DaemonError> {
    // X scrolls with buttons 4 to 7.
    let button = match request.direction.as_deref().unwrap_or("down") {
        "up" => 4,
        "down" => 5,
        "left" => 6,
        "right" => 7,
        other => {
            return Err(DaemonError::bad_request(format!(
                "invalid scroll direction: {other} (expected up, down, left or right)"
            )));
        }
    };
    let amount = request.amount.unwrap_or(1);
    let action = if amount == 0 {
        "true".to_string()
    } else {
        format!("xdotool click --repeat {amount} {button}")
    };
    let (action, env) = with_modifiers(request.modifiers.as_deref(), &action)?;
    let script = format!("{}{action}", move_to(request.x, request.y));
    let _ = pointer_after(&state, &id, &script, env).await?;
    Ok(Json(json!({ "success": true })))
}

/// The display's size, `width height`.
pub(super) fn display_size(output: &str) -> (u32, u32) {
    let mut numbers = output
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .map(|number| number.parse::<u32>().unwrap_or_default());
    (
        numbers.next().unwrap_or_default(),
        numbers.next().unwrap_or_default(),
    )
}

async fn display_info(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, DaemonError> {
    let sandbox = display_ready(&state, &id).await?;
    let output = run_x(
        &state,
        &sandbox,
        &[XDOTOOL],
        "xdotool getdisplaygeometry",
        BTreeMap::new(),
    )
    .await?;
    let (width, height) = display_size(&output);
    Ok(Json(json!({ "displays": [
        { "id": 0, "x": 0, "y": 0, "width": width, "height": height, "isActive": true }
    ] })))
}

/// Lists visible named windows as `id x y width height base64(title)`, then `focus <id>`.
const LIST_WINDOWS: &str = "for w in $(xdotool search --onlyvisible --name . 2>/dev/null); do\n\
     eval \"$(xdotool getwindowgeometry --shell \"$w\")\" || continue\n\
     printf '%s %s %s %s %s %s\\n' \"$w\" \"$X\" \"$Y\" \"$WIDTH\" \"$HEIGHT\" \"$(xdotool getwindowname \"$w\" | base64 -w0)\"\n\
     done\necho \"focus $(xdotool getwindowfocus 2>/dev/null)\"";

async fn windows(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, DaemonError> {
    let sandbox = display_ready(&state, &id).await?;
    let output = run_x(&state, &sandbox, &[XDOTOOL], LIST_WINDOWS, BTreeMap::new()).await?;
    let focus = output
        .lines()
        .find_map(|line| line.strip_prefix("focus "))
        .and_then(|id| id.trim().parse::<i64>().ok());
    let windows: Vec<Value> = output
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let [window, x, y, width, height, title] = fields.as_slice() else {
                return None;
            };
            let number = |text: &str| text.parse::<i64>().ok();
            let window = number(window)?;
            let title = base64::engine::general_purpose::STANDARD
                .decode(title)
                .map(|bytes| String::from_utf8_lossy(&bytes).trim_end().to_string())
                .unwrap_or_default();
            Some(json!({
                "id": window, "title": title,
                "x": number(x)?, "y": number(y)?, "width": number(width)?, "height": number(height)?,
                "isActive": focus == Some(window),
            }))
        })
        .collect();
    Ok(Json(json!({ "windows": windows })))
}
