//! Column values with `to_jsonb` semantics.
//!
//! ```text
//!  pgoutput text value ──decode_text(kind)────┐
//!  pgoutput binary value ──decode_binary(ty)──┼──▶ Datum ──Serialize──▶ record / old_record JSON
//!  filter literal ──from_filter_text(kind)────┘      └──compare──▶ filter match
//! ```
//!
//! Supabase sends every value as `to_jsonb(text::type)`. walcast receives the
//! same text from pgoutput, printed under the session settings the
//! replication connection pins (DateStyle ISO, TimeZone UTC, IntervalStyle
//! postgres, extra_float_digits 3, bytea_output hex), and rewrites it only
//! where `to_jsonb` prints something else than the type's output function:
//!
//! - `bool`, integers, `float4`/`float8`, `numeric` become JSON booleans and
//!   numbers. `to_jsonb` stores numbers as `numeric`, so a float printed in
//!   exponent form is expanded (`1e-05` → `0.00001`) and `-0` becomes `0`.
//!   `NaN`, `Infinity` and `-Infinity` stay strings.
//! - `timestamptz` and `timestamp` take a `T` and a `+HH:MM` offset
//!   (`2025-11-03 09:32:55.123+00` → `2025-11-03T09:32:55.123+00:00`); BC
//!   values keep their ` BC` suffix, infinities stay as they are.
//! - `json`/`jsonb` are embedded as they are; arrays are parsed.
//! - Everything else (`date`, `time`, `timetz`, `interval`, `bytea`, text
//!   types, uuid, …) is its text as a JSON string.
//!
//! Decoding never fails: text that does not read as its type prints is sent
//! as a string (invalid UTF-8 replaced), so a surprise costs a
//! differently-typed value, never a lost change.
//!
//! Known differences from `to_jsonb`: `json` (not `jsonb`) values are
//! embedded verbatim, where `to_jsonb` would normalise spacing, key order and
//! duplicate keys; types announced by a Type message are strings (see
//! [`PgType::from_type_message`]).

use std::borrow::Cow;
use std::cmp::Ordering;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::time;
use crate::types::{PgType, TypeKind};

/// A column value with `to_jsonb` semantics, ready to serialize into a
/// record and to compare in filters.
#[derive(Debug, Clone)]
pub enum Datum {
    /// SQL `NULL`: JSON `null`.
    Null,
    /// A `bool`.
    Bool(bool),
    /// An `int2`, `int4` or `int8`.
    Int(i64),
    /// A `float4`, `float8` or `numeric`, with the digits PostgreSQL printed
    /// in `numeric` form: `-?digits(.digits)?`, never an exponent.
    Number(Box<RawValue>),
    /// Any value `to_jsonb` prints as a string.
    String(Box<str>),
    /// A `json` or `jsonb` value, embedded as is.
    Json(Box<RawValue>),
    /// An array; several dimensions nest.
    Array(Vec<Datum>),
}

impl Serialize for Datum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Datum::Null => serializer.serialize_unit(),
            Datum::Bool(value) => serializer.serialize_bool(*value),
            Datum::Int(value) => serializer.serialize_i64(*value),
            Datum::Number(raw) | Datum::Json(raw) => raw.serialize(serializer),
            Datum::String(value) => serializer.serialize_str(value),
            Datum::Array(items) => serializer.collect_seq(items),
        }
    }
}

/// Structural equality: same variant, same value, numbers and JSON compared
/// by their text (`1.50` ≠ `1.5`). Filters use [`Datum::compare`].
impl PartialEq for Datum {
    fn eq(&self, other: &Datum) -> bool {
        match (self, other) {
            (Datum::Null, Datum::Null) => true,
            (Datum::Bool(a), Datum::Bool(b)) => a == b,
            (Datum::Int(a), Datum::Int(b)) => a == b,
            (Datum::Number(a), Datum::Number(b)) | (Datum::Json(a), Datum::Json(b)) => {
                a.get() == b.get()
            }
            (Datum::String(a), Datum::String(b)) => a == b,
            (Datum::Array(a), Datum::Array(b)) => a == b,
            _ => false,
        }
    }
}

impl Datum {
    /// Orders two values the way a filter compares them, or `None` when they
    /// do not compare (different kinds, SQL `NULL`, JSON).
    ///
    /// - integers and numbers compare by exact decimal value (`1.50` equals
    ///   `1.5` and `2`, no floating point), with PostgreSQL's order for the
    ///   float specials `-Infinity` < numbers < `Infinity` < `NaN`;
    /// - strings compare by bytes (collation `C`), so timestamps compare
    ///   right when both are in the UTC ISO form walcast produces and have
    ///   4-digit years; `bpchar` trailing spaces count;
    /// - booleans: `false` < `true`;
    /// - arrays element by element, a `NULL` element after any value, then
    ///   by length, as PostgreSQL orders arrays.
    pub fn compare(&self, other: &Datum) -> Option<Ordering> {
        match (self, other) {
            (Datum::Int(a), Datum::Int(b)) => Some(a.cmp(b)),
            (Datum::Bool(a), Datum::Bool(b)) => Some(a.cmp(b)),
            (Datum::String(a), Datum::String(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (Datum::Int(_) | Datum::Number(_), Datum::Int(_) | Datum::Number(_)) => {
                let (mut a_buf, mut b_buf) = ([0; 20], [0; 20]);
                compare_decimals(
                    self.decimal_text(&mut a_buf)?,
                    other.decimal_text(&mut b_buf)?,
                )
            }
            (Datum::Int(_) | Datum::Number(_), Datum::String(special)) => {
                float_special_rank(special).map(|rank| 0.cmp(&rank))
            }
            (Datum::String(special), Datum::Int(_) | Datum::Number(_)) => {
                float_special_rank(special).map(|rank| rank.cmp(&0))
            }
            (Datum::Array(a), Datum::Array(b)) => compare_arrays(a, b),
            _ => None,
        }
    }

    /// The decimal text of an `Int` (written into `buf`) or a `Number`.
    fn decimal_text<'a>(&'a self, buf: &'a mut [u8; 20]) -> Option<&'a str> {
        match self {
            Datum::Number(raw) => Some(raw.get()),
            Datum::Int(value) => {
                let mut start = buf.len();
                let mut rest = value.unsigned_abs();
                for slot in buf.iter_mut().rev() {
                    *slot = b'0' + (rest % 10) as u8;
                    rest /= 10;
                    start -= 1;
                    if rest == 0 {
                        break;
                    }
                }
                if *value < 0 {
                    start = start.checked_sub(1)?;
                    *buf.get_mut(start)? = b'-';
                }
                std::str::from_utf8(buf.get(start..)?).ok()
            }
            _ => None,
        }
    }
}

/// Decodes a value pgoutput sent as text into what `to_jsonb` makes of it.
///
/// Never fails: text that does not read as `kind` prints becomes a string.
pub fn decode_text(kind: &TypeKind, text: &[u8]) -> Datum {
    match kind {
        TypeKind::Bool => match text {
            b"t" => Datum::Bool(true),
            b"f" => Datum::Bool(false),
            _ => string(text),
        },
        TypeKind::Int => parse_int(text).map_or_else(|| string(text), Datum::Int),
        TypeKind::Float | TypeKind::Numeric => decode_number(text),
        TypeKind::Json => decode_json(text),
        TypeKind::Timestamptz => decode_timestamp(text, true),
        TypeKind::Timestamp => decode_timestamp(text, false),
        TypeKind::Array(element) => decode_array(element, text).unwrap_or_else(|| string(text)),
        TypeKind::Text
        | TypeKind::Uuid
        | TypeKind::Bytea
        | TypeKind::Date
        | TypeKind::Time
        | TypeKind::Timetz
        | TypeKind::Interval
        | TypeKind::Other => string(text),
    }
}

/// Turns a filter literal (the `42` of `id=eq.42`) into a [`Datum`] of the
/// column's kind, so that [`Datum::compare`] compares like PostgreSQL would
/// after casting the literal to the column type.
///
/// Beyond [`decode_text`], this accepts the spellings PostgreSQL's input
/// functions accept: surrounding spaces, `true`/`yes`/`on`/`1` for `bool`,
/// `+7`, `1e3` and `inf` for numbers, upper-case or braced uuids, and ISO
/// timestamps with `T`, `Z` or any offset (converted to UTC, the session
/// time zone). Literals that still do not parse become strings, which
/// compare with nothing of another kind.
pub fn from_filter_text(kind: &TypeKind, text: &str) -> Datum {
    match kind {
        TypeKind::Bool => parse_bool(text).map_or_else(|| string(text.as_bytes()), Datum::Bool),
        TypeKind::Int => text
            .trim()
            .parse()
            .map_or_else(|_| string(text.as_bytes()), Datum::Int),
        TypeKind::Uuid => canonical_uuid(text).map_or_else(
            || string(text.as_bytes()),
            |uuid| Datum::String(uuid.into()),
        ),
        TypeKind::Timestamptz => time::parse_timestamp(text)
            .and_then(time::ParsedTimestamp::utc_micros)
            .map_or_else(
                || decode_text(kind, text.as_bytes()),
                |micros| Datum::String(time::format_timestamptz_micros(micros).into()),
            ),
        TypeKind::Timestamp => time::parse_timestamp(text).map_or_else(
            || decode_text(kind, text.as_bytes()),
            |parsed| Datum::String(time::format_timestamp_micros(parsed.local_micros).into()),
        ),
        _ => decode_text(kind, text.as_bytes()),
    }
}

/// Decodes a value pgoutput sent in binary (send/recv) format.
///
/// Handles the binary formats of `bool`, the integers, floats, `numeric`,
/// text types, `uuid`, `json`, `jsonb`, `bytea`, dates, times, timestamps,
/// `interval` and arrays of those, producing the same [`Datum`] as the text
/// format would. Any other type, and a value whose length does not fit its
/// type, becomes the string `\x` followed by the bytes in hex, the way
/// `bytea` prints. For types announced by a Type message (kind
/// [`TypeKind::Text`]) the bytes are taken as text when they are UTF-8
/// without NUL (enums, citext), and as hex otherwise (domains over binary
/// types, composites).
pub fn decode_binary(ty: &PgType, bytes: &[u8]) -> Datum {
    decode_binary_kind(&ty.kind, ty.oid, bytes).unwrap_or_else(|| hex_string(bytes))
}

/// A value as a JSON string: its text, with invalid UTF-8 replaced.
fn string(text: &[u8]) -> Datum {
    Datum::String(Box::from(String::from_utf8_lossy(text).as_ref()))
}

/// An integer as PostgreSQL prints it: `-?[0-9]+`.
fn parse_int(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', digits)) => (true, digits),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulate negatively so that i64::MIN parses.
    let mut value: i64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value
            .checked_mul(10)?
            .checked_sub(i64::from(digit - b'0'))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// PostgreSQL's `boolin`: a prefix of `true`/`false`/`yes`/`no`, `on`,
/// `off`, `1`, `0`, any case, spaces around.
fn parse_bool(text: &str) -> Option<bool> {
    let word = text.trim().to_ascii_lowercase();
    let prefix_of = |full: &str, min: usize| word.len() >= min && full.starts_with(&*word);
    if prefix_of("true", 1) || prefix_of("yes", 1) || word == "on" || word == "1" {
        Some(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || word == "0" {
        Some(false)
    } else {
        None
    }
}

/// A uuid in PostgreSQL's output form (lower case, 8-4-4-4-12) from any
/// form `uuid_in` accepts: upper case, braces, hyphens after any group of
/// four digits.
fn canonical_uuid(text: &str) -> Option<String> {
    let text = text.trim();
    let text = match text.strip_prefix('{') {
        Some(inner) => inner.strip_suffix('}')?,
        None => text,
    };
    let mut hex = [0u8; 32];
    let mut count = 0;
    let mut previous_hyphen = true;
    for byte in text.bytes() {
        if byte == b'-' {
            if previous_hyphen || count % 4 != 0 {
                return None;
            }
            previous_hyphen = true;
        } else if byte.is_ascii_hexdigit() {
            *hex.get_mut(count)? = byte.to_ascii_lowercase();
            count += 1;
            previous_hyphen = false;
        } else {
            return None;
        }
    }
    if count != 32 || previous_hyphen {
        return None;
    }
    let mut out = String::with_capacity(36);
    for (index, &digit) in hex.iter().enumerate() {
        if matches!(index, 8 | 12 | 16 | 20) {
            out.push('-');
        }
        out.push(char::from(digit));
    }
    Some(out)
}

/// A number in the form `numeric_out` prints, which is how `to_jsonb`
/// prints every number.
#[derive(Debug, PartialEq)]
enum NumberText<'a> {
    /// The input, already in that form.
    Canonical(&'a str),
    /// The input rewritten into that form.
    Rewritten(String),
    /// `NaN`, `Infinity` or `-Infinity`, spelled as PostgreSQL prints them.
    Special(&'static str),
    /// Not a number.
    Invalid,
}

/// How far an exponent may move the decimal point; `numeric_in` rejects
/// more, and it bounds the rewritten text's length.
const MAX_EXPONENT: i64 = 1000;

/// Reads a float or numeric literal (`-1.5e-07`, `+.5`, ` 007 `, `inf`) and
/// returns it as `numeric_out` would print the same value: no exponent, no
/// leading zeros, as many fraction digits as the literal's scale, no sign
/// on zero.
fn number_text(input: &[u8]) -> NumberText<'_> {
    // The hot path: PostgreSQL's own output, not in exponent form.
    if is_numeric_out_form(input) {
        return match std::str::from_utf8(input) {
            Ok(text) => NumberText::Canonical(text),
            Err(_) => NumberText::Invalid,
        };
    }
    let text = input.trim_ascii();
    let (negative, body) = match text.split_first() {
        Some((b'-', body)) => (true, body),
        Some((b'+', body)) => (false, body),
        _ => (false, text),
    };
    if body.eq_ignore_ascii_case(b"infinity") || body.eq_ignore_ascii_case(b"inf") {
        return NumberText::Special(if negative { "-Infinity" } else { "Infinity" });
    }
    if text.eq_ignore_ascii_case(b"nan") {
        return NumberText::Special("NaN");
    }
    match DecimalLiteral::parse(negative, body) {
        Some(literal) => NumberText::Rewritten(literal.to_numeric_out()),
        None => NumberText::Invalid,
    }
}

/// Whether `text` is exactly what `numeric_out` prints for some value:
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, and not a negative zero.
fn is_numeric_out_form(text: &[u8]) -> bool {
    let (negative, unsigned) = match text.split_first() {
        Some((b'-', unsigned)) => (true, unsigned),
        _ => (false, text),
    };
    let (int, frac) = match unsigned.iter().position(|&b| b == b'.') {
        Some(point) => match (unsigned.get(..point), unsigned.get(point + 1..)) {
            (Some(int), Some(frac)) if !frac.is_empty() => (int, frac),
            _ => return false,
        },
        None => (unsigned, &[][..]),
    };
    let digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
    let leading_zero = int.len() > 1 && int.first() == Some(&b'0');
    let zero = int.iter().chain(frac).all(|&b| b == b'0');
    !int.is_empty() && digits(int) && digits(frac) && !leading_zero && !(negative && zero)
}

/// A decimal literal in any form PostgreSQL's numeric and float input
/// accept: `digits[.digits][e[+-]digits]`, digits on at least one side of
/// the point.
struct DecimalLiteral<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
    /// Within ±[`MAX_EXPONENT`].
    exponent: i64,
}

impl<'a> DecimalLiteral<'a> {
    /// `body` is the literal after its sign.
    fn parse(negative: bool, body: &'a [u8]) -> Option<DecimalLiteral<'a>> {
        let digits_end = |from: usize| {
            body.iter()
                .skip(from)
                .position(|b| !b.is_ascii_digit())
                .map_or(body.len(), |n| from + n)
        };
        let int_end = digits_end(0);
        let (frac_start, frac_end) = if body.get(int_end) == Some(&b'.') {
            (int_end + 1, digits_end(int_end + 1))
        } else {
            (int_end, int_end)
        };
        let int = body.get(..int_end)?;
        let frac = body.get(frac_start..frac_end)?;
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let exponent = match body.get(frac_end..)?.split_first() {
            None => 0,
            Some((marker, rest)) if marker.eq_ignore_ascii_case(&b'e') => parse_exponent(rest)?,
            Some(_) => return None,
        };
        Some(DecimalLiteral {
            negative,
            int,
            frac,
            exponent,
        })
    }

    /// The digits with the point moved by the exponent, printed like
    /// `numeric_out`: scale `max(0, fraction digits - exponent)`.
    fn to_numeric_out(&self) -> String {
        let digit_at = |index: i64| -> u8 {
            let Ok(index) = usize::try_from(index) else {
                return b'0';
            };
            self.int
                .get(index)
                .or_else(|| {
                    index
                        .checked_sub(self.int.len())
                        .and_then(|i| self.frac.get(i))
                })
                .copied()
                .unwrap_or(b'0')
        };
        // Lengths come from a slice, so they fit i64.
        let point = self.int.len() as i64 + self.exponent;
        let scale = (self.frac.len() as i64 - self.exponent).max(0);
        let zero = self.int.iter().chain(self.frac).all(|&b| b == b'0');
        let capacity = usize::try_from(point.max(1) + scale + 2).unwrap_or(0);
        let mut out = String::with_capacity(capacity);
        if self.negative && !zero {
            out.push('-');
        }
        let first_significant = (0..point).find(|&i| digit_at(i) != b'0').unwrap_or(point);
        if first_significant == point {
            out.push('0');
        }
        for index in first_significant..point {
            out.push(char::from(digit_at(index)));
        }
        if scale > 0 {
            out.push('.');
            for index in point..point + scale {
                out.push(char::from(digit_at(index)));
            }
        }
        out
    }
}

/// `[+-]digits` after an `e`, within ±[`MAX_EXPONENT`].
fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', digits)) => (true, digits),
        Some((b'+', digits)) => (false, digits),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut exponent: i64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        exponent = exponent * 10 + i64::from(digit - b'0');
        if exponent > MAX_EXPONENT {
            return None;
        }
    }
    Some(if negative { -exponent } else { exponent })
}

fn decode_number(text: &[u8]) -> Datum {
    match number_text(text) {
        NumberText::Canonical(number) => raw_number(number.to_owned(), text),
        NumberText::Rewritten(number) => raw_number(number, text),
        NumberText::Special(special) => Datum::String(special.into()),
        NumberText::Invalid => string(text),
    }
}

/// `number` (a valid JSON number) as a [`Datum::Number`]; `original` as a
/// string should serde_json disagree.
fn raw_number(number: String, original: &[u8]) -> Datum {
    RawValue::from_string(number).map_or_else(|_| string(original), Datum::Number)
}

/// PostgreSQL's order of the float specials among numbers (numbers are 0).
fn float_special_rank(text: &str) -> Option<i8> {
    match text {
        "-Infinity" => Some(-1),
        "Infinity" => Some(1),
        "NaN" => Some(2),
        _ => None,
    }
}

/// Compares two decimal numbers exactly when both are plain decimals
/// (`-?digits(.digits)?`), otherwise as `f64`.
fn compare_decimals(a: &str, b: &str) -> Option<Ordering> {
    let (Some(a_parts), Some(b_parts)) = (PlainDecimal::parse(a), PlainDecimal::parse(b)) else {
        return a.parse::<f64>().ok()?.partial_cmp(&b.parse::<f64>().ok()?);
    };
    Some(match (a_parts.negative, b_parts.negative) {
        (false, false) => a_parts.cmp_magnitude(&b_parts),
        (true, true) => b_parts.cmp_magnitude(&a_parts),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    })
}

/// A plain decimal split for exact comparison.
struct PlainDecimal<'a> {
    /// Never set for zero.
    negative: bool,
    /// Integer digits without leading zeros.
    int: &'a str,
    /// Fraction digits without trailing zeros.
    frac: &'a str,
}

impl<'a> PlainDecimal<'a> {
    /// `-?digits(.digits)?`, or `None`.
    fn parse(text: &'a str) -> Option<PlainDecimal<'a>> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(unsigned) => (true, unsigned),
            None => (false, text),
        };
        let (int, frac, has_point) = match unsigned.split_once('.') {
            Some((int, frac)) => (int, frac, true),
            None => (unsigned, "", false),
        };
        let valid = !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && (!has_point || !frac.is_empty());
        if !valid {
            return None;
        }
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        Some(PlainDecimal {
            negative: negative && !(int.is_empty() && frac.is_empty()),
            int,
            frac,
        })
    }

    /// More integer digits is larger; then digit by digit.
    fn cmp_magnitude(&self, other: &PlainDecimal<'_>) -> Ordering {
        self.int
            .len()
            .cmp(&other.int.len())
            .then_with(|| self.int.cmp(other.int))
            .then_with(|| self.frac.cmp(other.frac))
    }
}

fn compare_arrays(a: &[Datum], b: &[Datum]) -> Option<Ordering> {
    for (x, y) in a.iter().zip(b) {
        let order = match (x, y) {
            (Datum::Null, Datum::Null) => Ordering::Equal,
            (Datum::Null, _) => Ordering::Greater,
            (_, Datum::Null) => Ordering::Less,
            _ => x.compare(y)?,
        };
        if order != Ordering::Equal {
            return Some(order);
        }
    }
    Some(a.len().cmp(&b.len()))
}

fn decode_json(text: &[u8]) -> Datum {
    match std::str::from_utf8(text) {
        Ok(json) => {
            RawValue::from_string(json.to_owned()).map_or_else(|_| string(text), Datum::Json)
        }
        Err(_) => string(text),
    }
}

fn decode_timestamp(text: &[u8], with_offset: bool) -> Datum {
    iso_timestamp(text, with_offset).map_or_else(|| string(text), |iso| Datum::String(iso.into()))
}

/// `to_jsonb`'s form of a timestamp PostgreSQL printed with DateStyle ISO:
/// the space before the time becomes `T` and a `±HH` offset becomes
/// `±HH:00`; `±HH:MM` and `±HH:MM:SS` offsets and a ` BC` suffix stay.
/// `None` when the text has another shape (`infinity` has no space).
fn iso_timestamp(text: &[u8], with_offset: bool) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    let (date, rest) = text.split_once(' ')?;
    let (rest, era) = match rest.strip_suffix(" BC") {
        Some(rest) => (rest, " BC"),
        None => (rest, ""),
    };
    let (clock, offset) = if with_offset {
        rest.split_at(rest.find(['+', '-'])?)
    } else {
        (rest, "")
    };
    let valid = !date.is_empty()
        && date.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && clock.len() >= 8
        && clock
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b':' || b == b'.')
        && offset
            .bytes()
            .skip(1)
            .all(|b| b.is_ascii_digit() || b == b':')
        && matches!(offset.len(), 0 | 3 | 6 | 9);
    if !valid || (with_offset && offset.is_empty()) {
        return None;
    }
    let short_offset = offset.len() == 3;
    let mut iso = String::with_capacity(text.len() + if short_offset { 3 } else { 0 });
    iso.push_str(date);
    iso.push('T');
    iso.push_str(clock);
    iso.push_str(offset);
    if short_offset {
        iso.push_str(":00");
    }
    iso.push_str(era);
    Some(iso)
}

/// PostgreSQL arrays have at most 6 dimensions (`MAXDIM`).
const MAX_ARRAY_DIMENSIONS: usize = 6;

/// Parses an array literal as `array_out` prints it (and most of what
/// `array_in` accepts): `{1,2,NULL}`, `{"a b","c\"d"}`, `{{1,2},{3,4}}`,
/// `[0:1]={1,2}`, `{}`. `None` when malformed.
fn decode_array(element: &TypeKind, text: &[u8]) -> Option<Datum> {
    let mut literal = ArrayLiteral {
        input: text,
        pos: 0,
        element,
    };
    literal.skip_whitespace();
    if literal.peek() == Some(b'[') {
        literal.skip_dimensions()?;
    }
    literal.expect(b'{')?;
    let items = literal.items(1)?;
    literal.skip_whitespace();
    (literal.pos == text.len()).then_some(Datum::Array(items))
}

/// A cursor over an array literal.
struct ArrayLiteral<'a> {
    input: &'a [u8],
    pos: usize,
    element: &'a TypeKind,
}

impl<'a> ArrayLiteral<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next_byte()? == byte).then_some(())
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(is_array_space) {
            self.pos += 1;
        }
    }

    /// `[lower:upper]...=`: the bounds do not change the JSON.
    fn skip_dimensions(&mut self) -> Option<()> {
        while self.peek() == Some(b'[') {
            self.pos += 1;
            let close = self
                .input
                .get(self.pos..)?
                .iter()
                .position(|&b| b == b']')?;
            let bounds = self.input.get(self.pos..self.pos + close)?;
            if !bounds.iter().all(|&b| {
                b.is_ascii_digit() || matches!(b, b':' | b'-' | b'+') || is_array_space(b)
            }) {
                return None;
            }
            self.pos += close + 1;
            self.skip_whitespace();
        }
        self.expect(b'=')?;
        self.skip_whitespace();
        Some(())
    }

    /// The items of one level, after its `{`, through its `}`. Every item
    /// of a level is a sub-array, or none is.
    fn items(&mut self, depth: usize) -> Option<Vec<Datum>> {
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Some(items);
        }
        let mut nested = None;
        loop {
            self.skip_whitespace();
            let is_sub_array = self.peek() == Some(b'{');
            if *nested.get_or_insert(is_sub_array) != is_sub_array {
                return None;
            }
            if is_sub_array {
                if depth >= MAX_ARRAY_DIMENSIONS {
                    return None;
                }
                self.pos += 1;
                items.push(Datum::Array(self.items(depth + 1)?));
            } else {
                items.push(self.element()?);
            }
            self.skip_whitespace();
            match self.next_byte()? {
                b',' => {}
                b'}' => return Some(items),
                _ => return None,
            }
        }
    }

    /// One element: quoted (never NULL) or bare (`NULL` in any case is
    /// NULL), backslash escaping the next byte in both.
    fn element(&mut self) -> Option<Datum> {
        let quoted = self.peek() == Some(b'"');
        if quoted {
            self.pos += 1;
        }
        let start = self.pos;
        let mut unescaped: Option<Vec<u8>> = None;
        // End of the element's bytes in `input` (no escapes) or in
        // `unescaped`, leaving out a bare element's trailing whitespace.
        let mut end = start;
        loop {
            let byte = self.peek()?;
            match byte {
                b'\\' => {
                    let buffer = unescaped.get_or_insert_with(|| {
                        self.input.get(start..self.pos).unwrap_or_default().to_vec()
                    });
                    self.pos += 1;
                    buffer.push(self.next_byte()?);
                    end = buffer.len();
                    continue;
                }
                b'"' if quoted => {
                    self.pos += 1;
                    if unescaped.is_none() {
                        end = self.pos - 1;
                    }
                    break;
                }
                b'"' | b'{' if !quoted => return None,
                b',' | b'}' if !quoted => break,
                _ => {}
            }
            self.pos += 1;
            match unescaped.as_mut() {
                Some(buffer) => {
                    buffer.push(byte);
                    if quoted || !is_array_space(byte) {
                        end = buffer.len();
                    }
                }
                None if quoted || !is_array_space(byte) => end = self.pos,
                None => {}
            }
        }
        let value: Cow<'a, [u8]> = match unescaped {
            Some(mut buffer) => {
                buffer.truncate(end);
                Cow::Owned(buffer)
            }
            None => Cow::Borrowed(self.input.get(start..end)?),
        };
        if !quoted {
            if value.is_empty() {
                return None;
            }
            if matches!(value, Cow::Borrowed(bare) if bare.eq_ignore_ascii_case(b"NULL")) {
                return Some(Datum::Null);
            }
        }
        Some(decode_text(self.element, &value))
    }
}

/// `array_isspace`: the whitespace `array_in` skips.
fn is_array_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// `\x` and the bytes in lower-case hex, as `bytea` prints.
fn hex_string(bytes: &[u8]) -> Datum {
    let mut out = String::with_capacity(2 + 2 * bytes.len());
    out.push_str("\\x");
    for &byte in bytes {
        push_hex_byte(&mut out, byte);
    }
    Datum::String(out.into())
}

fn push_hex_byte(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0x0f)]));
}

/// OID of `jsonb`, whose binary format has a version byte.
const JSONB_OID: u32 = 3802;
/// The only `jsonb` binary format version.
const JSONB_VERSION: u8 = 1;

/// The binary format of `kind`; `None` when the bytes do not fit it or it
/// has no decoder here.
fn decode_binary_kind(kind: &TypeKind, oid: u32, bytes: &[u8]) -> Option<Datum> {
    let datum = match kind {
        TypeKind::Bool => match bytes {
            [byte] => Datum::Bool(*byte != 0),
            _ => return None,
        },
        TypeKind::Int => Datum::Int(match bytes.len() {
            2 => i64::from(i16::from_be_bytes(bytes.try_into().ok()?)),
            4 => i64::from(i32::from_be_bytes(bytes.try_into().ok()?)),
            8 => i64::from_be_bytes(bytes.try_into().ok()?),
            _ => return None,
        }),
        TypeKind::Float => match bytes.len() {
            4 => float_datum(f32::from_be_bytes(bytes.try_into().ok()?)),
            8 => float_datum(f64::from_be_bytes(bytes.try_into().ok()?)),
            _ => return None,
        },
        TypeKind::Numeric => decode_binary_numeric(bytes)?,
        TypeKind::Text => {
            let text = std::str::from_utf8(bytes)
                .ok()
                .filter(|text| !text.contains('\0'))?;
            Datum::String(text.into())
        }
        TypeKind::Uuid => {
            let bytes: &[u8; 16] = bytes.try_into().ok()?;
            let mut out = String::with_capacity(36);
            for (index, &byte) in bytes.iter().enumerate() {
                if matches!(index, 4 | 6 | 8 | 10) {
                    out.push('-');
                }
                push_hex_byte(&mut out, byte);
            }
            Datum::String(out.into())
        }
        TypeKind::Json if oid == JSONB_OID => match bytes.split_first() {
            Some((&JSONB_VERSION, json)) => decode_json(json),
            _ => return None,
        },
        TypeKind::Json => decode_json(bytes),
        TypeKind::Bytea => hex_string(bytes),
        TypeKind::Timestamptz => Datum::String(
            time::format_timestamptz_micros(i64::from_be_bytes(bytes.try_into().ok()?)).into(),
        ),
        TypeKind::Timestamp => Datum::String(
            time::format_timestamp_micros(i64::from_be_bytes(bytes.try_into().ok()?)).into(),
        ),
        TypeKind::Date => {
            Datum::String(time::format_date_days(i32::from_be_bytes(bytes.try_into().ok()?)).into())
        }
        TypeKind::Time => Datum::String(
            time::format_time_micros(i64::from_be_bytes(bytes.try_into().ok()?))?.into(),
        ),
        TypeKind::Timetz => {
            let mut reader = BinaryReader(bytes);
            let (micros, zone) = (reader.i64()?, reader.i32()?);
            reader.finish()?;
            Datum::String(time::format_timetz(micros, zone)?.into())
        }
        TypeKind::Interval => {
            let mut reader = BinaryReader(bytes);
            let (micros, days, months) = (reader.i64()?, reader.i32()?, reader.i32()?);
            reader.finish()?;
            Datum::String(time::format_interval(micros, days, months).into())
        }
        TypeKind::Array(element) => decode_binary_array(element, bytes)?,
        TypeKind::Other => return None,
    };
    Some(datum)
}

/// A float as `to_jsonb` prints it: shortest round-trip digits without an
/// exponent (what Rust's `Display` prints), `0` for `-0`, specials as
/// strings.
fn float_datum<F: Into<f64> + Copy + std::fmt::Display>(value: F) -> Datum {
    let wide: f64 = value.into();
    if wide.is_nan() {
        return Datum::String("NaN".into());
    }
    if wide.is_infinite() {
        return Datum::String(if wide > 0.0 { "Infinity" } else { "-Infinity" }.into());
    }
    let text = if wide == 0.0 {
        "0".to_owned()
    } else {
        value.to_string()
    };
    RawValue::from_string(text)
        .map_or_else(|_| Datum::String(value.to_string().into()), Datum::Number)
}

/// `numeric_send`'s format: digit count, weight, sign, display scale, then
/// base-10000 digits; printed as `numeric_out` does.
fn decode_binary_numeric(bytes: &[u8]) -> Option<Datum> {
    const POSITIVE: u16 = 0x0000;
    const NEGATIVE: u16 = 0x4000;
    const NAN: u16 = 0xC000;
    const PLUS_INFINITY: u16 = 0xD000;
    const MINUS_INFINITY: u16 = 0xF000;
    const MAX_DSCALE: u16 = 0x3FFF;

    let mut reader = BinaryReader(bytes);
    let ndigits = usize::from(reader.u16()?);
    let weight = i64::from(reader.i16()?);
    let sign = reader.u16()?;
    let dscale = reader.u16()?;
    let special = match sign {
        NAN => Some("NaN"),
        PLUS_INFINITY => Some("Infinity"),
        MINUS_INFINITY => Some("-Infinity"),
        POSITIVE | NEGATIVE => None,
        _ => return None,
    };
    if let Some(special) = special {
        return Some(Datum::String(special.into()));
    }
    let digits = reader.take(ndigits * 2)?;
    reader.finish()?;
    if dscale > MAX_DSCALE {
        return None;
    }
    let digit = |index: i64| -> Option<u16> {
        let Ok(index) = usize::try_from(index) else {
            return Some(0);
        };
        if index >= ndigits {
            return Some(0);
        }
        let pair = digits.get(index * 2..index * 2 + 2)?;
        let value = u16::from_be_bytes(pair.try_into().ok()?);
        (value < 10_000).then_some(value)
    };

    let mut out = String::with_capacity(
        usize::try_from(weight.max(0) * 4 + 8).unwrap_or(0) + usize::from(dscale),
    );
    if sign == NEGATIVE && (0..ndigits).any(|i| digit(i as i64) != Some(0)) {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    }
    for index in 0..=weight {
        let width = if index == 0 { 1 } else { 4 };
        time::push_padded(&mut out, u64::from(digit(index)?), width);
    }
    if dscale > 0 {
        out.push('.');
        let fraction_start = out.len();
        let mut index = weight + 1;
        while out.len() - fraction_start < usize::from(dscale) {
            time::push_padded(&mut out, u64::from(digit(index)?), 4);
            index += 1;
        }
        out.truncate(fraction_start + usize::from(dscale));
    }
    RawValue::from_string(out).ok().map(Datum::Number)
}

/// `array_send`'s format: dimension count, has-nulls flag, element type
/// OID, then length and lower bound per dimension, then each element as a
/// length (-1 for NULL) and its bytes.
fn decode_binary_array(declared_element: &TypeKind, bytes: &[u8]) -> Option<Datum> {
    let mut reader = BinaryReader(bytes);
    let dimensions = usize::try_from(reader.i32()?).ok()?;
    let _has_nulls = reader.i32()?;
    let element_oid = reader.u32()?;
    if dimensions == 0 {
        reader.finish()?;
        return Some(Datum::Array(Vec::new()));
    }
    if dimensions > MAX_ARRAY_DIMENSIONS {
        return None;
    }
    let mut lengths = [0usize; MAX_ARRAY_DIMENSIONS];
    let mut total = 1usize;
    for length in lengths.iter_mut().take(dimensions) {
        *length = usize::try_from(reader.i32()?).ok().filter(|&n| n > 0)?;
        let _lower_bound = reader.i32()?;
        total = total.checked_mul(*length)?;
    }
    // Every element takes at least its 4-byte length.
    if total > reader.0.len() / 4 {
        return None;
    }
    let element_kind = PgType::builtin_kind(element_oid)
        .filter(|kind| !matches!(kind, TypeKind::Array(_)))
        .unwrap_or(*declared_element);
    let items = binary_array_level(
        &mut reader,
        lengths.get(..dimensions)?,
        &element_kind,
        element_oid,
    )?;
    reader.finish()?;
    Some(Datum::Array(items))
}

fn binary_array_level(
    reader: &mut BinaryReader<'_>,
    lengths: &[usize],
    element: &TypeKind,
    element_oid: u32,
) -> Option<Vec<Datum>> {
    let (&length, inner) = lengths.split_first()?;
    let mut items = Vec::with_capacity(length);
    for _ in 0..length {
        let item = if inner.is_empty() {
            match reader.i32()? {
                -1 => Datum::Null,
                len => {
                    let bytes = reader.take(usize::try_from(len).ok()?)?;
                    decode_binary_kind(element, element_oid, bytes)
                        .unwrap_or_else(|| hex_string(bytes))
                }
            }
        } else {
            Datum::Array(binary_array_level(reader, inner, element, element_oid)?)
        };
        items.push(item);
    }
    Some(items)
}

/// Big-endian reads from a binary value.
struct BinaryReader<'a>(&'a [u8]);

impl<'a> BinaryReader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    fn i16(&mut self) -> Option<i16> {
        self.array().map(i16::from_be_bytes)
    }

    fn i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_be_bytes)
    }

    /// `Some` when every byte was read.
    fn finish(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(kind, the type's text output, to_jsonb(value)::text)`, generated by
    /// a PostgreSQL 15 server with the session settings walcast pins
    /// (`format('%s', v)` calls the output function, like pgoutput).
    const SERVER_CASES: &[(TypeKind, &str, &str)] = &[
        (TypeKind::Bool, r#"t"#, r#"true"#),               // bool
        (TypeKind::Bool, r#"f"#, r#"false"#),              // bool
        (TypeKind::Int, r#"0"#, r#"0"#),                   // int2
        (TypeKind::Int, r#"-32768"#, r#"-32768"#),         // int2
        (TypeKind::Int, r#"2147483647"#, r#"2147483647"#), // int4
        (
            TypeKind::Int,
            r#"-9223372036854775808"#,
            r#"-9223372036854775808"#,
        ), // int8
        (
            TypeKind::Int,
            r#"9223372036854775807"#,
            r#"9223372036854775807"#,
        ), // int8
        (TypeKind::Float, r#"1.1"#, r#"1.1"#),             // float4
        (
            TypeKind::Float,
            r#"3.4e+38"#,
            r#"340000000000000000000000000000000000000"#,
        ), // float4
        (
            TypeKind::Float,
            r#"1e-45"#,
            r#"0.000000000000000000000000000000000000000000001"#,
        ), // float4
        (TypeKind::Float, r#"1.6777216e+07"#, r#"16777216"#), // float4
        (TypeKind::Float, r#"1.2345679e+11"#, r#"123456790000"#), // float4
        (TypeKind::Float, r#"-0"#, r#"0"#),                // float4
        (TypeKind::Float, r#"0.1"#, r#"0.1"#),             // float8
        (
            TypeKind::Float,
            r#"1e+300"#,
            r#"1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"#,
        ), // float8
        (TypeKind::Float, r#"-1.5e-07"#, r#"-0.00000015"#), // float8
        (
            TypeKind::Float,
            r#"5e-324"#,
            r#"0.000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000005"#,
        ), // float8
        (TypeKind::Float, r#"1e+15"#, r#"1000000000000000"#), // float8
        (TypeKind::Float, r#"1e+16"#, r#"10000000000000000"#), // float8
        (
            TypeKind::Float,
            r#"1.2345678901234568e-05"#,
            r#"0.000012345678901234568"#,
        ), // float8
        (TypeKind::Float, r#"0.0001"#, r#"0.0001"#),       // float8
        (TypeKind::Float, r#"100"#, r#"100"#),             // float8
        (TypeKind::Float, r#"-0"#, r#"0"#),                // float8
        (TypeKind::Float, r#"NaN"#, r#""NaN""#),           // float8
        (TypeKind::Float, r#"Infinity"#, r#""Infinity""#), // float8
        (TypeKind::Float, r#"-Infinity"#, r#""-Infinity""#), // float8
        (TypeKind::Float, r#"-2.5e+20"#, r#"-250000000000000000000"#), // float8
        (
            TypeKind::Numeric,
            r#"12345678901234567890.000100"#,
            r#"12345678901234567890.000100"#,
        ), // numeric
        (TypeKind::Numeric, r#"0.00"#, r#"0.00"#),         // numeric
        (TypeKind::Numeric, r#"NaN"#, r#""NaN""#),         // numeric
        (TypeKind::Numeric, r#"Infinity"#, r#""Infinity""#), // numeric
        (TypeKind::Numeric, r#"-Infinity"#, r#""-Infinity""#), // numeric
        (
            TypeKind::Numeric,
            r#"0.00000000000000000001"#,
            r#"0.00000000000000000001"#,
        ), // numeric
        (TypeKind::Numeric, r#"-42"#, r#"-42"#),           // numeric
        (TypeKind::Text, r#"hello"#, r#""hello""#),        // text
        (TypeKind::Text, r#"ab  "#, r#""ab  ""#),          // char(4)
        (TypeKind::Text, r#"a"#, r#""a""#),                // "char"
        (TypeKind::Text, r#"n"#, r#""n""#),                // name
        (TypeKind::Text, r#"x y"#, r#""x y""#),            // varchar
        (
            TypeKind::Text,
            "line1\nline2 \"quoted\" \\ é ☃",
            r#""line1\nline2 \"quoted\" \\ é ☃""#,
        ), // text
        (TypeKind::Text, r#""#, r#""""#),                  // text
        (
            TypeKind::Uuid,
            r#"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"#,
            r#""a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11""#,
        ), // uuid
        (
            TypeKind::Json,
            r#"{"a": 1, "b":[1,2]}"#,
            r#"{"a": 1, "b": [1, 2]}"#,
        ), // json
        (
            TypeKind::Json,
            r#"[1, "x", null, true]"#,
            r#"[1, "x", null, true]"#,
        ), // json
        (TypeKind::Json, r#""s""#, r#""s""#),              // json
        (
            TypeKind::Json,
            r#"{"a": 1, "b": [1, 2]}"#,
            r#"{"a": 1, "b": [1, 2]}"#,
        ), // jsonb
        (
            TypeKind::Json,
            r#"{"a": 100, "n": null}"#,
            r#"{"a": 100, "n": null}"#,
        ), // jsonb
        (TypeKind::Json, r#""str""#, r#""str""#),          // jsonb
        (TypeKind::Json, r#"12.50"#, r#"12.50"#),          // jsonb
        (TypeKind::Bytea, r#"\x0102ff"#, r#""\\x0102ff""#), // bytea
        (TypeKind::Bytea, r#"\x"#, r#""\\x""#),            // bytea
        (
            TypeKind::Timestamptz,
            r#"2025-11-03 09:32:55.123+00"#,
            r#""2025-11-03T09:32:55.123+00:00""#,
        ), // timestamptz
        (
            TypeKind::Timestamptz,
            r#"2025-11-03 09:32:55+00"#,
            r#""2025-11-03T09:32:55+00:00""#,
        ), // timestamptz
        (
            TypeKind::Timestamptz,
            r#"2025-11-03 09:32:55.000001+00"#,
            r#""2025-11-03T09:32:55.000001+00:00""#,
        ), // timestamptz
        (TypeKind::Timestamptz, r#"infinity"#, r#""infinity""#), // timestamptz
        (TypeKind::Timestamptz, r#"-infinity"#, r#""-infinity""#), // timestamptz
        (
            TypeKind::Timestamptz,
            r#"0001-01-01 00:00:00+00 BC"#,
            r#""0001-01-01T00:00:00+00:00 BC""#,
        ), // timestamptz
        (
            TypeKind::Timestamptz,
            r#"20000-01-01 00:00:00+00"#,
            r#""20000-01-01T00:00:00+00:00""#,
        ), // timestamptz
        (
            TypeKind::Timestamptz,
            r#"1850-01-01 00:00:00+00"#,
            r#""1850-01-01T00:00:00+00:00""#,
        ), // timestamptz
        (
            TypeKind::Timestamp,
            r#"2025-11-03 09:32:55.123"#,
            r#""2025-11-03T09:32:55.123""#,
        ), // timestamp
        (
            TypeKind::Timestamp,
            r#"0044-03-15 12:00:00 BC"#,
            r#""0044-03-15T12:00:00 BC""#,
        ), // timestamp
        (TypeKind::Timestamp, r#"infinity"#, r#""infinity""#), // timestamp
        (TypeKind::Date, r#"2025-11-03"#, r#""2025-11-03""#), // date
        (TypeKind::Date, r#"0044-03-15 BC"#, r#""0044-03-15 BC""#), // date
        (TypeKind::Date, r#"infinity"#, r#""infinity""#),  // date
        (TypeKind::Time, r#"09:32:55"#, r#""09:32:55""#),  // time
        (TypeKind::Time, r#"09:32:55.5"#, r#""09:32:55.5""#), // time
        (TypeKind::Time, r#"24:00:00"#, r#""24:00:00""#),  // time
        (TypeKind::Timetz, r#"09:32:55+00"#, r#""09:32:55+00""#), // timetz
        (
            TypeKind::Timetz,
            r#"09:32:55.25+05:30"#,
            r#""09:32:55.25+05:30""#,
        ), // timetz
        (TypeKind::Timetz, r#"09:32:55-08"#, r#""09:32:55-08""#), // timetz
        (
            TypeKind::Timetz,
            r#"09:32:55+05:30:15"#,
            r#""09:32:55+05:30:15""#,
        ), // timetz
        (
            TypeKind::Interval,
            r#"1 day 02:00:00"#,
            r#""1 day 02:00:00""#,
        ), // interval
        (
            TypeKind::Interval,
            r#"-9 mons -00:00:01.5"#,
            r#""-9 mons -00:00:01.5""#,
        ), // interval
        (TypeKind::Interval, r#"00:00:00"#, r#""00:00:00""#), // interval
        (TypeKind::Other, r#"$12.50"#, r#""$12.50""#),     // money
        (TypeKind::Other, r#"(1,2)"#, r#""(1,2)""#),       // point
        (TypeKind::Other, r#"10.0.0.1/8"#, r#""10.0.0.1/8""#), // inet
        (TypeKind::Other, r#"101"#, r#""101""#),           // bit(3)
        (TypeKind::Other, r#"[1,5)"#, r#""[1,5)""#),       // int4range
        (TypeKind::Other, r#"<a/>"#, r#""<a/>""#),         // xml
        (TypeKind::Other, r#"'a' 'b'"#, r#""'a' 'b'""#),   // tsvector
        (TypeKind::Other, r#"0/16B3748"#, r#""0/16B3748""#), // pg_lsn
        (TypeKind::Other, r#"12"#, r#""12""#),             // oid
        (TypeKind::Other, r#"12"#, r#""12""#),             // xid
        (
            TypeKind::Other,
            r#"08:00:2b:01:02:03"#,
            r#""08:00:2b:01:02:03""#,
        ), // macaddr
        (
            TypeKind::Array(&TypeKind::Int),
            r#"{1,2,NULL}"#,
            r#"[1, 2, null]"#,
        ), // int4[]
        (
            TypeKind::Array(&TypeKind::Int),
            r#"{{1,2},{3,4}}"#,
            r#"[[1, 2], [3, 4]]"#,
        ), // int4[]
        (
            TypeKind::Array(&TypeKind::Int),
            r#"[0:1]={1,2}"#,
            r#"[1, 2]"#,
        ), // int4[]
        (
            TypeKind::Array(&TypeKind::Int),
            r#"[0:1][1:2]={{1,2},{3,4}}"#,
            r#"[[1, 2], [3, 4]]"#,
        ), // int4[]
        (TypeKind::Array(&TypeKind::Int), r#"{}"#, r#"[]"#), // int4[]
        (
            TypeKind::Array(&TypeKind::Int),
            r#"{{{1},{2}},{{3},{4}}}"#,
            r#"[[[1], [2]], [[3], [4]]]"#,
        ), // int8[]
        (
            TypeKind::Array(&TypeKind::Text),
            r#"{"a b","c\"d",NULL,"NULL","","x\\y","{}"," s ",null2,é}"#,
            r#"["a b", "c\"d", null, "NULL", "", "x\\y", "{}", " s ", "null2", "é"]"#,
        ), // text[]
        (
            TypeKind::Array(&TypeKind::Text),
            r#"{"ab  ","c   "}"#,
            r#"["ab  ", "c   "]"#,
        ), // char(4)[]
        (
            TypeKind::Array(&TypeKind::Timestamptz),
            r#"{"2025-11-03 09:32:55.123+00",infinity}"#,
            r#"["2025-11-03T09:32:55.123+00:00", "infinity"]"#,
        ), // timestamptz[]
        (
            TypeKind::Array(&TypeKind::Timestamp),
            r#"{"2025-11-03 09:32:55"}"#,
            r#"["2025-11-03T09:32:55"]"#,
        ), // timestamp[]
        (
            TypeKind::Array(&TypeKind::Json),
            r#"{"{\"a\": 1}","\"s\"","null",NULL}"#,
            r#"[{"a": 1}, "s", null, null]"#,
        ), // jsonb[]
        (
            TypeKind::Array(&TypeKind::Json),
            r#"{"{\"a\":1}","[1, 2]"}"#,
            r#"[{"a": 1}, [1, 2]]"#,
        ), // json[]
        (
            TypeKind::Array(&TypeKind::Bool),
            r#"{t,f,NULL}"#,
            r#"[true, false, null]"#,
        ), // bool[]
        (
            TypeKind::Array(&TypeKind::Float),
            r#"{NaN,1.5,-Infinity,1e-05}"#,
            r#"["NaN", 1.5, "-Infinity", 0.00001]"#,
        ), // float8[]
        (
            TypeKind::Array(&TypeKind::Numeric),
            r#"{1.50,-0.001,NaN}"#,
            r#"[1.50, -0.001, "NaN"]"#,
        ), // numeric[]
        (
            TypeKind::Array(&TypeKind::Bytea),
            r#"{"\\x01",NULL}"#,
            r#"["\\x01", null]"#,
        ), // bytea[]
        (
            TypeKind::Array(&TypeKind::Other),
            r#"{"(1,2)"}"#,
            r#"["(1,2)"]"#,
        ), // point[]
        (
            TypeKind::Array(&TypeKind::Date),
            r#"{2025-01-01,infinity}"#,
            r#"["2025-01-01", "infinity"]"#,
        ), // date[]
        (
            TypeKind::Array(&TypeKind::Timetz),
            r#"{09:32:55+00}"#,
            r#"["09:32:55+00"]"#,
        ), // timetz[]
        (
            TypeKind::Array(&TypeKind::Interval),
            r#"{"1 day"}"#,
            r#"["1 day"]"#,
        ), // interval[]
        (
            TypeKind::Array(&TypeKind::Uuid),
            r#"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"#,
            r#"["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]"#,
        ), // uuid[]
    ];

    /// JSON text without the whitespace outside strings, to compare
    /// `to_jsonb`'s spaced output with serde_json's compact output.
    fn compact(json: &str) -> String {
        let mut out = String::with_capacity(json.len());
        let (mut in_string, mut escaped) = (false, false);
        for c in json.chars() {
            if in_string {
                in_string = escaped || c != '"';
                escaped = !escaped && c == '\\';
            } else if c == '"' {
                in_string = true;
            } else if c.is_whitespace() {
                continue;
            }
            out.push(c);
        }
        out
    }

    fn json(datum: &Datum) -> String {
        serde_json::to_string(datum).expect("serializes")
    }

    fn text(kind: TypeKind, text: &str) -> String {
        json(&decode_text(&kind, text.as_bytes()))
    }

    fn number(text: &str) -> Datum {
        Datum::Number(RawValue::from_string(text.to_owned()).expect("valid number"))
    }

    #[test]
    fn matches_to_jsonb_on_a_real_server() {
        for (kind, pg_text, expected) in SERVER_CASES {
            let actual = compact(&text(*kind, pg_text));
            assert_eq!(actual, compact(expected), "{kind:?} {pg_text:?}");
        }
    }

    #[test]
    fn keeps_json_verbatim() {
        // to_jsonb would respace a json (not jsonb) value; the JSON is equal.
        assert_eq!(
            text(TypeKind::Json, r#"{"a": 1, "b":[1,2]}"#),
            r#"{"a": 1, "b":[1,2]}"#
        );
        assert_eq!(text(TypeKind::Json, " [1e400] "), "[1e400]");
        assert_eq!(text(TypeKind::Json, r#"{"a":"#), r#""{\"a\":""#);
        assert_eq!(text(TypeKind::Json, "nul"), r#""nul""#);
        assert_eq!(text(TypeKind::Json, "1 2"), r#""1 2""#);
    }

    #[test]
    fn strings_escape_like_to_jsonb() {
        // to_jsonb(E'ctl\x01\x1f') = "ctl\u0001\u001f"
        assert_eq!(text(TypeKind::Text, "ctl\x01\x1f"), r#""ctl\u0001\u001f""#);
        let lossy = decode_text(&TypeKind::Text, b"a\xffb");
        assert_eq!(lossy, Datum::String("a\u{fffd}b".into()));
    }

    #[test]
    fn unparseable_values_become_strings() {
        let cases: &[(TypeKind, &str)] = &[
            (TypeKind::Bool, "true"),
            (TypeKind::Bool, ""),
            (TypeKind::Int, "9223372036854775808"),
            (TypeKind::Int, "-9223372036854775809"),
            (TypeKind::Int, "+1"),
            (TypeKind::Int, "-"),
            (TypeKind::Int, ""),
            (TypeKind::Int, "1.5"),
            (TypeKind::Float, "1.5.1"),
            (TypeKind::Float, "1e"),
            (TypeKind::Float, "1e5000"),
            (TypeKind::Float, "."),
            (TypeKind::Float, "-"),
            (TypeKind::Numeric, "12abc"),
            (TypeKind::Timestamptz, "2025-11-03"),
            (TypeKind::Timestamptz, "2025-11-03 09:32:55"),
            (TypeKind::Timestamptz, "2025-11-03 09:32+00"),
            (TypeKind::Timestamptz, "2025-11-03 09:32:55+0"),
            (TypeKind::Timestamptz, "x 09:32:55+00"),
            (TypeKind::Timestamp, "2025-11-03 09:32:55 junk"),
            (TypeKind::Timestamp, " "),
        ];
        for (kind, input) in cases {
            assert_eq!(
                decode_text(kind, input.as_bytes()),
                Datum::String((*input).into()),
                "{kind:?} {input:?}"
            );
        }
    }

    #[test]
    fn widens_and_keeps_timestamp_offsets() {
        let tz = |t: &str| text(TypeKind::Timestamptz, t);
        assert_eq!(
            tz("2025-01-01 00:00:00-05"),
            r#""2025-01-01T00:00:00-05:00""#
        );
        assert_eq!(
            tz("2025-01-01 00:00:00+05:30"),
            r#""2025-01-01T00:00:00+05:30""#
        );
        // TimeZone Europe/Amsterdam: '1900-01-01'::timestamptz prints
        // 1900-01-01 00:00:00+00:19:32 and to_jsonb keeps the seconds.
        assert_eq!(
            tz("1900-01-01 00:00:00+00:19:32"),
            r#""1900-01-01T00:00:00+00:19:32""#
        );
        // TimeZone America/New_York: to_jsonb('2025-01-01 00:00:00 BC')
        assert_eq!(
            tz("2025-01-01 00:00:00-04:56:02 BC"),
            r#""2025-01-01T00:00:00-04:56:02 BC""#
        );
    }

    #[test]
    fn normalises_numbers_like_numeric_out() {
        let cases: &[(&str, NumberText<'_>)] = &[
            ("0", NumberText::Canonical("0")),
            ("-12.50", NumberText::Canonical("-12.50")),
            ("0.001", NumberText::Canonical("0.001")),
            ("-0", NumberText::Rewritten("0".into())),
            ("-0.000", NumberText::Rewritten("0.000".into())),
            ("007", NumberText::Rewritten("7".into())),
            (" +007.10 ", NumberText::Rewritten("7.10".into())),
            (".5", NumberText::Rewritten("0.5".into())),
            ("5.", NumberText::Rewritten("5".into())),
            ("1.5e3", NumberText::Rewritten("1500".into())),
            ("1.50e-3", NumberText::Rewritten("0.00150".into())),
            ("1.5E+1", NumberText::Rewritten("15".into())),
            ("-1.5e-07", NumberText::Rewritten("-0.00000015".into())),
            ("123e-1", NumberText::Rewritten("12.3".into())),
            ("0e5", NumberText::Rewritten("0".into())),
            ("NaN", NumberText::Special("NaN")),
            ("nan", NumberText::Special("NaN")),
            ("inf", NumberText::Special("Infinity")),
            ("+Infinity", NumberText::Special("Infinity")),
            ("-INF", NumberText::Special("-Infinity")),
            ("-nan", NumberText::Invalid),
            ("", NumberText::Invalid),
            ("1e1001", NumberText::Invalid),
            ("1e+", NumberText::Invalid),
            ("0x10", NumberText::Invalid),
            ("1 2", NumberText::Invalid),
            ("١", NumberText::Invalid),
        ];
        for (input, expected) in cases {
            assert_eq!(&number_text(input.as_bytes()), expected, "{input:?}");
        }
        let NumberText::Rewritten(huge) = number_text(b"1e1000") else {
            panic!("rewritten");
        };
        assert_eq!(huge.len(), 1001);
    }

    #[test]
    fn array_literals() {
        let int_array = TypeKind::Array(&TypeKind::Int);
        let text_array = TypeKind::Array(&TypeKind::Text);
        assert_eq!(text(int_array, " { 1 , 2 } "), "[1,2]");
        assert_eq!(text(int_array, "{{},{}}"), "[[],[]]");
        assert_eq!(text(int_array, "[1:2] = {3,4}"), "[3,4]");
        assert_eq!(text(text_array, "{a b , c\t}"), r#"["a b","c"]"#);
        assert_eq!(
            text(text_array, r#"{null,Null,N\ULL,"NULL"}"#),
            r#"[null,null,"NULL","NULL"]"#
        );
        assert_eq!(
            text(text_array, r#"{a\,b,c\ ,"d\\e"}"#),
            r#"["a,b","c ","d\\e"]"#
        );
        assert_eq!(text(text_array, r#"{"",""}"#), r#"["",""]"#);
        assert_eq!(text(text_array, "{\"é\"}"), r#"["é"]"#);
        assert_eq!(text(int_array, "{1,x}"), r#"[1,"x"]"#);
        assert_eq!(
            text(int_array, "{{{{{{1}}}}}}"),
            "[[[[[[1]]]]]]",
            "six dimensions are allowed"
        );
        let malformed = [
            "",
            "{",
            "}",
            "{1,2",
            "{1,2}}",
            "{1,2}x",
            "{1,,2}",
            "{,}",
            "{1,}",
            "{1,{2}}",
            "{{1},2}",
            "{\"a}",
            "{a\"b\"}",
            "{a{b}",
            "{a\\",
            "[0:1]{1}",
            "[0:x]={1}",
            "[0:1={1}",
            "{{{{{{{1}}}}}}}",
            "1,2",
        ];
        for input in malformed {
            assert_eq!(
                decode_text(&int_array, input.as_bytes()),
                Datum::String(input.into()),
                "{input:?}"
            );
        }
        let deep = "{".repeat(100_000);
        assert_eq!(
            decode_text(&int_array, deep.as_bytes()),
            Datum::String(deep.into())
        );
    }

    #[test]
    fn serializes_every_variant() {
        let datum = Datum::Array(vec![
            Datum::Null,
            Datum::Bool(true),
            Datum::Int(-7),
            number("1.50"),
            Datum::String("s\"".into()),
            Datum::Json(RawValue::from_string(r#"{"a":[1]}"#.into()).expect("valid")),
            Datum::Array(vec![]),
        ]);
        assert_eq!(json(&datum), r#"[null,true,-7,1.50,"s\"",{"a":[1]},[]]"#);
    }

    #[test]
    fn compares_numbers_exactly() {
        let n = |text: &str| decode_text(&TypeKind::Numeric, text.as_bytes());
        let cases: &[(Datum, Datum, Option<Ordering>)] = &[
            (Datum::Int(1), Datum::Int(2), Some(Ordering::Less)),
            (Datum::Int(2), n("2.000"), Some(Ordering::Equal)),
            (n("1.50"), n("1.5"), Some(Ordering::Equal)),
            (n("1.45"), n("1.5"), Some(Ordering::Less)),
            (n("10"), n("9.99"), Some(Ordering::Greater)),
            (n("-10"), n("-9.99"), Some(Ordering::Less)),
            (n("-0.5"), n("0.5"), Some(Ordering::Less)),
            (n("0.00"), Datum::Int(0), Some(Ordering::Equal)),
            (
                Datum::Int(i64::MIN),
                n("-9223372036854775808.0"),
                Some(Ordering::Equal),
            ),
            (
                Datum::Int(i64::MAX),
                n("9223372036854775807.0000001"),
                Some(Ordering::Less),
            ),
            (
                n("12345678901234567890.000100"),
                n("12345678901234567890.0001"),
                Some(Ordering::Equal),
            ),
            (
                n("12345678901234567890.0001"),
                n("12345678901234567890.00011"),
                Some(Ordering::Less),
            ),
            (number("1e3"), Datum::Int(999), Some(Ordering::Greater)),
            (n("NaN"), n("Infinity"), Some(Ordering::Greater)),
            (n("-Infinity"), n("Infinity"), Some(Ordering::Less)),
            (Datum::Int(5), n("Infinity"), Some(Ordering::Less)),
            (n("-Infinity"), Datum::Int(5), Some(Ordering::Less)),
            (n("NaN"), n("1e300"), Some(Ordering::Greater)),
            (Datum::Int(5), Datum::String("5".into()), None),
        ];
        for (a, b, expected) in cases {
            assert_eq!(a.compare(b), *expected, "{a:?} vs {b:?}");
            assert_eq!(
                b.compare(a),
                expected.map(Ordering::reverse),
                "{b:?} vs {a:?}"
            );
        }
    }

    #[test]
    fn compares_other_kinds() {
        let s = |text: &str| Datum::String(text.into());
        assert_eq!(s("abc").compare(&s("abd")), Some(Ordering::Less));
        assert_eq!(s("é").compare(&s("z")), Some(Ordering::Greater));
        assert_eq!(
            Datum::Bool(false).compare(&Datum::Bool(true)),
            Some(Ordering::Less)
        );
        assert_eq!(Datum::Null.compare(&Datum::Null), None);
        assert_eq!(Datum::Null.compare(&Datum::Int(1)), None);
        assert_eq!(Datum::Bool(true).compare(&Datum::Int(1)), None);
        let json = decode_text(&TypeKind::Json, b"1");
        assert_eq!(json.compare(&json), None);
        let ts = |text: &str| decode_text(&TypeKind::Timestamptz, text.as_bytes());
        assert_eq!(
            ts("2025-11-03 09:32:55+00").compare(&ts("2025-11-03 09:32:55.5+00")),
            Some(Ordering::Less)
        );
        let arr = |text: &str| decode_text(&TypeKind::Array(&TypeKind::Int), text.as_bytes());
        assert_eq!(arr("{1,2}").compare(&arr("{1,2,3}")), Some(Ordering::Less));
        assert_eq!(
            arr("{1,3}").compare(&arr("{1,2,3}")),
            Some(Ordering::Greater)
        );
        assert_eq!(
            arr("{1,NULL}").compare(&arr("{1,2}")),
            Some(Ordering::Greater)
        );
        assert_eq!(arr("{NULL}").compare(&arr("{NULL}")), Some(Ordering::Equal));
        assert_eq!(arr("{}").compare(&arr("{}")), Some(Ordering::Equal));
        let mixed = Datum::Array(vec![Datum::Bool(true)]);
        assert_eq!(arr("{1}").compare(&mixed), None);
    }

    #[test]
    fn filter_literals() {
        let f = |kind: TypeKind, literal: &str| from_filter_text(&kind, literal);
        for yes in ["t", "TRUE", " yes ", "on", "1", "y", "tr"] {
            assert_eq!(f(TypeKind::Bool, yes), Datum::Bool(true), "{yes}");
        }
        for no in ["f", "false", "No", "off", "of", "0", "fal"] {
            assert_eq!(f(TypeKind::Bool, no), Datum::Bool(false), "{no}");
        }
        for neither in ["o", "", "truee", "2"] {
            assert_eq!(
                f(TypeKind::Bool, neither),
                Datum::String(neither.into()),
                "{neither}"
            );
        }
        assert_eq!(f(TypeKind::Int, " +42 "), Datum::Int(42));
        assert_eq!(f(TypeKind::Int, "4x"), Datum::String("4x".into()));
        assert_eq!(f(TypeKind::Numeric, " 1.5e2 "), number("150"));
        assert_eq!(
            f(TypeKind::Float, "-inf"),
            Datum::String("-Infinity".into())
        );
        assert_eq!(
            f(TypeKind::Uuid, "{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}"),
            Datum::String("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into())
        );
        assert_eq!(
            f(TypeKind::Uuid, "a0eebc999c0b4ef8bb6d6bb9bd380a11"),
            Datum::String("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into())
        );
        for bad in [
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            "-a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc99--9c0b4ef8bb6d6bb9bd380a11",
            "a0e-ebc999c0b4ef8bb6d6bb9bd380a11",
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11",
        ] {
            assert_eq!(f(TypeKind::Uuid, bad), Datum::String(bad.into()), "{bad}");
        }
        // '2025-11-03 09:32+05:30'::timestamptz::text = 2025-11-03 04:02:00+00
        assert_eq!(
            f(TypeKind::Timestamptz, "2025-11-03 09:32+05:30"),
            Datum::String("2025-11-03T04:02:00+00:00".into())
        );
        assert_eq!(
            f(TypeKind::Timestamptz, "2025-11-03"),
            Datum::String("2025-11-03T00:00:00+00:00".into())
        );
        assert_eq!(
            f(TypeKind::Timestamptz, "infinity"),
            Datum::String("infinity".into())
        );
        // '2025-11-03 09:32:55+05:30'::timestamp::text = 2025-11-03 09:32:55
        assert_eq!(
            f(TypeKind::Timestamp, "2025-11-03 09:32:55+05:30"),
            Datum::String("2025-11-03T09:32:55".into())
        );
        assert_eq!(
            f(TypeKind::Array(&TypeKind::Int), "{1,2}"),
            Datum::Array(vec![Datum::Int(1), Datum::Int(2)])
        );
        assert_eq!(f(TypeKind::Text, " a "), Datum::String(" a ".into()));
        let stored = decode_text(&TypeKind::Timestamptz, b"2025-11-03 04:02:00+00");
        let literal = f(TypeKind::Timestamptz, "2025-11-03T09:32:00+05:30");
        assert_eq!(stored.compare(&literal), Some(Ordering::Equal));
    }

    /// Every kind and every built-in type, fed many pseudo-random inputs
    /// built from the bytes the parsers care about: nothing panics.
    #[test]
    fn arbitrary_input_never_panics() {
        const ALPHABET: &[u8] = b"{}[]:=,\"\\ NULLnul0123456789.-+eE:TZBC\x00\xff\x01";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let oids: Vec<u32> = (0..7000)
            .filter(|&oid| PgType::builtin(oid).is_some())
            .collect();
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let random = next() % 2 == 0;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    let pick = next();
                    if random {
                        pick as u8
                    } else {
                        ALPHABET[(pick as usize) % ALPHABET.len()]
                    }
                })
                .collect();
            let ty = PgType::builtin(oids[(next() as usize) % oids.len()]).expect("built in");
            let _ = json(&decode_text(&ty.kind, &input));
            let _ = json(&decode_binary(&ty, &input));
            if let Ok(text) = std::str::from_utf8(&input) {
                let _ = json(&from_filter_text(&ty.kind, text));
            }
        }
    }

    fn binary(oid: u32, hex: &str) -> String {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        let ty = PgType::builtin(oid).unwrap_or_else(|| PgType::from_type_message(oid, "custom"));
        json(&decode_binary(&ty, &bytes))
    }

    #[test]
    fn binary_values_from_a_real_server() {
        // (type OID, <type>send(value) as hex, to_jsonb(value)), from PostgreSQL 15.
        let cases: &[(u32, &str, &str)] = &[
            (16, "01", "true"),
            (16, "00", "false"),
            (21, "8000", "-32768"),
            (23, "7fffffff", "2147483647"),
            (20, "8000000000000000", "-9223372036854775808"),
            (700, "3f8ccccd", "1.1"),
            (700, "7f7fc99e", "340000000000000000000000000000000000000"),
            (701, "7e37e43c8800759c", &format!("1{}", "0".repeat(300))),
            (701, "8000000000000000", "0"),
            (701, "7ff8000000000000", r#""NaN""#),
            (701, "fff0000000000000", r#""-Infinity""#),
            (701, "3ee9e409302678ba", "0.000012345678901234568"),
            (
                1700,
                "000600040000000604d2162e23340d801ed20001",
                "12345678901234567890.000100",
            ),
            (1700, "0000000000000000", "0"),
            (1700, "0000000000000002", "0.00"),
            (1700, "0001ffff000000040001", "0.0001"),
            (1700, "000200004000000100011388", "-1.5"),
            (1700, "00000000c0000000", r#""NaN""#),
            (1700, "00000000d0000020", r#""Infinity""#),
            (1700, "00000000f0000020", r#""-Infinity""#),
            (1700, "00010002000000000001", "100000000"),
            (1700, "0001fffb000000140001", "0.00000000000000000001"),
            (1700, "0002000000000006007b11d0", "123.456000"),
            (25, "68c3a9", r#""hé""#),
            (1042, "61622020", r#""ab  ""#),
            (
                2950,
                "a0eebc999c0b4ef8bb6d6bb9bd380a11",
                r#""a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11""#,
            ),
            (114, "7b2261223a317d", r#"{"a":1}"#),
            (3802, "017b2261223a20317d", r#"{"a": 1}"#),
            (17, "0102ff", r#""\\x0102ff""#),
            (
                1184,
                "0002e5ac2b300038",
                r#""2025-11-03T09:32:55.123+00:00""#,
            ),
            (
                1184,
                "ff1fc63d1bb12000",
                r#""0001-01-01T00:00:00+00:00 BC""#,
            ),
            (1114, "7fffffffffffffff", r#""infinity""#),
            (1082, "fff49d7b", r#""0044-03-15 BC""#),
            (1082, "000024de", r#""2025-11-03""#),
            (1083, "0000000800ecb050", r#""09:32:55.25""#),
            (1266, "0000000800ecb050ffffb2a8", r#""09:32:55.25+05:30""#),
            (1266, "000000000000000000000000", r#""00:00:00+00""#),
            (
                1186,
                "00000001ad2748000000000100000000",
                r#""1 day 02:00:00""#,
            ),
            (
                1186,
                "ffffffffffe91ca000000000fffffff7",
                r#""-9 mons -00:00:01.5""#,
            ),
            (
                1007,
                "00000002000000010000001700000002000000010000000200000001000000040000000100000004000000020000000400000003ffffffff",
                "[[1,2],[3,null]]",
            ),
            (1007, "000000000000000000000017", "[]"),
            (
                1009,
                "000000010000000000000019000000020000000000000001610000000162",
                r#"["a","b"]"#,
            ),
            // Built-in types without a binary decoder, and bad lengths: hex.
            (869, "02200400", r#""\\x02200400""#),
            (23, "0001", "1"),
            (23, "000001", r#""\\x000001""#),
            (16, "", r#""\\x""#),
            (2950, "a0ee", r#""\\xa0ee""#),
            (3802, "027b7d", r#""\\x027b7d""#),
            (1083, "ffffffffffffffff", r#""\\xffffffffffffffff""#),
            (1700, "0001000080000001", r#""\\x0001000080000001""#),
            (
                1700,
                "000100000000000127100000",
                r#""\\x000100000000000127100000""#,
            ),
            (
                1007,
                "00000001000000000000001700000002000000010000000400000001",
                r#""\\x00000001000000000000001700000002000000010000000400000001""#,
            ),
            (
                1007,
                "000000010000000000000017ffffffff00000001",
                r#""\\x000000010000000000000017ffffffff00000001""#,
            ),
            (
                1007,
                "000000010000000000000017000000007fffffff",
                r#""\\x000000010000000000000017000000007fffffff""#,
            ),
            (
                1007,
                "00000007000000000000001700000001000000010000000100000001000000010000000100000001000000010000000100000001000000010000000100000001000000010000000100000004",
                r#""\\x00000007000000000000001700000001000000010000000100000001000000010000000100000001000000010000000100000001000000010000000100000001000000010000000100000004""#,
            ),
            // Announced types: text when it reads as text, hex otherwise.
            (16_390, "6861707079", r#""happy""#),
            (16_391, "00000005", r#""\\x00000005""#),
        ];
        for (oid, hex, expected) in cases {
            assert_eq!(
                compact(&binary(*oid, hex)),
                compact(expected),
                "{oid} {hex}"
            );
        }
    }
}
