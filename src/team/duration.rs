//! Durations of the team file (`"30m"`, `"1h30m"`, `"4h"`, `"1d"`, whole minutes) in minutes.
//!
//! Providers count lifecycle timers in whole minutes, so seconds are refused rather than
//! rounded. One rule for every lifecycle key: `"0"` (or `0`, or `"never"`) means the timer never
//! fires, and `"immediately"` is spelt out where the provider can do it (`auto_delete` only).
//! Daytona's own values differ per key, so [`Timer`] maps the rule onto them, here and only here:
//! `auto_stop` never = 0, `auto_archive` never = 0 (Daytona's maximum: it cannot be switched
//! off), `auto_delete` never = -1 and immediately = 0, `ttl` never = no limit.

/// Which lifecycle key a duration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// `auto_stop`: never = Daytona's 0.
    AutoStop,
    /// `auto_archive`: never = Daytona's 0, which is its maximum (30 days).
    AutoArchive,
    /// `auto_delete`: never = Daytona's -1; immediately (as soon as stopped) = Daytona's 0.
    AutoDelete,
    /// `ttl`: never = no limit (stored as 0, read as `None`).
    Ttl,
}

/// The spelling of "as soon as possible" (`auto_delete` only).
const IMMEDIATELY: &str = "immediately";

impl Timer {
    pub(crate) fn key(self) -> &'static str {
        match self {
            Timer::AutoStop => "auto_stop",
            Timer::AutoArchive => "auto_archive",
            Timer::AutoDelete => "auto_delete",
            Timer::Ttl => "ttl",
        }
    }

    /// The stored value for never (`"0"`, `0`, `"never"`).
    fn never(self) -> i64 {
        match self {
            Timer::AutoStop | Timer::AutoArchive | Timer::Ttl => 0,
            Timer::AutoDelete => -1,
        }
    }

    /// The stored value for `"immediately"`, or `None` when the provider cannot do it.
    fn immediately(self) -> Option<i64> {
        match self {
            Timer::AutoDelete => Some(0),
            Timer::AutoStop | Timer::AutoArchive | Timer::Ttl => None,
        }
    }
}

/// Parses a duration for `timer` into the provider's minutes (see the module comment).
pub(crate) fn parse(text: &str, timer: Timer) -> Result<i64, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("never") {
        return Ok(timer.never());
    }
    if text.eq_ignore_ascii_case(IMMEDIATELY) {
        return timer.immediately().ok_or_else(|| {
            format!(
                "`{}` cannot be immediate; the shortest is \"1m\"",
                timer.key()
            )
        });
    }
    let minutes = minutes(text)?;
    if minutes > i64::from(i32::MAX) {
        return Err(format!("`{text}` is too long"));
    }
    Ok(if minutes == 0 { timer.never() } else { minutes })
}

/// The provider's minutes from a number of minutes written in the file (0 = never).
pub(crate) fn from_number(minutes: i64, timer: Timer) -> Result<i64, String> {
    if minutes < 0 {
        return Err("a duration cannot be negative; write \"never\" (or 0) to disable it".into());
    }
    if minutes > i64::from(i32::MAX) {
        return Err(format!("{minutes} minutes is too long"));
    }
    Ok(if minutes == 0 { timer.never() } else { minutes })
}

fn minutes(text: &str) -> Result<i64, String> {
    if text.is_empty() {
        return Err("the duration is empty".into());
    }
    if text.bytes().all(|byte| byte.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .map_err(|_| format!("`{text}` is too long"));
    }
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("`{text}` is not a duration"));
        }
        let number: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is too long"))?;
        rest = rest[digits..].trim_start();
        let unit_length = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let per_unit = match &rest[..unit_length] {
            "m" | "min" | "mins" | "minute" | "minutes" => 1,
            "h" | "hour" | "hours" => 60,
            "d" | "day" | "days" => 60 * 24,
            "w" | "week" | "weeks" => 60 * 24 * 7,
            "s" | "sec" | "secs" | "second" | "seconds" => {
                return Err("durations are whole minutes; seconds are not supported".into());
            }
            "" => return Err(format!("`{text}` needs a unit after {number}")),
            unit => return Err(format!("`{unit}` is not a unit")),
        };
        total = number
            .checked_mul(per_unit)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("`{text}` is too long"))?;
        rest = rest[unit_length..].trim_start();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        let cases = [
            ("0", 0),
            ("15", 15),
            ("30m", 30),
            ("4h", 240),
            ("1d", 1440),
            ("1w", 10080),
            ("1h30m", 90),
            ("1h 30m", 90),
            ("2 hours", 120),
            (" 45m ", 45),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text, Timer::AutoStop), Ok(expected), "{text}");
        }
    }

    /// `auto_delete = "0"` once meant Daytona's 0 (delete as soon as stopped), while the docs
    /// said "never": a sandbox went on its first auto-stop.
    #[test]
    fn zero_means_never_for_every_lifecycle_key() {
        let never = [
            (Timer::AutoStop, 0),
            (Timer::AutoArchive, 0),
            (Timer::AutoDelete, -1),
            (Timer::Ttl, 0),
        ];
        for (timer, expected) in never {
            for text in ["0", "never", "NEVER", "0m", "0h"] {
                assert_eq!(parse(text, timer), Ok(expected), "{text} for {timer:?}");
            }
            assert_eq!(from_number(0, timer), Ok(expected), "0 for {timer:?}");
        }
    }

    #[test]
    fn immediately_is_spelt_out_and_only_where_possible() {
        assert_eq!(parse("immediately", Timer::AutoDelete), Ok(0));
        for timer in [Timer::AutoStop, Timer::AutoArchive, Timer::Ttl] {
            let error = parse("immediately", timer).unwrap_err();
            assert!(error.contains(timer.key()), "{error}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for text in [
            "",
            "m",
            "30x",
            "30s",
            "1.5h",
            "-5m",
            "h30",
            "30m-",
            "99999999999999999999m",
        ] {
            assert!(parse(text, Timer::Ttl).is_err(), "{text:?} should fail");
        }
        assert!(parse("300000w", Timer::Ttl).is_err());
        assert!(from_number(-1, Timer::AutoStop).is_err());
        assert_eq!(from_number(30, Timer::AutoStop), Ok(30));
    }
}
