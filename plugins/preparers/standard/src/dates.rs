//! Calendar parts of a UTC millisecond timestamp, without a date library.

use serde::{Deserialize, Serialize};

const MS_PER_DAY: i64 = 86_400_000;

/// A calendar feature derived from a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Calendar year.
    Year,
    /// Month, 1–12.
    Month,
    /// Day of month, 1–31.
    Day,
    /// Day of week, Monday = 0 … Sunday = 6.
    Weekday,
    /// Hour of day, 0–23.
    Hour,
    /// Day of year, 1–366.
    DayOfYear,
    /// Minute of the hour, 0–59.
    Minute,
    /// Days since 1970-01-01, with the time of day as a fraction: the trend over time.
    Epoch,
}

impl Part {
    /// Every part, in output order.
    pub const ALL: [Part; 8] = [
        Part::Year,
        Part::Month,
        Part::Day,
        Part::Weekday,
        Part::Hour,
        Part::Minute,
        Part::DayOfYear,
        Part::Epoch,
    ];

    /// Suffix of the output column name.
    pub fn suffix(self) -> &'static str {
        match self {
            Part::Year => "year",
            Part::Month => "month",
            Part::Day => "day",
            Part::Weekday => "weekday",
            Part::Hour => "hour",
            Part::DayOfYear => "dayofyear",
            Part::Minute => "minute",
            Part::Epoch => "epoch",
        }
    }

    /// This part of the instant `ms` (milliseconds since 1970-01-01T00:00:00Z).
    pub fn of(self, ms: i64) -> f64 {
        let days = ms.div_euclid(MS_PER_DAY);
        match self {
            Part::Hour => (ms.rem_euclid(MS_PER_DAY) / 3_600_000) as f64,
            Part::Minute => (ms.rem_euclid(3_600_000) / 60_000) as f64,
            Part::Epoch => ms as f64 / MS_PER_DAY as f64,
            // 1970-01-01 was a Thursday (3 when Monday is 0).
            Part::Weekday => (days + 3).rem_euclid(7) as f64,
            Part::Year => civil_from_days(days).0 as f64,
            Part::Month => f64::from(civil_from_days(days).1),
            Part::Day => f64::from(civil_from_days(days).2),
            Part::DayOfYear => {
                let (y, m, d) = civil_from_days(days);
                f64::from(day_of_year(y, m, d))
            }
        }
    }
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn day_of_year(y: i64, m: u32, d: u32) -> u32 {
    const BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = u32::from(m > 2 && is_leap(y));
    BEFORE[(m - 1) as usize] + d + leap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_decompose_correctly() {
        // 2024-02-29T13:45:00Z, a Thursday, day 60 of a leap year.
        let ms = 1_709_214_300_000;
        assert_eq!(Part::Year.of(ms), 2024.0);
        assert_eq!(Part::Month.of(ms), 2.0);
        assert_eq!(Part::Day.of(ms), 29.0);
        assert_eq!(Part::Hour.of(ms), 13.0);
        assert_eq!(Part::Weekday.of(ms), 3.0);
        assert_eq!(Part::DayOfYear.of(ms), 60.0);
        assert_eq!(Part::Minute.of(ms), 45.0);
        assert_eq!(Part::Epoch.of(ms), 19_782.0 + (13.0 * 60.0 + 45.0) / 1440.0);
        // 1969-12-31T23:00:00Z: before the epoch, a Wednesday.
        let before: i64 = -3_600_000;
        assert_eq!(
            civil_from_days(before.div_euclid(MS_PER_DAY)),
            (1969, 12, 31)
        );
        assert_eq!(Part::Hour.of(before), 23.0);
        assert_eq!(Part::Weekday.of(before), 2.0);
        assert_eq!(Part::DayOfYear.of(before), 365.0);
        assert_eq!(Part::Minute.of(before), 0.0);
        assert_eq!(Part::Epoch.of(before), -1.0 / 24.0);
    }
}
