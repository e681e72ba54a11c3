//! Durations of the team file (`"30m"`, `"1h30m"`, `"4h"`, `"1d"`, whole minutes) in minutes.
//!
//! Providers count lifecycle timers in whole minutes, so seconds are refused rather than
//! rounded. What `0` and `never` mean differs per key (Daytona's meanings); [`Timer`] says it
//! once, here.

/// Which lifecycle key a duration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// `auto_stop`: 0 = never stop; `never` = 0.
    AutoStop,
    /// `auto_archive`: 0 = the provider's maximum; `never` is not possible.
    AutoArchive,
    /// `auto_delete`: 0 = delete as soon as stopped; `never` = -1 (disabled).
    AutoDelete,
    /// `ttl`: 0 and `never` = no limit (`None`).
    Ttl,
}

impl Timer {
    pub(crate) fn key(self) -> &'static str {
        match self {
            Timer::AutoStop => "auto_stop",
            Timer::AutoArchive => "auto_archive",
            Timer::AutoDelete => "auto_delete",
            Timer::Ttl => "ttl",
        }
    }

    /// The stored value for `never`, or `None` when the key cannot be disabled.
    fn never(self) -> Option<i64> {
        match self {
            Timer::AutoStop | Timer::Ttl => Some(0),
            Timer::AutoDelete => Some(-1),
            Timer::AutoArchive => None,
        }
    }
}

/// Parses a duration for `timer` into minutes (`-1` only for `auto_delete = "never"`).
pub(crate) fn parse(text: &str, timer: Timer) -> Result<i64, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("never") {
        return timer.never().ok_or_else(|| {
            format!(
                "`{}` cannot be disabled; \"0\" means the provider's maximum",
                timer.key()
            )
        });
    }
    let minutes = minutes(text)?;
    if minutes > i64::from(i32::MAX) {
        return Err(format!("`{text}` is too long"));
    }
    Ok(minutes)
}

/// Whole minutes from a number of minutes written in the file.
pub(crate) fn from_number(minutes: i64, timer: Timer) -> Result<i64, String> {
    if minutes < 0 {
        let never = if timer.never().is_some() {
            "; write \"never\" to disable it"
        } else {
            ""
        };
        return Err(format!("a duration cannot be negative{never}"));
    }
    if minutes > i64::from(i32::MAX) {
        return Err(format!("{minutes} minutes is too long"));
    }
    Ok(minutes)
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

    #[test]
    fn never_depends_on_the_key() {
        assert_eq!(parse("never", Timer::AutoStop), Ok(0));
        assert_eq!(parse("never", Timer::AutoDelete), Ok(-1));
        assert_eq!(parse("NEVER", Timer::Ttl), Ok(0));
        assert!(parse("never", Timer::AutoArchive).is_err());
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
