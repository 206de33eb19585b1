//! Hash keys for values, so that a change finds the bindings whose `eq` (or
//! `in`) literal equals its column value with one hash lookup.
//!
//! The invariant the index relies on: for two values `a` and `b` that both
//! have a key, `a.compare(b) == Some(Equal)` implies `key(a) == key(b)`. The
//! index only narrows: every candidate it finds is still evaluated in full,
//! so keys may collide harmlessly, but two equal values must never get
//! different keys. [`Datum::compare`] says values are equal when
//! - both are booleans and the same;
//! - both are numbers (`Int` or `Number`) of the same decimal value
//!   (`2` = `2.000` = `Int(2)`): the key is the normalised decimal text;
//! - both are strings of the same bytes (text, uuid, timestamps, and the
//!   float specials `NaN`, `Infinity`);
//! - both are arrays of equal elements: not keyed (rare in `eq` filters).
//!
//! Values without a key (arrays, JSON, numbers not in plain decimal form)
//! are never used as index keys; a literal without one leaves its binding
//! in the table's scan list, and a change value without one is checked
//! against every keyed binding of that column.

use changes::Datum;

/// A hashable stand-in for a [`Datum`], equal for equal values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ValueKey {
    Bool(bool),
    /// A decimal number normalised: no sign on zero, no leading zeros, no
    /// trailing fraction zeros.
    Decimal(Box<str>),
    Text(Box<str>),
}

impl ValueKey {
    /// The key of `value`, when it has one. SQL `NULL` has none (it equals
    /// nothing).
    pub(crate) fn of(value: &Datum) -> Option<Self> {
        match value {
            Datum::Bool(flag) => Some(Self::Bool(*flag)),
            Datum::Int(number) => Some(Self::Decimal(number.to_string().into())),
            Datum::Number(raw) => normalise_decimal(raw.get()).map(Self::Decimal),
            Datum::String(text) => Some(Self::Text(text.clone())),
            Datum::Null | Datum::Json(_) | Datum::Array(_) => None,
        }
    }

    /// The key as text, for replay logs (see [`crate::replay_value_text`]):
    /// `true` / `false`, the normalised decimal, or the string. Keys of
    /// different kinds may share a text; that only widens a lookup.
    pub(crate) fn text(&self) -> &str {
        match self {
            Self::Bool(true) => "true",
            Self::Bool(false) => "false",
            Self::Decimal(text) | Self::Text(text) => text,
        }
    }
}

/// `-?digits(.digits)?` normalised; `None` for anything else.
fn normalise_decimal(text: &str) -> Option<Box<str>> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(unsigned) => (true, unsigned),
        None => (false, text),
    };
    let (int, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty()
        || !digits(int)
        || !digits(fraction)
        || (unsigned.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let mut out = String::with_capacity(text.len());
    if negative && !(int.is_empty() && fraction.is_empty()) {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { int });
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    Some(out.into())
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use changes::TypeKind;
    use changes::value::decode_text;

    use super::*;

    fn number(text: &str) -> Datum {
        decode_text(&TypeKind::Numeric, text.as_bytes())
    }

    #[test]
    fn normalises_decimals() {
        let cases = [
            ("0", "0"),
            ("-0", "0"),
            ("-0.000", "0"),
            ("007", "7"),
            ("1.50", "1.5"),
            ("2.000", "2"),
            ("-12.340", "-12.34"),
            ("0.001", "0.001"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalise_decimal(input).as_deref(),
                Some(expected),
                "{input}"
            );
        }
        for bad in ["", "-", ".5", "5.", "1e3", "1.2.3", "NaN", "+1"] {
            assert_eq!(normalise_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn equal_values_have_equal_keys() {
        let values = [
            Datum::Int(2),
            Datum::Int(-2),
            Datum::Int(0),
            number("2.000"),
            number("2"),
            number("-2.0"),
            number("0.00"),
            number("1.5"),
            number("1.50"),
            number("NaN"),
            number("Infinity"),
            Datum::String("2".into()),
            Datum::String("NaN".into()),
            Datum::Bool(true),
            Datum::Bool(false),
        ];
        for a in &values {
            for b in &values {
                if a.compare(b) == Some(Ordering::Equal) {
                    assert_eq!(ValueKey::of(a), ValueKey::of(b), "{a:?} = {b:?}");
                    assert!(ValueKey::of(a).is_some());
                } else if let (Some(x), Some(y)) = (ValueKey::of(a), ValueKey::of(b)) {
                    assert_ne!(x, y, "{a:?} <> {b:?}");
                }
            }
        }
        assert_eq!(ValueKey::of(&Datum::Null), None);
    }
}
