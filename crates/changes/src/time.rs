//! PostgreSQL dates and times as text, without a date library.
//!
//! PostgreSQL counts timestamps in microseconds since 2000-01-01 00:00:00 UTC
//! ([`PgTimestamp`]) and dates in days since that same day. walcast turns
//! them into text in three places:
//!
//! - the `commit_timestamp` of every change, which Supabase prints with
//!   `to_char(ts at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
//!   ([`format_commit_timestamp`]);
//! - column values that arrive in binary format, which must read the way
//!   `to_jsonb` prints them ([`format_timestamptz_micros`] and the
//!   crate-private formatters for dates, times and intervals);
//! - filter literals on timestamp columns, parsed and printed again in that
//!   same form so that comparing the text compares the instants
//!   (`parse_timestamp`, used by [`crate::value::from_filter_text`]).
//!
//! The calendar is proleptic Gregorian, like PostgreSQL's, computed with
//! Howard Hinnant's `civil_from_days` and `days_from_civil`
//! (<https://howardhinnant.github.io/date_algorithms.html>). PostgreSQL has
//! no year 0: astronomical year 0 is printed `0001 ... BC`, year -1 is
//! `0002 ... BC`, and so on.

use pgoutput::{PG_EPOCH_OFFSET_MICROS, PgTimestamp};

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_MINUTE: i64 = 60 * USECS_PER_SEC;
const USECS_PER_HOUR: i64 = 60 * USECS_PER_MINUTE;
const USECS_PER_DAY: i64 = 24 * USECS_PER_HOUR;
const SECS_PER_MINUTE: i64 = 60;
const SECS_PER_HOUR: i64 = 60 * SECS_PER_MINUTE;
/// Days from 1970-01-01 (where Hinnant's algorithms count from) to
/// 2000-01-01 (where PostgreSQL counts from).
const UNIX_DAYS_AT_PG_EPOCH: i64 = PG_EPOCH_OFFSET_MICROS / USECS_PER_DAY;

/// Formats a commit timestamp the way Supabase sends `commit_timestamp`:
/// UTC, millisecond precision, `Z` suffix, e.g. `2000-01-01T00:00:00.000Z`
/// for 0.
///
/// Milliseconds are truncated, not rounded, as `to_char`'s `MS` does
/// (`23:59:59.999999` prints `23:59:59.999`). Like `to_char`'s `YYYY`,
/// years before 1 AD print as the BC year number without a marker; commit
/// timestamps never get there.
pub fn format_commit_timestamp(ts: PgTimestamp) -> String {
    let (days, time) = split_days(ts);
    let date = civil_from_days(days);
    let mut out = String::with_capacity(24);
    push_year(&mut out, date.year);
    push_month_day(&mut out, date);
    out.push('T');
    push_clock(&mut out, time, false);
    out.push('.');
    push_padded(&mut out, time_fraction(time) / 1000, 3);
    out.push('Z');
    out
}

/// Formats a `timestamptz` the way `to_jsonb` prints it in a session whose
/// TimeZone is UTC: `2025-11-03T09:32:55.123+00:00`.
///
/// The fraction keeps up to six digits with trailing zeros trimmed and is
/// left out when zero. Years before 1 AD end in ` BC`
/// (`0001-01-01T00:00:00+00:00 BC`), years after 9999 get more digits, and
/// PostgreSQL's infinities (`i64::MAX`, `i64::MIN`) print as `infinity` and
/// `-infinity`.
pub fn format_timestamptz_micros(ts: PgTimestamp) -> String {
    format_timestamp_iso(ts, true)
}

/// Formats a `timestamp` (without time zone) the way `to_jsonb` prints it:
/// [`format_timestamptz_micros`] without the offset.
pub(crate) fn format_timestamp_micros(ts: PgTimestamp) -> String {
    format_timestamp_iso(ts, false)
}

fn format_timestamp_iso(ts: PgTimestamp, with_offset: bool) -> String {
    match ts {
        i64::MAX => return "infinity".to_owned(),
        i64::MIN => return "-infinity".to_owned(),
        _ => {}
    }
    let (days, time) = split_days(ts);
    let date = civil_from_days(days);
    let mut out = String::with_capacity(35);
    push_year(&mut out, date.year);
    push_month_day(&mut out, date);
    out.push('T');
    push_clock(&mut out, time, true);
    if with_offset {
        out.push_str("+00:00");
    }
    push_era(&mut out, date.year);
    out
}

/// Formats a `date` (days since 2000-01-01) as PostgreSQL prints it with
/// DateStyle ISO: `2025-11-03`, `0044-03-15 BC`, `infinity`.
pub(crate) fn format_date_days(days: i32) -> String {
    match days {
        i32::MAX => return "infinity".to_owned(),
        i32::MIN => return "-infinity".to_owned(),
        _ => {}
    }
    let date = civil_from_days(i64::from(days));
    let mut out = String::with_capacity(13);
    push_year(&mut out, date.year);
    push_month_day(&mut out, date);
    push_era(&mut out, date.year);
    out
}

/// Formats a `time` (microseconds since midnight) as PostgreSQL prints it:
/// `09:32:55`, `09:32:55.5`, `24:00:00`. `None` outside `0..=24:00:00`.
pub(crate) fn format_time_micros(micros: i64) -> Option<String> {
    if !(0..=USECS_PER_DAY).contains(&micros) {
        return None;
    }
    let mut out = String::with_capacity(15);
    push_clock(&mut out, micros, true);
    Some(out)
}

/// Formats a `timetz` as PostgreSQL prints it: `09:32:55+00`,
/// `09:32:55.25+05:30`, `24:00:00+05:30:15`. `zone_west` is the offset in
/// seconds *west* of UTC, as PostgreSQL stores it. `None` when either part
/// is out of range.
pub(crate) fn format_timetz(micros: i64, zone_west: i32) -> Option<String> {
    // PostgreSQL limits time zone offsets to ±15:59:59.
    const MAX_ZONE: i32 = 16 * 3600 - 1;
    if !(-MAX_ZONE..=MAX_ZONE).contains(&zone_west) {
        return None;
    }
    let mut out = format_time_micros(micros)?;
    out.push(if zone_west <= 0 { '+' } else { '-' });
    let zone = i64::from(zone_west.unsigned_abs());
    let (hours, minutes, seconds) = (
        zone / SECS_PER_HOUR,
        zone % SECS_PER_HOUR / SECS_PER_MINUTE,
        zone % SECS_PER_MINUTE,
    );
    push_padded(&mut out, hours.unsigned_abs(), 2);
    if minutes != 0 || seconds != 0 {
        out.push(':');
        push_padded(&mut out, minutes.unsigned_abs(), 2);
    }
    if seconds != 0 {
        out.push(':');
        push_padded(&mut out, seconds.unsigned_abs(), 2);
    }
    Some(out)
}

/// Formats an `interval` as PostgreSQL prints it with IntervalStyle
/// `postgres`: `1 day 02:00:00`, `-9 mons -00:00:01.5`,
/// `1 mon -1 days +03:00:00`, `00:00:00`.
///
/// This follows `EncodeInterval` in PostgreSQL's `datetime.c`: years, months
/// and days as words, each sign written only where it changes, then the
/// clock part whenever it is non-zero or nothing else was printed.
pub(crate) fn format_interval(time: i64, days: i32, months: i32) -> String {
    let mut out = String::with_capacity(32);
    let mut is_zero = true;
    let mut is_before = false;
    let mut push_part = |value: i64, unit: &str, out: &mut String| {
        if value == 0 {
            return;
        }
        if !is_zero {
            out.push(' ');
        }
        if is_before && value > 0 {
            out.push('+');
        }
        if value < 0 {
            out.push('-');
        }
        push_padded(out, value.unsigned_abs(), 1);
        out.push(' ');
        out.push_str(unit);
        if value != 1 {
            out.push('s');
        }
        is_before = value < 0;
        is_zero = false;
    };
    push_part(i64::from(months / 12), "year", &mut out);
    push_part(i64::from(months % 12), "mon", &mut out);
    push_part(i64::from(days), "day", &mut out);
    if is_zero || time != 0 {
        if !is_zero {
            out.push(' ');
        }
        if time < 0 {
            out.push('-');
        } else if is_before {
            out.push('+');
        }
        let magnitude = time.unsigned_abs();
        let hour_usecs = USECS_PER_HOUR.unsigned_abs();
        push_padded(&mut out, magnitude / hour_usecs, 2);
        out.push(':');
        push_clock_tail(&mut out, magnitude % hour_usecs, true);
    }
    out
}

/// A timestamp literal as parsed by [`parse_timestamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParsedTimestamp {
    /// The wall-clock time written, in microseconds since 2000-01-01 00:00.
    pub(crate) local_micros: i64,
    /// The offset written, in seconds east of UTC, if there was one.
    pub(crate) offset_east: Option<i32>,
}

impl ParsedTimestamp {
    /// The instant meant, reading a missing offset as UTC (the session
    /// time zone walcast pins).
    pub(crate) fn utc_micros(self) -> Option<i64> {
        let offset = i64::from(self.offset_east.unwrap_or(0));
        self.local_micros.checked_sub(offset * USECS_PER_SEC)
    }
}

/// Parses the common ISO 8601 timestamp literals a filter may hold:
/// `YYYY-MM-DD`, then optionally `T` or spaces and `HH:MM[:SS[.fraction]]`,
/// then optionally `Z` or an offset `±HH[[:]MM[:SS]]`.
///
/// Returns `None` for anything else (BC dates, named zones, `infinity`),
/// which callers treat as text. The fraction is rounded to microseconds as
/// PostgreSQL does.
pub(crate) fn parse_timestamp(text: &str) -> Option<ParsedTimestamp> {
    let mut cursor = Cursor {
        bytes: text.trim().as_bytes(),
        pos: 0,
    };
    let year = cursor.number(1, 6)?;
    cursor.expect(b'-')?;
    let month = cursor.number(2, 2)?;
    cursor.expect(b'-')?;
    let day = cursor.number(2, 2)?;
    if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut local_micros = days_from_civil(year, month, day).checked_mul(USECS_PER_DAY)?;

    let clock_follows = if cursor.eat(b'T') || cursor.eat(b't') {
        true
    } else {
        cursor.skip_spaces() > 0 && cursor.peek().is_some_and(|b| b.is_ascii_digit())
    };
    if clock_follows {
        local_micros = local_micros.checked_add(cursor.clock()?)?;
    }
    cursor.skip_spaces();
    let offset_east = if cursor.at_end() {
        None
    } else if cursor.eat(b'Z') || cursor.eat(b'z') {
        Some(0)
    } else {
        Some(cursor.offset()?)
    };
    cursor.skip_spaces();
    if !cursor.at_end() {
        return None;
    }
    Some(ParsedTimestamp {
        local_micros,
        offset_east,
    })
}

/// A byte cursor for [`parse_timestamp`].
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn skip_spaces(&mut self) -> usize {
        let start = self.pos;
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
        self.pos - start
    }

    /// An unsigned decimal of `min..=max` digits; stops after `max`.
    fn number(&mut self, min: usize, max: usize) -> Option<i64> {
        let start = self.pos;
        let mut value = 0i64;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            if self.pos - start == max {
                break;
            }
            value = value * 10 + i64::from(digit - b'0');
            self.pos += 1;
        }
        (self.pos - start >= min).then_some(value)
    }

    /// `HH:MM[:SS[.fraction]]` as microseconds; `24:00:00` is allowed.
    fn clock(&mut self) -> Option<i64> {
        let hour = self.number(2, 2)?;
        self.expect(b':')?;
        let minute = self.number(2, 2)?;
        let mut second = 0;
        let mut micros = 0;
        if self.eat(b':') {
            second = self.number(2, 2)?;
            if self.eat(b'.') {
                micros = self.fraction()?;
            }
        }
        let total = ((hour * 60 + minute) * 60 + second) * USECS_PER_SEC + micros;
        (hour <= 24 && minute < 60 && second < 60 && total <= USECS_PER_DAY).then_some(total)
    }

    /// Fraction digits after the point, rounded to microseconds.
    fn fraction(&mut self) -> Option<i64> {
        let start = self.pos;
        let mut micros = 0i64;
        let mut round_up = false;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            let place = self.pos - start;
            if place < 6 {
                micros = micros * 10 + i64::from(digit - b'0');
            } else if place == 6 {
                round_up = digit >= b'5';
            }
            self.pos += 1;
        }
        let places = self.pos - start;
        if places == 0 {
            return None;
        }
        for _ in places..6 {
            micros *= 10;
        }
        Some(micros + i64::from(round_up))
    }

    /// `±HH[[:]MM[:SS]]` as seconds east of UTC.
    fn offset(&mut self) -> Option<i32> {
        let negative = match self.peek()? {
            b'+' => false,
            b'-' => true,
            _ => return None,
        };
        self.pos += 1;
        let hours = self.number(1, 2)?;
        let colon = self.eat(b':');
        let mut minutes = 0;
        let mut seconds = 0;
        if colon || self.peek().is_some_and(|b| b.is_ascii_digit()) {
            minutes = self.number(2, 2)?;
            if colon && self.eat(b':') {
                seconds = self.number(2, 2)?;
            }
        }
        if hours > 15 || minutes > 59 || seconds > 59 {
            return None;
        }
        let total =
            i32::try_from(hours * SECS_PER_HOUR + minutes * SECS_PER_MINUTE + seconds).ok()?;
        Some(if negative { -total } else { total })
    }
}

/// A proleptic Gregorian date; `year` is astronomical (0 is 1 BC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CivilDate {
    year: i64,
    month: u32,
    day: u32,
}

/// Splits microseconds since 2000-01-01 into whole days and the
/// microseconds into the day (always `0..USECS_PER_DAY`).
fn split_days(ts: PgTimestamp) -> (i64, i64) {
    (ts.div_euclid(USECS_PER_DAY), ts.rem_euclid(USECS_PER_DAY))
}

/// Hinnant's `civil_from_days`, counting from 2000-01-01.
fn civil_from_days(pg_days: i64) -> CivilDate {
    let z = pg_days + UNIX_DAYS_AT_PG_EPOCH + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    CivilDate {
        year,
        // Both are in small ranges (see above), so the casts cannot truncate.
        month: month as u32,
        day: day as u32,
    }
}

/// Hinnant's `days_from_civil`, counting from 2000-01-01. `month` must be
/// `1..=12`.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400); // [0, 399]
    let mp = if month > 2 { month - 3 } else { month + 9 }; // [0, 11]
    let doy = (153 * mp + 2) / 5 + day - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468 - UNIX_DAYS_AT_PG_EPOCH
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn time_fraction(time_of_day: i64) -> u64 {
    (time_of_day % USECS_PER_SEC).unsigned_abs()
}

/// The year as PostgreSQL prints it: at least four digits, BC years
/// counted from 1 (the ` BC` marker is [`push_era`]'s job).
fn push_year(out: &mut String, year: i64) {
    let shown = if year <= 0 { 1 - year } else { year };
    push_padded(out, shown.unsigned_abs(), 4);
}

fn push_month_day(out: &mut String, date: CivilDate) {
    out.push('-');
    push_padded(out, u64::from(date.month), 2);
    out.push('-');
    push_padded(out, u64::from(date.day), 2);
}

fn push_era(out: &mut String, year: i64) {
    if year <= 0 {
        out.push_str(" BC");
    }
}

/// `HH:MM:SS`, then the fraction (trimmed) when `fraction` is set.
fn push_clock(out: &mut String, micros: i64, fraction: bool) {
    let micros = micros.unsigned_abs();
    let hour_usecs = USECS_PER_HOUR.unsigned_abs();
    push_padded(out, micros / hour_usecs, 2);
    out.push(':');
    push_clock_tail(out, micros % hour_usecs, fraction);
}

/// `MM:SS` of the microseconds within an hour, then `.ffffff` with trailing
/// zeros trimmed if `fraction` is set and there is one.
fn push_clock_tail(out: &mut String, micros_in_hour: u64, fraction: bool) {
    let seconds = micros_in_hour / 1_000_000;
    push_padded(out, seconds / 60, 2);
    out.push(':');
    push_padded(out, seconds % 60, 2);
    let mut frac = micros_in_hour % 1_000_000;
    if fraction && frac != 0 {
        let mut width = 6;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        out.push('.');
        push_padded(out, frac, width);
    }
}

/// Appends `value` in decimal, zero-padded to at least `width` digits
/// (at most 20, the digits of `u64::MAX`).
pub(crate) fn push_padded(out: &mut String, value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    let mut rest = value;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
        start -= 1;
        if rest == 0 {
            break;
        }
    }
    let start = start.min(digits.len().saturating_sub(width));
    for &digit in digits.iter().skip(start) {
        out.push(char::from(digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_timestamp_at_epoch() {
        assert_eq!(format_commit_timestamp(0), "2000-01-01T00:00:00.000Z");
    }

    #[test]
    fn commit_timestamp_truncates_milliseconds() {
        // to_char('1999-12-31 23:59:59.999999+00' at time zone 'utc', ...)
        assert_eq!(format_commit_timestamp(-1), "1999-12-31T23:59:59.999Z");
        // to_char(to_timestamp(1.9999) ...) = 1970-01-01T00:00:01.999Z
        let ts = -PG_EPOCH_OFFSET_MICROS + 1_999_900;
        assert_eq!(ts, 0xfffc_a2fe_c4e6_a41c_u64 as i64);
        assert_eq!(format_commit_timestamp(ts), "1970-01-01T00:00:01.999Z");
        // timestamptz_send('1969-07-20 20:17:40.0005+00')
        let moon = 0xfffc_9618_8bae_62f4_u64 as i64;
        assert_eq!(format_commit_timestamp(moon), "1969-07-20T20:17:40.000Z");
    }

    #[test]
    fn commit_timestamp_known_values() {
        // timestamptz_send('2024-02-29 12:34:56.789+00'), a leap day
        assert_eq!(
            format_commit_timestamp(0x0002_b583_4172_8608),
            "2024-02-29T12:34:56.789Z"
        );
        // '2025-11-03 09:32:55.123+00', from timestamptz_send: 0x0002e5ac2b300038
        assert_eq!(
            format_commit_timestamp(0x0002_e5ac_2b30_0038),
            "2025-11-03T09:32:55.123Z"
        );
        // timestamptz_send('1600-03-01 00:00:00+00'), a 400-year era boundary
        let ts = 0xffd3_2c5c_d0d1_2000_u64 as i64;
        assert_eq!(ts, days_from_civil(1600, 3, 1) * USECS_PER_DAY);
        assert_eq!(format_commit_timestamp(ts), "1600-03-01T00:00:00.000Z");
        // timestamptz_send('0001-12-31 00:00:00+00 BC'): to_char's YYYY
        // shows the BC year.
        let ts = 0xff1f_e2eb_a7c5_0000_u64 as i64;
        assert_eq!(format_commit_timestamp(ts), "0001-12-31T00:00:00.000Z");
    }

    #[test]
    fn commit_timestamp_extremes_do_not_panic() {
        assert_eq!(
            format_commit_timestamp(i64::MAX),
            "294277-01-09T04:00:54.775Z"
        );
        assert_eq!(
            format_commit_timestamp(i64::MIN),
            "290279-12-22T19:59:05.224Z"
        );
    }

    #[test]
    fn timestamptz_like_to_jsonb() {
        assert_eq!(format_timestamptz_micros(0), "2000-01-01T00:00:00+00:00");
        assert_eq!(
            format_timestamptz_micros(0x0002_e5ac_2b30_0038),
            "2025-11-03T09:32:55.123+00:00"
        );
        assert_eq!(
            format_timestamptz_micros(-1),
            "1999-12-31T23:59:59.999999+00:00"
        );
        assert_eq!(
            format_timestamptz_micros(10),
            "2000-01-01T00:00:00.00001+00:00"
        );
        // timestamptz_send('0001-01-01 00:00:00+00 BC') = 0xff1fc63d1bb12000
        assert_eq!(
            format_timestamptz_micros(0xff1f_c63d_1bb1_2000_u64 as i64),
            "0001-01-01T00:00:00+00:00 BC"
        );
        // timestamptz_send('20000-01-01 00:00:00+00')
        let ts = 0x07e2_07da_06c5_e000;
        assert_eq!(format_timestamptz_micros(ts), "20000-01-01T00:00:00+00:00");
        // timestamptz_send('294276-12-31 23:59:59.999999+00'), the last one
        let ts = 0x7fff_ff5b_b3b2_9fff;
        assert_eq!(
            format_timestamptz_micros(ts),
            "294276-12-31T23:59:59.999999+00:00"
        );
        assert_eq!(format_timestamptz_micros(i64::MAX), "infinity");
        assert_eq!(format_timestamptz_micros(i64::MIN), "-infinity");
        assert_eq!(format_timestamp_micros(1_500_000), "2000-01-01T00:00:01.5");
    }

    #[test]
    fn dates() {
        assert_eq!(format_date_days(0x24de), "2025-11-03");
        // date_send('0044-03-15 BC') = 0xfff49d7b
        assert_eq!(format_date_days(0xfff4_9d7b_u32 as i32), "0044-03-15 BC");
        assert_eq!(format_date_days(i32::MAX), "infinity");
        assert_eq!(format_date_days(i32::MIN), "-infinity");
        assert_eq!(format_date_days(-1), "1999-12-31");
    }

    #[test]
    fn civil_round_trip() {
        for days in (-3_000_000..3_000_000).step_by(97) {
            let date = civil_from_days(days);
            assert_eq!(
                days_from_civil(date.year, i64::from(date.month), i64::from(date.day)),
                days
            );
        }
        assert_eq!(days_from_civil(1970, 1, 1), -UNIX_DAYS_AT_PG_EPOCH);
        assert_eq!(
            civil_from_days(59),
            CivilDate {
                year: 2000,
                month: 2,
                day: 29
            }
        );
    }

    #[test]
    fn times() {
        // time/timetz_send values from a real server.
        assert_eq!(format_time_micros(0).as_deref(), Some("00:00:00"));
        assert_eq!(
            format_time_micros(USECS_PER_DAY).as_deref(),
            Some("24:00:00")
        );
        assert_eq!(format_time_micros(USECS_PER_DAY + 1), None);
        assert_eq!(format_time_micros(-1), None);
        assert_eq!(
            format_timetz(0x08_00ec_b050, 0xffff_b2a8_u32 as i32).as_deref(),
            Some("09:32:55.25+05:30")
        );
        assert_eq!(
            format_timetz(0x08_00e8_dfc0, 0x7080).as_deref(),
            Some("09:32:55-08")
        );
        assert_eq!(format_timetz(0, 0).as_deref(), Some("00:00:00+00"));
        assert_eq!(
            format_timetz(0x14_1dd7_6000, 0xffff_b299_u32 as i32).as_deref(),
            Some("24:00:00+05:30:15")
        );
        assert_eq!(format_timetz(0, i32::MIN), None);
    }

    #[test]
    fn intervals_like_intervalstyle_postgres() {
        // (interval_send bytes: time, days, months) → ::text, from a real server.
        let cases: &[(i64, i32, i32, &str)] = &[
            (0x0000_0001_ad27_4800, 1, 0, "1 day 02:00:00"),
            (-1_500_000, 0, -9, "-9 mons -00:00:01.5"),
            (0, 0, 0, "00:00:00"),
            (0, 0, 12, "1 year"),
            (0, 0, -25, "-2 years -1 mons"),
            (0x0000_0002_83ba_ec00, -1, 1, "1 mon -1 days +03:00:00"),
            (0x0000_0003_5a4e_9000, -3, 0, "-3 days +04:00:00"),
            (0x0000_0053_d1ac_1001, 0, 0, "100:00:00.000001"),
            (-7_200_000_000, -1, 0, "-1 days -02:00:00"),
            (0, 0, 14, "1 year 2 mons"),
            (-250_000, 1, 0, "1 day -00:00:00.25"),
        ];
        for &(time, days, months, text) in cases {
            assert_eq!(format_interval(time, days, months), text);
        }
        assert!(format_interval(i64::MIN, i32::MIN, i32::MIN).starts_with('-'));
    }

    #[test]
    fn parses_filter_timestamps() {
        let utc = |text: &str| {
            parse_timestamp(text)
                .and_then(ParsedTimestamp::utc_micros)
                .map(format_timestamptz_micros)
        };
        assert_eq!(
            utc("2025-11-03").as_deref(),
            Some("2025-11-03T00:00:00+00:00")
        );
        assert_eq!(
            utc("2025-11-03T09:32:55.5Z").as_deref(),
            Some("2025-11-03T09:32:55.5+00:00")
        );
        assert_eq!(
            utc(" 2025-11-03 09:32+05:30 ").as_deref(),
            Some("2025-11-03T04:02:00+00:00")
        );
        assert_eq!(
            utc("2025-11-03 09:32:55.1234567-0800").as_deref(),
            Some("2025-11-03T17:32:55.123457+00:00")
        );
        assert_eq!(
            utc("2025-11-03 09:32:55+00:19:32").as_deref(),
            Some("2025-11-03T09:13:23+00:00")
        );
        assert_eq!(
            utc("2024-02-29 24:00:00").as_deref(),
            Some("2024-03-01T00:00:00+00:00")
        );
        for bad in [
            "",
            "2025",
            "2025-13-01",
            "2023-02-29",
            "2025-11-03T",
            "2025-11-03 25:00",
            "2025-11-03 09:60",
            "infinity",
            "2025-11-03 09:32 BC",
            "2025-11-03 09:32 UTC",
            "0000-01-01",
            "2025-11-03 09:32:55.",
            "2025-11-03 +16",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        let local = parse_timestamp("2025-11-03 09:32:55+05:30").map(|p| p.local_micros);
        assert_eq!(
            local.map(format_timestamp_micros).as_deref(),
            Some("2025-11-03T09:32:55")
        );
    }

    #[test]
    fn padding() {
        let mut out = String::new();
        push_padded(&mut out, 7, 3);
        push_padded(&mut out, 12345, 2);
        push_padded(&mut out, u64::MAX, 1);
        push_padded(&mut out, 0, 25);
        assert_eq!(out, "007123451844674407370955161500000000000000000000");
    }
}
