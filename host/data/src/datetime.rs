//! ISO 8601 dates and date-times as milliseconds since the Unix epoch (UTC).
//!
//! We parse these ourselves rather than through polars' `try_parse_dates` so that CSV, JSON and
//! values arriving at serving time all follow one rule, and so that offsets (`Z`, `+02:00`) work
//! without polars' time-zone feature. Numeric dates (`27.11.2024`, `11/27/2024`) are read in
//! the order a column's values imply (see [`detect_date_order`]), which the schema keeps.

pub use microlearn_core::DateOrder;

/// Parse `YYYY-MM-DD`, optionally followed by `T` or a space and `HH:MM[:SS[.fff…]]`, optionally
/// followed by `Z` or an offset `±HH[:MM]`. `/` is accepted instead of `-` in the date. Returns
/// milliseconds since 1970-01-01T00:00:00Z, or `None` when `s` is not such a value.
pub fn parse_iso8601_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 10 {
        return None;
    }
    let sep = b[4];
    if !(sep == b'-' || sep == b'/') || b[7] != sep {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    let rest = &b[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    if !(rest[0] == b'T' || rest[0] == b't' || rest[0] == b' ') || rest.len() < 6 {
        return None;
    }
    let t = &rest[1..];
    if t[2] != b':' {
        return None;
    }
    let hour = digits(&t[0..2])?;
    let minute = digits(&t[3..5])?;
    let mut pos = 5;
    let mut second = 0;
    let mut millis = 0;
    if t.len() >= pos + 3 && t[pos] == b':' {
        second = digits(&t[pos + 1..pos + 3])?;
        pos += 3;
        if t.len() > pos && (t[pos] == b'.' || t[pos] == b',') {
            pos += 1;
            let start = pos;
            while pos < t.len() && t[pos].is_ascii_digit() {
                pos += 1;
            }
            if pos == start {
                return None;
            }
            // Keep millisecond precision: pad or cut the fraction to three digits.
            let frac = &t[start..pos];
            let mut m = 0;
            for i in 0..3 {
                m = m * 10 + frac.get(i).map_or(0, |d| i64::from(d - b'0'));
            }
            millis = m;
        }
    }
    // 60 admits a leap second; it lands on the next minute's first second.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    ms += ((hour * 60 + minute) * 60 + second) * 1000 + millis;
    let zone = &t[pos..];
    let offset_min = match zone {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                [h1, h2, b':', m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let total = h * 60 + m;
            if *sign == b'+' { total } else { -total }
        }
        _ => return None,
    };
    // A local time at +02:00 is two hours ahead of UTC, so subtract the offset.
    Some(ms - offset_min * 60_000)
}

/// The parts of `A<sep>B<sep>YYYY…` (`sep` one of `.`, `/`, `-`; A and B one or two digits):
/// A, B, the separator, the year and whatever follows the year (a time, or nothing).
fn split_numeric_date(s: &str) -> Option<(i64, i64, u8, i64, &str)> {
    let b = s.as_bytes();
    let lead = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let n1 = lead(0);
    if !(1..=2).contains(&n1) {
        return None;
    }
    let sep = *b.get(n1)?;
    if !matches!(sep, b'.' | b'/' | b'-') {
        return None;
    }
    let n2 = lead(n1 + 1);
    if !(1..=2).contains(&n2) || b.get(n1 + 1 + n2) != Some(&sep) {
        return None;
    }
    let year_at = n1 + n2 + 2;
    if lead(year_at) != 4 {
        return None;
    }
    Some((
        digits(&b[..n1])?,
        digits(&b[n1 + 1..n1 + 1 + n2])?,
        sep,
        digits(&b[year_at..year_at + 4])?,
        &s[year_at + 4..],
    ))
}

/// Parse a numeric date `A<sep>B<sep>YYYY` (`sep` one of `.`, `/`, `-`), optionally followed by
/// a time as in [`parse_iso8601_ms`], reading A and B in `order`.
pub fn parse_numeric_date_ms(s: &str, order: DateOrder) -> Option<i64> {
    let (a, b, _, year, rest) = split_numeric_date(s.trim())?;
    let (day, month) = match order {
        DateOrder::Dmy => (a, b),
        DateOrder::Mdy => (b, a),
    };
    parse_iso8601_ms(&format!("{year:04}-{month:02}-{day:02}{rest}"))
}

/// ISO 8601, or else a numeric date in `order` when the column has one.
pub fn parse_date_ms(s: &str, order: Option<DateOrder>) -> Option<i64> {
    parse_iso8601_ms(s).or_else(|| order.and_then(|o| parse_numeric_date_ms(s, o)))
}

/// The order in which every value reads as a numeric date, judged from the values: a first
/// number above 12 means day first, a second above 12 month first. When every value fits both,
/// `.` and `-` dates are taken as day first (as most of Europe writes them) and `/` dates as
/// month first (as the US does). `None` when some value is not such a date, separators are
/// mixed, or no order reads them all.
pub fn detect_date_order<S: AsRef<str>>(values: &[S]) -> Option<DateOrder> {
    let mut separator = None;
    let (mut day_first, mut month_first) = (false, false);
    for v in values {
        let (a, b, sep, _, _) = split_numeric_date(v.as_ref().trim())?;
        if *separator.get_or_insert(sep) != sep {
            return None;
        }
        day_first |= a > 12;
        month_first |= b > 12;
    }
    let order = match (day_first, month_first, separator?) {
        (true, true, _) => return None,
        (true, false, _) => DateOrder::Dmy,
        (false, true, _) => DateOrder::Mdy,
        (false, false, b'/') => DateOrder::Mdy,
        (false, false, _) => DateOrder::Dmy,
    };
    values
        .iter()
        .all(|v| parse_numeric_date_ms(v.as_ref(), order).is_some())
        .then_some(order)
}

/// Format milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS[.mmm]Z`, or `YYYY-MM-DD` at
/// midnight exactly.
pub fn format_iso8601_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    if in_day == 0 {
        return format!("{y:04}-{m:02}-{d:02}");
    }
    let (h, rest) = (in_day / 3_600_000, in_day % 3_600_000);
    let (mi, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    if milli == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
    }
}

fn digits(b: &[u8]) -> Option<i64> {
    let mut v: i64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_datetimes_and_offsets() {
        assert_eq!(parse_iso8601_ms("1970-01-01"), Some(0));
        assert_eq!(parse_iso8601_ms("1970-01-02"), Some(86_400_000));
        assert_eq!(
            parse_iso8601_ms("2013-01-01T10:00:00Z"),
            Some(1_357_034_400_000)
        );
        assert_eq!(
            parse_iso8601_ms("2013-01-01 12:00:00+02:00"),
            Some(1_357_034_400_000)
        );
        assert_eq!(
            parse_iso8601_ms("2013-01-01T10:00"),
            Some(1_357_034_400_000)
        );
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:00.25"), Some(250));
        assert_eq!(parse_iso8601_ms("1969-12-31"), Some(-86_400_000));
        assert_eq!(parse_iso8601_ms("2024/02/29"), Some(1_709_164_800_000));
    }

    #[test]
    fn rejects_non_dates() {
        for s in [
            "",
            "2013",
            "12345678901",
            "2013-13-01",
            "2023-02-29",
            "2013-01-01X",
            "2013-01-01T25:00",
            "2013-01-01T10:00:00+5",
            "abcd-ef-gh",
            "2013-01-01T",
            "2013-01-01T10:00:00.Z",
        ] {
            assert_eq!(parse_iso8601_ms(s), None, "{s:?}");
        }
    }

    #[test]
    fn numeric_dates_read_in_the_order_their_values_imply() {
        let day = |y, m, d| days_from_civil(y, m, d) * 86_400_000;
        assert_eq!(
            detect_date_order(&["27.11.2024", "01.02.2024"]),
            Some(DateOrder::Dmy)
        );
        assert_eq!(
            detect_date_order(&["11/27/2024", "1/2/2024"]),
            Some(DateOrder::Mdy)
        );
        // Ambiguous values follow the separator's convention.
        assert_eq!(detect_date_order(&["01/02/2024"]), Some(DateOrder::Mdy));
        assert_eq!(
            detect_date_order(&["01.02.2024", "3-4-2020"]),
            None,
            "mixed separators"
        );
        assert_eq!(detect_date_order(&["01-02-2024"]), Some(DateOrder::Dmy));
        assert_eq!(detect_date_order(&["13/12/2024", "12/13/2024"]), None);
        assert_eq!(detect_date_order(&["31.04.2024"]), None, "no 31 April");
        assert_eq!(detect_date_order(&["1.2.24", "2024-01-02"]), None);
        assert_eq!(detect_date_order::<&str>(&[]), None);
        assert_eq!(
            parse_numeric_date_ms("05.06.2024", DateOrder::Dmy),
            Some(day(2024, 6, 5))
        );
        assert_eq!(
            parse_numeric_date_ms("05/06/2024 13:30", DateOrder::Mdy),
            Some(day(2024, 5, 6) + 13 * 3_600_000 + 30 * 60_000)
        );
        assert_eq!(
            parse_date_ms("2024-06-05", Some(DateOrder::Mdy)),
            Some(day(2024, 6, 5))
        );
        assert_eq!(parse_date_ms("05.06.2024", None), None);
        assert_eq!(parse_numeric_date_ms("5.6.20245", DateOrder::Dmy), None);
    }

    #[test]
    fn format_round_trips() {
        for s in [
            "2013-01-01",
            "2013-01-01T10:00:00Z",
            "1901-12-13T20:45:52.123Z",
        ] {
            let ms = parse_iso8601_ms(s).expect("valid");
            assert_eq!(format_iso8601_ms(ms), s);
        }
    }
}
