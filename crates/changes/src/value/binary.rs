//! The binary (send/recv) formats pgoutput uses when asked for binary
//! values, decoded into the same [`Datum`] the text format gives.

use serde_json::value::RawValue;

use super::Datum;
use super::array::MAX_ARRAY_DIMENSIONS;
use super::number::float_datum;
use super::text::decode_json;
use crate::time;
use crate::types::{PgType, TypeKind};

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
    use crate::value::tests::{compact, json};

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
