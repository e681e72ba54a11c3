//! The keyboard routes of computer use (`/computeruse/keyboard/...`): `xdotool` types, presses
//! and holds keys on the sandbox's display through [`run_x`]. Typed text and key names travel
//! as environment values, never in a command line. This file must not start or stop the display.
//!
//! Key names follow Daytona's (`enter`, `esc`, `ctrl`, `cmd`, `pageup`, `f5`, single
//! characters) and are mapped to X keysyms; a name X does not know answers 400.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::computer_use::{XDOTOOL, display_ready, run_x};
use super::error::DaemonError;
use super::state::AppState;
use super::view::JsonBody;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/computeruse/keyboard/type", post(type_text))
        .route("/{sandbox}/computeruse/keyboard/key", post(press))
        .route("/{sandbox}/computeruse/keyboard/hotkey", post(hotkey))
        .route("/{sandbox}/computeruse/keyboard/down", post(key_down))
        .route("/{sandbox}/computeruse/keyboard/up", post(key_up))
}

/// An X keysym for one of Daytona's key names.
pub(super) fn keysym(name: &str) -> Result<String, DaemonError> {
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

/// Holds (`keydown`) or releases (`keyup`) one key.
async fn hold(
    state: &AppState,
    id: &str,
    action: &str,
    key: Key,
) -> Result<Json<Value>, DaemonError> {
    let keysym = keysym(&key.key.unwrap_or_default())?;
    let env = BTreeMap::from([("RT_KEYS".to_string(), keysym)]);
    keys(state, id, &format!("xdotool {action} -- \"$RT_KEYS\""), env).await
}

async fn key_down(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Key>,
) -> Result<Json<Value>, DaemonError> {
    hold(&state, &id, "keydown", request).await
}

async fn key_up(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Key>,
) -> Result<Json<Value>, DaemonError> {
    hold(&state, &id, "keyup", request).await
}

#[cfg(test)]
mod tests {
    use super::keysym;

    #[test]
    fn daytona_key_names_become_x_keysyms() {
        for (name, expected) in [
            ("enter", "Return"),
            ("Esc", "Escape"),
            ("cmd", "super"),
            ("pagedown", "Next"),
            ("f12", "F12"),
            ("a", "a"),
            ("-", "-"),
            ("Home", "Home"),
            ("XF86AudioPlay", "XF86AudioPlay"),
        ] {
            assert_eq!(keysym(name).unwrap(), expected, "{name}");
        }
    }

    #[test]
    fn a_key_name_that_could_reach_the_shell_is_refused() {
        for name in ["", "a b", "$(id)", "ctrl;x", "a/b"] {
            assert!(keysym(name).is_err(), "{name:?}");
        }
    }
}
