//! Dates and date-times written as text, read as milliseconds since the Unix epoch (UTC).
//!
//! We parse these ourselves rather than through polars' `try_parse_dates` (or one chrono format
//! string per column) so that CSV, JSON and values arriving at serving time all follow one rule,
//! so that offsets (`Z`, `+02:00`) work without polars' time-zone feature, and because one
//! column routinely mixes shapes a single format string cannot cover (`1/1/2013 0:00` beside
//! `1/1/2013 22:33:10`, a date with and without a time, `5:18 PM`). The only thing a column
//! decides for all its values is the order of a numeric date's first two numbers
//! ([`DateOrder`], judged from the values by [`detect_dates`] and kept in the schema); the rest
//! of a value's shape is read from the value itself in one pass over its bytes.
//!
//! What reads as a date:
//!
//! - year first: `2024-06-25`, `2024/6/25`, `2024.06.25`;
//! - two numbers, then a 4-digit year: `25.06.2024`, `6/25/2008`, `25-06-2024` (day or month
//!   first, as the column's order says); a 2-digit year (`6/25/08`, `25.06.08`) is read as
//!   POSIX `strptime` reads `%y`: 69–99 → 1969–1999, 00–68 → 2000–2068. With `.` between the
//!   numbers a 2-digit year needs both other numbers written with two digits, so that version
//!   numbers (`1.2.10`) stay text;
//! - a month name (English, full or 3-letter, any case, an optional `.`): `25 Jun 2008`,
//!   `25-Jun-08`, `Jun 25, 2008`, `June 25 2008`, `25th June 2008`; a leading weekday
//!   (`Wed, 25 Jun 2008`, `Wednesday, June 25, 2008`) is allowed and ignored;
//!
//! optionally followed by `T`, spaces or `, ` and a time of day: `H:MM`, `HH:MM:SS`, a fraction
//! (`.25`, `,250`; kept to the millisecond), `AM`/`PM` (`am`, `a.m.`; hours 1–12), then `Z`,
//! `UTC`, `GMT` or an offset `±HH`, `±HHMM`, `±HH:MM`. An offset moves the value to UTC, so
//! `10:00+02:00` and `08:00Z` are the same instant; a time without a zone is taken as UTC
//! (its hour stays the written hour).

pub use microlearn_core::DateOrder;

const MS_PER_DAY: i64 = 86_400_000;

/// How a value writes its date: this must agree across a column, like a separator would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Year, month, day (`2024-06-25`): needs no order.
    YearFirst,
    /// Two numbers and then the year, separated by this byte (`25.06.2024`, `6/25/08`).
    Numeric(u8),
    /// With a month name (`25 Jun 2008`, `Jun 25, 2008`): needs no order.
    Named,
}

/// A value taken apart, before a numeric date's order is applied.
#[derive(Debug, Clone, Copy)]
struct Scanned {
    layout: Layout,
    /// Year-first and named dates: the month. Numeric dates: the first number.
    a: i64,
    /// Year-first and named dates: the day. Numeric dates: the second number.
    b: i64,
    year: i64,
    /// Milliseconds since midnight, already moved to UTC by the offset (may leave the day).
    time_ms: i64,
}

impl Scanned {
    /// The instant, reading a numeric date in `order`; `None` when it is no calendar date or a
    /// numeric date has no order to be read in.
    fn resolve(&self, order: Option<DateOrder>) -> Option<i64> {
        let (month, day) = match (self.layout, order) {
            (Layout::Numeric(_), Some(DateOrder::Dmy)) => (self.b, self.a),
            (Layout::Numeric(_), Some(DateOrder::Mdy)) => (self.a, self.b),
            (Layout::Numeric(_), None) => return None,
            _ => (self.a, self.b),
        };
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(self.year, month) {
            return None;
        }
        Some(days_from_civil(self.year, month, day) * MS_PER_DAY + self.time_ms)
    }
}

/// A cursor over a value's bytes.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn done(&self) -> bool {
        self.at == self.b.len()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.at += usize::from(hit);
        hit
    }

    /// Skip spaces; how many.
    fn spaces(&mut self) -> usize {
        let from = self.at;
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
        self.at - from
    }

    /// A run of digits, at most `max` long: (value, length). Length 0 when none.
    fn number(&mut self, max: usize) -> (i64, usize) {
        let (mut v, from) = (0i64, self.at);
        while self.at - from < max
            && let Some(d) = self.peek().filter(u8::is_ascii_digit)
        {
            v = v * 10 + i64::from(d - b'0');
            self.at += 1;
        }
        (v, self.at - from)
    }

    /// A run of ASCII letters.
    fn word(&mut self) -> &'a [u8] {
        let from = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.at += 1;
        }
        &self.b[from..self.at]
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Whether `word` is `full` or its 3-letter abbreviation (`sept` for September too), any case.
fn names(word: &[u8], full: &str) -> bool {
    let full = full.as_bytes();
    let n = word.len();
    (n == 3 || n == full.len() || (n == 4 && full.starts_with(b"sept")))
        && n <= full.len()
        && word.eq_ignore_ascii_case(&full[..n])
}

/// 1–12 for a month name.
fn month_number(word: &[u8]) -> Option<i64> {
    MONTHS
        .iter()
        .position(|m| names(word, m))
        .map(|i| i as i64 + 1)
}

/// A year of 4 digits, or 2 (see the module notes on `%y`).
fn year_of(value: i64, len: usize) -> Option<i64> {
    match len {
        4 => Some(value),
        2 if value >= 69 => Some(1900 + value),
        2 => Some(2000 + value),
        _ => None,
    }
}

/// A month name and what may follow it before the day or year: an abbreviation's `.`.
fn month_word(c: &mut Cursor<'_>) -> Option<i64> {
    let m = month_number(c.word())?;
    c.eat(b'.');
    Some(m)
}

/// `st`, `nd`, `rd` or `th` after a day number (`25th`).
fn ordinal_suffix(c: &mut Cursor<'_>) {
    let save = c.at;
    let w = c.word();
    let ok = [b"st", b"nd", b"rd", b"th"]
        .iter()
        .any(|s| w.eq_ignore_ascii_case(*s));
    if !ok {
        c.at = save;
    }
}

/// The date part of a value, leaving the cursor after it.
fn scan_date(c: &mut Cursor<'_>) -> Option<(Layout, i64, i64, i64)> {
    // A leading weekday name is redundant with the date: skip it.
    if c.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
        let save = c.at;
        let w = c.word();
        if WEEKDAYS.iter().any(|d| names(w, d)) {
            c.eat(b'.');
            c.eat(b',');
            if c.spaces() == 0 && c.b.get(c.at - 1) != Some(&b',') {
                return None;
            }
        } else {
            c.at = save;
        }
    }
    if c.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
        // `Jun 25, 2008`, `June 25 2008`, `Jun-25-2008`.
        let month = month_word(c)?;
        let dash = c.eat(b'-');
        if !dash && c.spaces() == 0 {
            return None;
        }
        let (day, n) = c.number(2);
        if n == 0 {
            return None;
        }
        ordinal_suffix(c);
        if dash {
            if !c.eat(b'-') {
                return None;
            }
        } else {
            let comma = c.eat(b',');
            if c.spaces() == 0 && !comma {
                return None;
            }
        }
        let (y, n) = c.number(4);
        return Some((Layout::Named, month, day, year_of(y, n)?));
    }
    let (first, n1) = c.number(4);
    match n1 {
        4 => {
            // `2024-06-25`, `2024/6/25`.
            let sep = c.peek().filter(|s| matches!(s, b'-' | b'/' | b'.'))?;
            c.at += 1;
            let (month, n) = c.number(2);
            if n == 0 || !c.eat(sep) {
                return None;
            }
            let (day, n) = c.number(2);
            (n > 0).then_some((Layout::YearFirst, month, day, first))
        }
        1 | 2 => {
            if c.spaces() > 0 || c.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
                // `25 Jun 2008`, `25th June 2008`, `25 June, 2008`.
                ordinal_suffix(c);
                c.spaces();
                let month = month_word(c)?;
                c.eat(b',');
                if c.spaces() == 0 && c.b.get(c.at - 1) != Some(&b',') {
                    return None;
                }
                let (y, n) = c.number(4);
                return Some((Layout::Named, month, first, year_of(y, n)?));
            }
            let sep = c.peek().filter(|s| matches!(s, b'-' | b'/' | b'.'))?;
            c.at += 1;
            if c.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
                // `25-Jun-2008`, `25.Jun.08`.
                let month = month_word(c)?;
                // `25.Jun.08`: the abbreviation's dot was the separator.
                let dotted = sep == b'.' && c.b.get(c.at - 1) == Some(&b'.');
                if !(dotted || c.eat(sep)) {
                    return None;
                }
                let (y, n) = c.number(4);
                return Some((Layout::Named, month, first, year_of(y, n)?));
            }
            let (second, n2) = c.number(2);
            if n2 == 0 || !c.eat(sep) {
                return None;
            }
            let (y, ny) = c.number(4);
            // Version numbers (`1.2.10`) are not dates: a 2-digit year after `.` needs the
            // zero-padded day and month that short dates (`25.06.08`) are written with.
            if ny == 2 && sep == b'.' && (n1 != 2 || n2 != 2) {
                return None;
            }
            Some((Layout::Numeric(sep), first, second, year_of(y, ny)?))
        }
        _ => None,
    }
}

/// The time of day and zone after a date, as milliseconds since midnight UTC; 0 when there is
/// none. `None` when something follows the date that is not such a time.
fn scan_time(c: &mut Cursor<'_>) -> Option<i64> {
    if c.done() {
        return Some(0);
    }
    let t = c.eat(b'T') || c.eat(b't');
    if !t {
        let comma = c.eat(b',');
        if c.spaces() == 0 && !comma {
            return None;
        }
        if c.done() {
            return None;
        }
    }
    let (mut hour, n) = c.number(2);
    if n == 0 || !c.eat(b':') {
        return None;
    }
    let (minute, n) = c.number(2);
    if n != 2 {
        return None;
    }
    let (mut second, mut millis) = (0, 0);
    if c.eat(b':') {
        let (s, n) = c.number(2);
        if n != 2 {
            return None;
        }
        second = s;
        if c.eat(b'.') || c.eat(b',') {
            // Keep millisecond precision: pad or cut the fraction to three digits.
            let from = c.at;
            let (_, n) = c.number(usize::MAX);
            if n == 0 {
                return None;
            }
            millis = c.b[from..from + n.min(3)]
                .iter()
                .fold(0, |m, d| m * 10 + i64::from(d - b'0'))
                * 10_i64.pow(3 - n.min(3) as u32);
        }
    }
    c.spaces();
    // 12-hour clock.
    let save = c.at;
    let meridiem = c.word().to_ascii_lowercase();
    let pm = match meridiem.as_slice() {
        b"am" => Some(false),
        b"pm" => Some(true),
        b"a" | b"p" if c.eat(b'.') && c.word().eq_ignore_ascii_case(b"m") => {
            c.eat(b'.');
            Some(meridiem == b"p")
        }
        _ => {
            c.at = save;
            None
        }
    };
    if let Some(pm) = pm {
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour = hour % 12 + if pm { 12 } else { 0 };
        c.spaces();
    }
    // 60 admits a leap second; it lands on the next minute's first second.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let local = ((hour * 60 + minute) * 60 + second) * 1000 + millis;
    let offset_min = scan_zone(c)?;
    // A local time at +02:00 is two hours ahead of UTC, so subtract the offset.
    Some(local - offset_min * 60_000)
}

/// `Z`, `UTC`, `GMT`, `±HH`, `±HHMM`, `±HH:MM` or nothing, to the end of the value: minutes
/// east of UTC.
fn scan_zone(c: &mut Cursor<'_>) -> Option<i64> {
    if c.done() {
        return Some(0);
    }
    let save = c.at;
    let w = c.word();
    if !w.is_empty() {
        let utc = w.eq_ignore_ascii_case(b"z")
            || w.eq_ignore_ascii_case(b"utc")
            || w.eq_ignore_ascii_case(b"gmt");
        return (utc && c.done()).then_some(0);
    }
    c.at = save;
    let sign = match c.peek()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    c.at += 1;
    let (h, n) = c.number(2);
    if n != 2 {
        return None;
    }
    c.eat(b':');
    let (m, n) = c.number(2);
    if !(n == 0 || n == 2) || !c.done() || h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 60 + m))
}

/// Take a value apart; `None` when it is not a date or date-time of a known shape.
fn scan(s: &str) -> Option<Scanned> {
    let mut c = Cursor {
        b: s.trim().as_bytes(),
        at: 0,
    };
    let (layout, a, b, year) = scan_date(&mut c)?;
    let time_ms = scan_time(&mut c)?;
    c.done().then_some(Scanned {
        layout,
        a,
        b,
        year,
        time_ms,
    })
}

/// Parse a date or date-time that needs no order: year first (`2024-06-25T17:18:00Z`,
/// `2024/02/29 5:18 PM`) or with a month name (`25 Jun 2008 17:18`). Returns milliseconds
/// since 1970-01-01T00:00:00Z, or `None` when `s` is not such a value.
pub fn parse_iso8601_ms(s: &str) -> Option<i64> {
    scan(s).and_then(|v| v.resolve(None))
}

/// Parse a date written with two numbers before the year (`27.11.2024 5:18`), reading them in
/// `order`; dates that need no order are read too.
pub fn parse_numeric_date_ms(s: &str, order: DateOrder) -> Option<i64> {
    parse_date_ms(s, Some(order))
}

/// Any date or date-time this module reads, numeric dates in `order` when the column has one.
pub fn parse_date_ms(s: &str, order: Option<DateOrder>) -> Option<i64> {
    scan(s).and_then(|v| v.resolve(order))
}

/// A text column read as dates: each value's instant, and the order of its numeric dates
/// (`None` for a column whose dates need none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateColumn {
    /// Milliseconds since the epoch, one per value.
    pub ms: Vec<i64>,
    /// The order numeric dates were read in.
    pub order: Option<DateOrder>,
}

/// Read a column's distinct values as dates, when every one is a date of one layout: all year
/// first, all with month names, or all numeric with one separator. For numeric dates the
/// values decide the order: a first number above 12 means day first, a second above 12 month
/// first. When every value fits both, `.` and `-` dates are taken as day first (as most of
/// Europe writes them) and `/` dates as month first (as the US does). `None` when some value is
/// not a date, layouts or separators are mixed, or no order reads them all.
///
/// The layout is settled by the first value, so a text column is given up at its first value
/// that does not fit, usually the first one; a date column costs one pass over each distinct
/// value's bytes, plus one cheap calendar step.
pub fn detect_dates<S: AsRef<str>>(values: &[S]) -> Option<DateColumn> {
    let first = scan(values.first()?.as_ref())?;
    let mut scanned = Vec::with_capacity(values.len());
    let (mut day_first, mut month_first) = (false, false);
    for v in values {
        let s = scan(v.as_ref())?;
        if s.layout != first.layout {
            return None;
        }
        day_first |= s.a > 12;
        month_first |= s.b > 12;
        scanned.push(s);
    }
    let order = match first.layout {
        Layout::YearFirst | Layout::Named => None,
        Layout::Numeric(sep) => Some(match (day_first, month_first) {
            (true, true) => return None,
            (true, false) => DateOrder::Dmy,
            (false, true) => DateOrder::Mdy,
            (false, false) if sep == b'/' => DateOrder::Mdy,
            (false, false) => DateOrder::Dmy,
        }),
    };
    let ms = scanned
        .iter()
        .map(|s| s.resolve(order))
        .collect::<Option<Vec<i64>>>()?;
    Some(DateColumn { ms, order })
}

/// The order in which every value reads as a numeric date (see [`detect_dates`]); `None` when
/// some value is not a numeric date, separators are mixed, or no order reads them all.
pub fn detect_date_order<S: AsRef<str>>(values: &[S]) -> Option<DateOrder> {
    detect_dates(values)?.order
}

/// Format milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS[.mmm]Z`, or `YYYY-MM-DD` at
/// midnight exactly.
pub fn format_iso8601_ms(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
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

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    fn day(y: i64, m: i64, d: i64) -> i64 {
        days_from_civil(y, m, d) * MS_PER_DAY
    }

    #[test]
    fn times_of_day_in_every_common_shape() {
        let at = day(2008, 6, 25) + 17 * H + 18 * M;
        for s in [
            "6/25/2008 17:18",
            "6/25/2008 5:18 PM",
            "6/25/2008 5:18PM",
            "6/25/2008 5:18 p.m.",
            "06/25/2008 17:18:00",
            "6/25/2008, 5:18 pm",
            "6/25/08 17:18",
            "2008-06-25T17:18:00Z",
            "2008-06-25 17:18:00 UTC",
            "2008-06-25T19:18:00+02:00",
            "2008-06-25T19:18:00+0200",
            "2008-06-25T12:18-05",
            "2008/6/25 5:18 PM",
        ] {
            assert_eq!(parse_date_ms(s, Some(DateOrder::Mdy)), Some(at), "{s:?}");
        }
        assert_eq!(
            parse_date_ms("25.06.2008 17:18:00.5", Some(DateOrder::Dmy)),
            Some(at + 500)
        );
        assert_eq!(
            parse_date_ms("2008-06-25T17:18:00,123456", None),
            Some(at + 123)
        );
        // Midnight and noon on a 12-hour clock.
        assert_eq!(
            parse_date_ms("1/1/2013 12:05 AM", Some(DateOrder::Mdy)),
            Some(day(2013, 1, 1) + 5 * M)
        );
        assert_eq!(
            parse_date_ms("1/1/2013 12:05 PM", Some(DateOrder::Mdy)),
            Some(day(2013, 1, 1) + 12 * H + 5 * M)
        );
        for bad in [
            "1/1/2013 13:05 PM",
            "1/1/2013 0:05 AM",
            "1/1/2013 22:3",
            "1/1/2013 24:00",
            "1/1/2013 22:33 XM",
            "1/1/2013 22:33 +2",
            "1/1/2013T",
        ] {
            assert_eq!(parse_date_ms(bad, Some(DateOrder::Mdy)), None, "{bad:?}");
        }
    }

    #[test]
    fn month_names_need_no_order() {
        let june = day(2008, 6, 25);
        for s in [
            "25 Jun 2008",
            "25 June 2008",
            "25-Jun-2008",
            "25-JUN-08",
            "25th June, 2008",
            "Jun 25, 2008",
            "June 25 2008",
            "jun. 25, 2008",
            "Wed, 25 Jun 2008",
            "Wednesday, June 25, 2008",
        ] {
            assert_eq!(parse_date_ms(s, None), Some(june), "{s:?}");
        }
        assert_eq!(
            parse_date_ms("Wed, 25 Jun 2008 17:18:00 +0000", None),
            Some(june + 17 * H + 18 * M),
            "RFC 2822"
        );
        assert_eq!(
            parse_date_ms("Sept 1, 2020 9:30 AM", None),
            Some(day(2020, 9, 1) + 9 * H + 30 * M)
        );
        for bad in [
            "Jun 31, 2008",
            "Juni 25 2008",
            "25 Jun",
            "May",
            "Mayo 5, 2020",
        ] {
            assert_eq!(parse_date_ms(bad, None), None, "{bad:?}");
        }
    }

    #[test]
    fn two_digit_years_pivot_like_strptime() {
        assert_eq!(
            parse_date_ms("1/2/68", Some(DateOrder::Mdy)),
            Some(day(2068, 1, 2))
        );
        assert_eq!(
            parse_date_ms("1/2/69", Some(DateOrder::Mdy)),
            Some(day(1969, 1, 2))
        );
        assert_eq!(
            parse_date_ms("25.06.08", Some(DateOrder::Dmy)),
            Some(day(2008, 6, 25))
        );
        // Version numbers stay text.
        assert_eq!(detect_dates(&["1.2.10", "1.10.12"]), None);
        assert_eq!(parse_date_ms("1/2/123", Some(DateOrder::Mdy)), None);
    }

    #[test]
    fn a_column_decides_its_order_and_layout() {
        let col =
            detect_dates(&["6/25/2008 5:18", "1/1/2013 22:33", "12/31/2010 0:00"]).expect("dates");
        assert_eq!(col.order, Some(DateOrder::Mdy));
        assert_eq!(
            col.ms,
            vec![
                day(2008, 6, 25) + 5 * H + 18 * M,
                day(2013, 1, 1) + 22 * H + 33 * M,
                day(2010, 12, 31)
            ]
        );
        let dmy = detect_dates(&["25/06/08 17:18", "01/02/09"]).expect("dates");
        assert_eq!(dmy.order, Some(DateOrder::Dmy));
        assert_eq!(dmy.ms[1], day(2009, 2, 1));
        // Every value fits both orders: `/` reads month first, `.` day first.
        assert_eq!(
            detect_dates(&["01/02/03 10:00"]).map(|c| c.order),
            Some(Some(DateOrder::Mdy))
        );
        assert_eq!(
            detect_dates(&["01.02.03 10:00"]).map(|c| c.order),
            Some(Some(DateOrder::Dmy))
        );
        // Named and year-first columns need no order.
        assert_eq!(
            detect_dates(&["25 Jun 2008", "1 Jan 2013 10:00"]).map(|c| c.order),
            Some(None)
        );
        // Mixed offsets are one instant each, in UTC.
        let offsets = detect_dates(&[
            "2024-03-01T10:00:00+02:00",
            "2024-03-01T08:00:00Z",
            "2024-03-01 03:00:00-05:00",
        ])
        .expect("dates");
        assert_eq!(offsets.ms, vec![day(2024, 3, 1) + 8 * H; 3]);
        // Layouts do not mix, and one value that is no date makes the column text.
        assert_eq!(detect_dates(&["25 Jun 2008", "6/25/2008"]), None);
        assert_eq!(detect_dates(&["6/25/2008", "6-25-2008"]), None);
        assert_eq!(detect_dates(&["6/25/2008 5:18", "soon"]), None);
        assert_eq!(detect_dates(&["13/12/2024", "12/13/2024"]), None);
    }
}
