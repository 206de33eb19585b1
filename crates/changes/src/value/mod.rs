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
//! [`PgType::from_type_message`](crate::types::PgType::from_type_message)).
//!
//! | file | reason |
//! |---|---|
//! | `mod.rs` | [`Datum`], its JSON, and how filters order it |
//! | `text.rs` | [`decode_text`]: pgoutput's text format |
//! | `number.rs` | numbers in `numeric_out`'s form, from any float or numeric spelling |
//! | `array.rs` | array literals as `array_out` prints them |
//! | `binary.rs` | [`decode_binary`]: the send/recv formats |
//! | `filter.rs` | [`from_filter_text`]: filter literals in any spelling the input functions accept |

mod array;
mod binary;
mod filter;
mod number;
mod text;

use std::cmp::Ordering;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

pub use binary::decode_binary;
pub use filter::from_filter_text;
pub use text::decode_text;

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

/// A value as a JSON string: its text, with invalid UTF-8 replaced.
fn string(text: &[u8]) -> Datum {
    Datum::String(Box::from(String::from_utf8_lossy(text).as_ref()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{PgType, TypeKind};

    /// JSON text without the whitespace outside strings, to compare
    /// `to_jsonb`'s spaced output with serde_json's compact output.
    pub(super) fn compact(json: &str) -> String {
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

    pub(super) fn json(datum: &Datum) -> String {
        serde_json::to_string(datum).expect("serializes")
    }

    pub(super) fn text(kind: TypeKind, text: &str) -> String {
        json(&decode_text(&kind, text.as_bytes()))
    }

    pub(super) fn number(text: &str) -> Datum {
        Datum::Number(RawValue::from_string(text.to_owned()).expect("valid number"))
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
}
