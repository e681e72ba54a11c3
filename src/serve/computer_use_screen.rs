//! Screenshots of a sandbox's display (`/computeruse/screenshot[/region][/compressed]`): `xwd`
//! (package `x11-apps`) dumps the root window inside the sandbox, this file decodes the dump
//! and answers Daytona's `ScreenshotResponse` (base64 PNG or JPEG, the pointer position, the
//! size in bytes), drawing Daytona's crosshair cursor when asked.
//!
//! Why `xwd` and not an X connection from `serve` (`x11rb`): the display's socket lives in the
//! sandbox's own `/tmp` and must stay reachable only from inside the sandbox; capturing through
//! the provider keeps `serve` a client of the seam like every other toolbox route. The dump
//! format (a big-endian header, a colour map, then `ZPixmap` rows) is small and fixed, and the
//! `image` crate encodes PNG and JPEG. This file must not start the display or send input.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use image::{ImageFormat, Rgb, RgbImage};
use serde_json::{Value, json};

use super::computer_use::{Tool, XDOTOOL, display_ready, run_x};
use super::error::DaemonError;
use super::state::AppState;

pub(super) const XWD: Tool = Tool {
    program: "xwd",
    package: "x11-apps",
};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/computeruse/screenshot", get(full))
        .route("/{sandbox}/computeruse/screenshot/region", get(region))
        .route(
            "/{sandbox}/computeruse/screenshot/compressed",
            get(compressed),
        )
        .route(
            "/{sandbox}/computeruse/screenshot/region/compressed",
            get(region_compressed),
        )
}

/// Prints the pointer (`x y`), then the root window's dump in base64 on the next line.
const CAPTURE: &str = "eval \"$(xdotool getmouselocation --shell)\"; echo \"$X $Y\"\n\
    f=$(mktemp) || exit 1\nxwd -root -silent -out \"$f\" && base64 -w0 \"$f\"; s=$?; rm -f \"$f\"; exit $s";

/// Decodes an `xwd` dump of a true-colour `ZPixmap` (what every X server's root window is).
fn decode_xwd(bytes: &[u8]) -> Result<RgbImage, String> {
    let field = |index: usize| -> Option<u32> {
        let start = index * 4;
        Some(u32::from_be_bytes(
            bytes.get(start..start + 4)?.try_into().ok()?,
        ))
    };
    let header: Vec<u32> = (0..25).map_while(field).collect();
    let [
        header_size,
        _,
        format,
        _,
        width,
        height,
        _,
        byte_order,
        _,
        _,
        _,
        bits_per_pixel,
        bytes_per_line,
        visual,
        red,
        green,
        blue,
        _,
        _,
        colours,
        ..,
    ] = header.as_slice()
    else {
        return Err("the dump is shorter than its header".to_string());
    };
    // ZPixmap of TrueColor or DirectColor.
    if *format != 2 || !(4..=5).contains(visual) || !matches!(bits_per_pixel, 24 | 32) {
        return Err(format!(
            "unsupported dump: format {format}, visual class {visual}, {bits_per_pixel} bits per pixel"
        ));
    }
    let to_usize = |value: u32| usize::try_from(value).unwrap_or(usize::MAX);
    let start = to_usize(*header_size).saturating_add(to_usize(*colours).saturating_mul(12));
    let pixel_bytes = to_usize(*bits_per_pixel / 8);
    let row = to_usize(*bytes_per_line);
    let needed = start.saturating_add(row.saturating_mul(to_usize(*height)));
    if bytes.len() < needed || row < pixel_bytes.saturating_mul(to_usize(*width)) {
        return Err("the dump is shorter than its pixels".to_string());
    }
    let channel = |pixel: u32, mask: u32| -> u8 {
        if mask == 0 {
            return 0;
        }
        let value = (pixel & mask) >> mask.trailing_zeros();
        let top = mask >> mask.trailing_zeros();
        u8::try_from(u64::from(value) * 255 / u64::from(top)).unwrap_or(u8::MAX)
    };
    let mut image = RgbImage::new(*width, *height);
    for (y, line) in bytes[start..needed].chunks_exact(row).enumerate() {
        for (x, chunk) in line
            .chunks_exact(pixel_bytes)
            .take(to_usize(*width))
            .enumerate()
        {
            let mut word = [0u8; 4];
            let pixel = if *byte_order == 0 {
                word[..pixel_bytes].copy_from_slice(chunk);
                u32::from_le_bytes(word)
            } else {
                word[4 - pixel_bytes..].copy_from_slice(chunk);
                u32::from_be_bytes(word)
            };
            let rgb = Rgb([
                channel(pixel, *red),
                channel(pixel, *green),
                channel(pixel, *blue),
            ]);
            image.put_pixel(
                u32::try_from(x).unwrap_or_default(),
                u32::try_from(y).unwrap_or_default(),
                rgb,
            );
        }
    }
    Ok(image)
}

/// Daytona's cursor: a white-edged black crosshair of 20 pixels a side and a red centre.
fn draw_cursor(image: &mut RgbImage, x: i64, y: i64) {
    let mut set = |px: i64, py: i64, colour: [u8; 3]| {
        if let (Ok(px), Ok(py)) = (u32::try_from(px), u32::try_from(py))
            && px < image.width()
            && py < image.height()
        {
            image.put_pixel(px, py, Rgb(colour));
        }
    };
    for offset in -1..=1 {
        for step in -20..=20 {
            set(x + step, y + offset, [255, 255, 255]);
            set(x + offset, y + step, [255, 255, 255]);
        }
    }
    for step in -20..=20 {
        set(x + step, y, [0, 0, 0]);
        set(x, y + step, [0, 0, 0]);
    }
    for dx in -2..=2 {
        for dy in -2..=2 {
            set(x + dx, y + dy, [255, 0, 0]);
        }
    }
}

/// What a request asks of the picture.
struct Shot {
    region: Option<(i64, i64, u32, u32)>,
    show_cursor: bool,
    jpeg_quality: Option<u8>,
    scale: f64,
}

fn internal(message: String) -> DaemonError {
    DaemonError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
}

fn query_error(name: &str, rule: &str) -> DaemonError {
    DaemonError::bad_request(format!("invalid query parameter {name}: {rule}"))
}

fn parse_bool(query: &HashMap<String, String>, name: &str) -> Result<Option<bool>, DaemonError> {
    query
        .get(name)
        .map(|value| match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" => Ok(true),
            "false" | "0" | "f" => Ok(false),
            _ => Err(query_error(name, "must be a boolean")),
        })
        .transpose()
}

impl Shot {
    /// Reads Daytona's query: `x`, `y`, `width`, `height` for a region; `format` (`png`,
    /// `jpeg`, anything else a full-size PNG), `quality` (1 to 100, default 85) and `scale`
    /// (0.1 to 1) when compressed; `showCursor` always.
    fn parse(
        query: &HashMap<String, String>,
        region: bool,
        compressed: bool,
    ) -> Result<Shot, DaemonError> {
        let show_cursor = match parse_bool(query, "show_cursor")? {
            Some(value) => value,
            None => parse_bool(query, "showCursor")?.unwrap_or(false),
        };
        let int = |name: &str| -> Result<i64, DaemonError> {
            let value = query.get(name).ok_or_else(|| {
                DaemonError::bad_request(format!("missing required query parameter: {name}"))
            })?;
            value
                .parse()
                .map_err(|_| query_error(name, "must be an integer"))
        };
        let positive = |name: &str| -> Result<u32, DaemonError> {
            u32::try_from(int(name)?)
                .ok()
                .filter(|value| *value > 0)
                .ok_or_else(|| query_error(name, "must be greater than zero"))
        };
        let region = if region {
            Some((
                int("x")?,
                int("y")?,
                positive("width")?,
                positive("height")?,
            ))
        } else {
            None
        };
        let mut shot = Shot {
            region,
            show_cursor,
            jpeg_quality: None,
            scale: 1.0,
        };
        if !compressed {
            return Ok(shot);
        }
        if let Some(scale) = query.get("scale") {
            shot.scale = scale
                .parse::<f64>()
                .ok()
                .filter(|scale| (0.1..=1.0).contains(scale))
                .ok_or_else(|| query_error("scale", "must be between 0.1 and 1.0"))?;
        }
        let quality = match query.get("quality") {
            Some(quality) => quality
                .parse::<u8>()
                .ok()
                .filter(|quality| (1..=100).contains(quality))
                .ok_or_else(|| query_error("quality", "must be between 1 and 100"))?,
            None => 85,
        };
        match query.get("format").map_or("png", String::as_str) {
            "png" => {}
            "jpeg" | "jpg" => shot.jpeg_quality = Some(quality),
            // The daemon's encoder answers any other format (`webp`, which the SDKs' own
            // examples ask for) with a PNG of the full size.
            _ => shot.scale = 1.0,
        }
        Ok(shot)
    }

    /// Crops, marks the cursor, scales and encodes `image`: the bytes.
    fn render(&self, mut image: RgbImage, cursor: (i64, i64)) -> Result<Vec<u8>, DaemonError> {
        let (mut cursor_x, mut cursor_y) = cursor;
        if let Some((x, y, width, height)) = self.region {
            let fits = |start: i64, length: u32, total: u32| {
                start >= 0 && start + i64::from(length) <= i64::from(total)
            };
            if !fits(x, width, image.width()) || !fits(y, height, image.height()) {
                return Err(DaemonError::bad_request(format!(
                    "failed to capture screenshot region x={x} y={y} width={width} height={height}: outside the {}x{} display",
                    image.width(),
                    image.height()
                )));
            }
            let (left, top) = (
                u32::try_from(x).unwrap_or_default(),
                u32::try_from(y).unwrap_or_default(),
            );
            image = image::imageops::crop_imm(&image, left, top, width, height).to_image();
            cursor_x -= x;
            cursor_y -= y;
        }
        if self.show_cursor {
            draw_cursor(&mut image, cursor_x, cursor_y);
        }
        if self.scale < 1.0 {
            let scaled = |length: u32| {
                let value = (f64::from(length) * self.scale).floor();
                // Within u32 by construction: a scale at most 1 of a u32 length.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let value = value as u32;
                value.max(1)
            };
            image = image::imageops::resize(
                &image,
                scaled(image.width()),
                scaled(image.height()),
                image::imageops::FilterType::Nearest,
            );
        }
        let mut bytes = Cursor::new(Vec::new());
        let written = match self.jpeg_quality {
            Some(quality) => {
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
                    .encode_image(&image)
            }
            None => image.write_to(&mut bytes, ImageFormat::Png),
        };
        written.map_err(|error| internal(format!("failed to encode the screenshot: {error}")))?;
        Ok(bytes.into_inner())
    }
}

async fn take(state: &AppState, id: &str, shot: Shot) -> Result<Json<Value>, DaemonError> {
    let sandbox = display_ready(state, id).await?;
    let output = run_x(state, &sandbox, &[XDOTOOL, XWD], CAPTURE, BTreeMap::new()).await?;
    let mut lines = output.lines();
    let mut pointer = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(|number| number.parse::<i64>().unwrap_or_default());
    let cursor = (
        pointer.next().unwrap_or_default(),
        pointer.next().unwrap_or_default(),
    );
    let dump = base64::engine::general_purpose::STANDARD
        .decode(lines.next().unwrap_or_default().trim())
        .map_err(|error| internal(format!("xwd's dump: {error}")))?;
    let image = decode_xwd(&dump).map_err(|error| internal(format!("xwd's dump: {error}")))?;
    let bytes = shot.render(image, cursor)?;
    Ok(Json(json!({
        "screenshot": base64::engine::general_purpose::STANDARD.encode(&bytes),
        "cursorPosition": { "x": cursor.0, "y": cursor.1 },
        "sizeBytes": bytes.len(),
    })))
}

async fn full(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, DaemonError> {
    take(&state, &id, Shot::parse(&query, false, false)?).await
}

async fn region(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, DaemonError> {
    take(&state, &id, Shot::parse(&query, true, false)?).await
}

async fn compressed(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, DaemonError> {
    take(&state, &id, Shot::parse(&query, false, true)?).await
}

async fn region_compressed(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, DaemonError> {
    take(&state, &id, Shot::parse(&query, true, true)?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `xwd` dump of a 2x2 true-colour image, 32 bits per pixel in `order` (0: LSB first).
    fn dump(order: u32) -> Vec<u8> {
        let name = b"root\0";
        let header_size = 100 + u32::try_from(name.len()).unwrap();
        let mut header = [0u32; 25];
        header[0] = header_size;
        header[1] = 7;
        header[2] = 2;
        header[3] = 24;
        header[4] = 2;
        header[5] = 2;
        header[7] = order;
        header[11] = 32;
        header[12] = 8;
        header[13] = 4;
        header[14] = 0x00ff_0000;
        header[15] = 0x0000_ff00;
        header[16] = 0x0000_00ff;
        let mut bytes: Vec<u8> = header
            .iter()
            .flat_map(|field| field.to_be_bytes())
            .collect();
        bytes.extend_from_slice(name);
        for pixel in [0x00ff_0000u32, 0x0000_ff00, 0x0000_00ff, 0x00ff_ffff] {
            if order == 0 {
                bytes.extend_from_slice(&pixel.to_le_bytes());
            } else {
                bytes.extend_from_slice(&pixel.to_be_bytes());
            }
        }
        bytes
    }

    #[test]
    fn an_xwd_dump_decodes_in_either_byte_order() {
        for order in [0, 1] {
            let image = decode_xwd(&dump(order)).unwrap();
            assert_eq!(image.dimensions(), (2, 2));
            assert_eq!(image.get_pixel(0, 0).0, [255, 0, 0]);
            assert_eq!(image.get_pixel(1, 0).0, [0, 255, 0]);
            assert_eq!(image.get_pixel(0, 1).0, [0, 0, 255]);
            assert_eq!(image.get_pixel(1, 1).0, [255, 255, 255]);
        }
    }

    #[test]
    fn a_cut_short_dump_is_an_error_not_a_panic() {
        let bytes = dump(0);
        for length in [0, 50, 100, bytes.len() - 1] {
            assert!(decode_xwd(&bytes[..length]).is_err(), "{length}");
        }
    }

    #[test]
    fn a_region_outside_the_display_is_refused() {
        let query = HashMap::from(
            [("x", "1"), ("y", "0"), ("width", "2"), ("height", "1")]
                .map(|(name, value)| (name.to_string(), value.to_string())),
        );
        let shot = Shot::parse(&query, true, false).unwrap();
        let image = decode_xwd(&dump(0)).unwrap();
        assert!(shot.render(image, (0, 0)).is_err());
    }
}
