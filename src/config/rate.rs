//! Rate-limit policies as configured: `N/second|minute|hour|day`.

use std::{fmt, num::NonZeroU32, str::FromStr, time::Duration};

use serde::Deserialize;

/// `count` requests per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct RatePolicy {
    pub count: NonZeroU32,
    pub period: RatePeriod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RatePeriod {
    Second,
    Minute,
    Hour,
    Day,
}

impl RatePeriod {
    pub const fn duration(self) -> Duration {
        Duration::from_secs(match self {
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        })
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Second => "second",
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a rate: write N/second, N/minute, N/hour or N/day with N at least 1 (e.g. `5/minute`)")]
pub struct RateError(String);

impl FromStr for RatePolicy {
    type Err = RateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || RateError(text.to_owned());
        let (count, period) = text.split_once('/').ok_or_else(bad)?;
        if !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let count: NonZeroU32 = count.parse().map_err(|_| bad())?;
        let period = match period {
            "second" => RatePeriod::Second,
            "minute" => RatePeriod::Minute,
            "hour" => RatePeriod::Hour,
            "day" => RatePeriod::Day,
            _ => return Err(bad()),
        };
        // One request's share of the period must be at least a nanosecond.
        if u128::from(count.get()) > period.duration().as_nanos() {
            return Err(bad());
        }
        Ok(Self { count, period })
    }
}

impl TryFrom<String> for RatePolicy {
    type Error = RateError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl fmt::Display for RatePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.period.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_period() {
        let policy: RatePolicy = "5/minute".parse().unwrap();
        assert_eq!(policy.count.get(), 5);
        assert_eq!(policy.period.duration(), Duration::from_secs(60));
        assert_eq!("20/hour".parse::<RatePolicy>().unwrap().to_string(), "20/hour");
        assert_eq!(
            "1/second".parse::<RatePolicy>().unwrap().period,
            RatePeriod::Second
        );
        assert_eq!("600/day".parse::<RatePolicy>().unwrap().period, RatePeriod::Day);
    }

    #[test]
    fn refuses_malformed_policies() {
        for bad in [
            "",
            "5",
            "0/minute",
            "-1/minute",
            "5/minutes",
            "5 / minute",
            "x/hour",
            "5/",
            "2000000000/second",
        ] {
            assert!(bad.parse::<RatePolicy>().is_err(), "{bad:?} was accepted");
        }
    }
}
