//! Numbers the way `to_jsonb` prints them: `to_jsonb` stores every
//! `int`, `float` and `numeric` as `numeric`, so a JSON number is in
//! `numeric_out`'s form (no exponent, no leading zeros, no `-0`) whatever
//! spelling the value arrived in; `NaN` and the infinities are strings.

use serde_json::value::RawValue;

use super::{Datum, string};

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

pub(super) fn decode_number(text: &[u8]) -> Datum {
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

/// A float as `to_jsonb` prints it: shortest round-trip digits without an
/// exponent (what Rust's `Display` prints), `0` for `-0`, specials as
/// strings.
pub(super) fn float_datum<F: Into<f64> + Copy + std::fmt::Display>(value: F) -> Datum {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
