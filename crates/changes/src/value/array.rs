//! Array literals as `array_out` prints them (and most of what `array_in`
//! accepts), parsed into nested JSON arrays whose elements follow the
//! element type.

use std::borrow::Cow;

use super::Datum;
use super::text::decode_text;
use crate::types::TypeKind;

/// PostgreSQL arrays have at most 6 dimensions (`MAXDIM`).
pub(super) const MAX_ARRAY_DIMENSIONS: usize = 6;

/// Parses an array literal as `array_out` prints it (and most of what
/// `array_in` accepts): `{1,2,NULL}`, `{"a b","c\"d"}`, `{{1,2},{3,4}}`,
/// `[0:1]={1,2}`, `{}`. `None` when malformed.
pub(super) fn decode_array(element: &TypeKind, text: &[u8]) -> Option<Datum> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::tests::text;

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
}
