//! The mouse, keyboard and display routes of computer use (`/computeruse/mouse/...`,
//! `/keyboard/...`, `/display/...`): each runs `xdotool` on the sandbox's display through
//! [`run_x`], which sends input through XTEST as a real user would. Typed text and key names
//! travel as environment values, never in a command line. This file must not start or stop the
//! display (`computer_use.rs` does).
//!
//! Key names follow Daytona's (`enter`, `esc`, `ctrl`, `cmd`, `pageup`, `f5`, single
//! characters) and are mapped to X keysyms; a name X does not know answers 400.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::computer_use::{XDOTOOL, display_ready, run_x};
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
        .route("/{sandbox}/computeruse/keyboard/type", post(type_text))
        .route("/{sandbox}/computeruse/keyboard/key", post(press))
        .route("/{sandbox}/computeruse/keyboard/hotkey", post(hotkey))
        .route("/{sandbox}/computeruse/keyboard/down", post(key_down))
        .route("/{sandbox}/computeruse/keyboard/up", post(key_up))
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

/// An X keysym for one of Daytona's key names.
fn keysym(name: &str) -> Result<String, DaemonError> {
    let lower = name.to_ascii_lowercase();
    let mapped = match lower.as_str() {
        "enter" | "return" => "Return",
        "esc" | "escape" => "Escape",
        "backspace" => "BackSpace",
        "tab" => "Tab",
        "space" => "space",
        "delete" | "del" => "Delete",
        "insert" => "Insert",
        "home" => "Home",
        "end" => "End",
        "pageup" | "page_up" => "Prior",
        "pagedown" | "page_down" => "Next",
        "up" => "Up",
        "down" => "Down",
        "left" => "Left",
        "right" => "Right",
        "ctrl" | "control" => "ctrl",
        "alt" | "option" => "alt",
        "shift" => "shift",
        "cmd" | "command" | "super" | "meta" | "win" => "super",
        "capslock" | "caps_lock" => "Caps_Lock",
        _ => {
            let function_key = lower
                .strip_prefix('f')
                .and_then(|number| number.parse::<u8>().ok())
                .filter(|number| (1..=24).contains(number));
            if let Some(number) = function_key {
                return Ok(format!("F{number}"));
            }
            let valid = name.chars().count() == 1
                || name
                    .chars()
                    .all(|character| character.is_ascii_alphanumeric() || character == '_');
            if name.is_empty() || !valid {
                return Err(DaemonError::bad_request(format!("invalid key: {name:?}")));
            }
            return Ok(name.to_string());
        }
    };
    Ok(mapped.to_string())
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

/// Runs a keyboard script and answers Daytona's empty object.
async fn keys(
    state: &AppState,
    id: &str,
    script: &str,
    env: BTreeMap<String, String>,
) -> Result<Json<Value>, DaemonError> {
    let sandbox = display_ready(state, id).await?;
    let output = run_x(state, &sandbox, &[XDOTOOL], script, env).await?;
    // xdotool says so and carries on when a key name is not a keysym.
    if let Some(line) = output
        .lines()
        .find(|line| line.contains("No such key name"))
    {
        return Err(DaemonError::bad_request(format!("invalid key: {line}")));
    }
    Ok(Json(json!({})))
}

/// `KeyboardTypeRequest`.
#[derive(Debug, Deserialize)]
struct Type {
    text: Option<String>,
    delay: Option<u32>,
}

async fn type_text(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Type>,
) -> Result<Json<Value>, DaemonError> {
    let text = request.text.unwrap_or_default();
    if text.is_empty() {
        return Err(DaemonError::bad_request("text is required"));
    }
    // xdotool's own default between keystrokes.
    let delay = request.delay.filter(|delay| *delay > 0).unwrap_or(12);
    let env = BTreeMap::from([("RT_TEXT".to_string(), text)]);
    let script = format!("printf '%s' \"$RT_TEXT\" | xdotool type --delay {delay} --file -");
    keys(&state, &id, &script, env).await
}

/// `KeyboardPressRequest`.
#[derive(Debug, Deserialize)]
struct Press {
    key: Option<String>,
    modifiers: Option<Vec<String>>,
}

/// Presses a `+`-joined chord of keysyms.
async fn chord(state: &AppState, id: &str, keys_: Vec<String>) -> Result<Json<Value>, DaemonError> {
    let env = BTreeMap::from([("RT_KEYS".to_string(), keys_.join("+"))]);
    keys(state, id, "xdotool key -- \"$RT_KEYS\"", env).await
}

async fn press(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Press>,
) -> Result<Json<Value>, DaemonError> {
    let key = request.key.unwrap_or_default();
    let mut chord_keys = request
        .modifiers
        .unwrap_or_default()
        .iter()
        .map(|name| keysym(name))
        .collect::<Result<Vec<_>, _>>()?;
    chord_keys.push(keysym(&key)?);
    chord(&state, &id, chord_keys).await
}

/// `KeyboardHotkeyRequest`.
#[derive(Debug, Deserialize)]
struct Hotkey {
    keys: Option<String>,
}

async fn hotkey(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Hotkey>,
) -> Result<Json<Value>, DaemonError> {
    let keys_ = request.keys.unwrap_or_default();
    let chord_keys = keys_
        .split('+')
        .map(|name| keysym(name.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    chord(&state, &id, chord_keys).await
}

/// `KeyboardKeyDownRequest` and `KeyboardKeyUpRequest`.
#[derive(Debug, Deserialize)]
struct Key {
    key: Option<String>,
}

async fn key_down(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Key>,
) -> Result<Json<Value>, DaemonError> {
    let env = BTreeMap::from([(
        "RT_KEYS".to_string(),
        keysym(&request.key.unwrap_or_default())?,
    )]);
    keys(&state, &id, "xdotool keydown -- \"$RT_KEYS\"", env).await
}

async fn key_up(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Key>,
) -> Result<Json<Value>, DaemonError> {
    let env = BTreeMap::from([(
        "RT_KEYS".to_string(),
        keysym(&request.key.unwrap_or_default())?,
    )]);
    keys(&state, &id, "xdotool keyup -- \"$RT_KEYS\"", env).await
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
