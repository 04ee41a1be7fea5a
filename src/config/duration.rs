//! Durations in configuration: `900s`, `15m`, `24h`, `14d`.
//!
//! Written here rather than taken from `humantime` because the contract (SPEC
//! section 2) defines exactly one grammar, a whole number and one unit, and
//! `humantime` also accepts months and years, whose lengths are ambiguous.

use std::{fmt, str::FromStr, time::Duration};

use serde::Deserialize;

/// A duration read from configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct ConfigDuration(Duration);

impl ConfigDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub const fn get(self) -> Duration {
        self.0
    }
}

/// The longest duration a setting may name: a hundred years. No setting
/// needs more, and an instant that far ahead still fits the clock, so
/// adding a setting to the time now cannot overflow.
const LONGEST_SECONDS: u64 = 36_500 * 86_400;

#[derive(Debug, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration: write a whole number followed by s, m, h or d (e.g. `15m`)")]
    Malformed(String),
    #[error("`{0}` is too long: at most 36500d")]
    TooLong(String),
}

impl FromStr for ConfigDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || DurationError::Malformed(text.to_owned());
        let unit_at = text.len().checked_sub(1).ok_or_else(bad)?;
        let (number, unit) = text.split_at(unit_at);
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let number: u64 = number.parse().map_err(|_| bad())?;
        let seconds_per_unit = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        let seconds = number
            .checked_mul(seconds_per_unit)
            .filter(|&seconds| seconds <= LONGEST_SECONDS)
            .ok_or_else(|| DurationError::TooLong(text.to_owned()))?;
        Ok(Self(Duration::from_secs(seconds)))
    }
}

impl TryFrom<String> for ConfigDuration {
    type Error = DurationError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl fmt::Display for ConfigDuration {
    /// Prints the largest whole unit, so `86400s` reads back as `1d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
            if secs != 0 && secs.is_multiple_of(size) {
                return write!(f, "{}{unit}", secs / size);
            }
        }
        write!(f, "{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!("900s".parse::<ConfigDuration>().unwrap().get().as_secs(), 900);
        assert_eq!("15m".parse::<ConfigDuration>().unwrap().get().as_secs(), 900);
        assert_eq!("24h".parse::<ConfigDuration>().unwrap().get().as_secs(), 86_400);
        assert_eq!(
            "14d".parse::<ConfigDuration>().unwrap().get().as_secs(),
            14 * 86_400
        );
        assert_eq!("0s".parse::<ConfigDuration>().unwrap().get().as_secs(), 0);
        assert_eq!(
            "36500d".parse::<ConfigDuration>().unwrap().get().as_secs(),
            LONGEST_SECONDS
        );
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "s",
            "15",
            "15 m",
            "1.5h",
            "-1s",
            "15min",
            "3y",
            "m15",
            "99999999999999999999d",
            "36501d",
            "18446744073709551615s",
        ] {
            assert!(bad.parse::<ConfigDuration>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn displays_in_the_largest_whole_unit() {
        assert_eq!(ConfigDuration::from_secs(86_400).to_string(), "1d");
        assert_eq!(ConfigDuration::from_secs(90).to_string(), "90s");
        assert_eq!(ConfigDuration::from_secs(600).to_string(), "10m");
    }
}
