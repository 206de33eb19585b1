//! Filter literals (the `42` of `id=eq.42`) read as PostgreSQL's input
//! functions read them, so that they compare with decoded values the way
//! the server would compare after casting the literal.

use super::text::decode_text;
use super::{Datum, string};
use crate::time;
use crate::types::TypeKind;

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

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::*;
    use crate::value::tests::number;

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
}
