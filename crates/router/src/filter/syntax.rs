//! The lexical layer of filter strings, following Supabase Realtime's
//! `subscriptions.ex` byte for byte where it decides what a client's string
//! means:
//!
//! ```text
//!  "a=eq.1,b=in.(1,\"2,3\"),c=eq.\"x,y\""
//!     │ split_top_level: commas outside (...) and outside "..." separate terms
//!     ▼
//!  ["a=eq.1", "b=in.(1,\"2,3\")", "c=eq.\"x,y\""]
//!     │ per term (in mod.rs): column "=" ["not."] op "." value
//!     ▼
//!  value: unquote ("\"x,y\"" → "x,y")   in-list: array_elements ("1,\"2,3\"" → ["1", "2,3"])
//! ```
//!
//! A `"` opens a quoted run only right after `.`, `(` or `,` (where a value
//! or list element starts); inside it a backslash escapes the next byte.
//! The in-list is read the way PostgreSQL's `array_in` reads the `{...}`
//! literal Supabase turns it into.

/// Splits a filter at the commas that separate its terms: not inside
/// parentheses, not inside a quoted value. Segments are returned untrimmed.
pub(super) fn split_top_level(filter: &str) -> Vec<&str> {
    let mut segments = Vec::new();
    let mut start = 0;
    let mut depth = 0usize;
    let mut quoted = false;
    let mut previous = 0u8;
    let mut bytes = filter.bytes().enumerate();
    while let Some((index, byte)) = bytes.next() {
        if quoted {
            match byte {
                b'\\' => {
                    // The escaped byte is taken as is, even a quote.
                    previous = bytes.next().map_or(byte, |(_, next)| next);
                    continue;
                }
                b'"' => quoted = false,
                _ => {}
            }
        } else {
            match byte {
                b'"' if matches!(previous, b'.' | b'(' | b',') => quoted = true,
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                b',' if depth == 0 => {
                    // `,` is ASCII, so `index` is a char boundary.
                    segments.push(filter.get(start..index).unwrap_or_default());
                    start = index + 1;
                    previous = 0;
                    continue;
                }
                _ => {}
            }
        }
        previous = byte;
    }
    segments.push(filter.get(start..).unwrap_or_default());
    segments
}

/// A value with PostgREST quoting removed: `"a,b"` → `a,b`, `"a\"b"` →
/// `a"b`. A value that does not start with `"`, or whose quotes do not
/// close exactly at its end, is returned unchanged (as Supabase does).
pub(super) fn unquote(value: &str) -> String {
    let Some(rest) = value.strip_prefix('"') else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' if chars.as_str().is_empty() => return out,
            '"' => return value.to_owned(),
            '\\' => match chars.next() {
                Some(escaped) => out.push(escaped),
                None => return value.to_owned(),
            },
            c => out.push(c),
        }
    }
    value.to_owned()
}

/// Why an in-list is not a valid array literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MalformedList;

/// The elements of an in-list body (what is between the parentheses), read
/// as PostgreSQL reads the one-dimensional array literal `{body}`: elements
/// separated by commas; unquoted elements trimmed of spaces, with `\`
/// escaping the next character, and `NULL` (any case) meaning SQL `NULL`;
/// quoted elements taken verbatim but for `\` escapes. An empty or blank
/// body is the empty list.
pub(super) fn array_elements(body: &str) -> Result<Vec<Option<String>>, MalformedList> {
    let mut elements = Vec::new();
    let mut chars = body.chars().peekable();
    skip_spaces(&mut chars);
    if chars.peek().is_none() {
        return Ok(elements);
    }
    loop {
        skip_spaces(&mut chars);
        let element = if chars.peek() == Some(&'"') {
            chars.next();
            Some(quoted_element(&mut chars)?)
        } else {
            unquoted_element(&mut chars)?
        };
        elements.push(element);
        skip_spaces(&mut chars);
        match chars.next() {
            None => return Ok(elements),
            Some(',') => {}
            Some(_) => return Err(MalformedList),
        }
    }
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn skip_spaces(chars: &mut Chars<'_>) {
    while chars.next_if(|c| is_array_space(*c)).is_some() {}
}

/// `array_in` skips what `scanner_isspace` calls space.
fn is_array_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
}

/// The rest of a quoted element, after its opening quote.
fn quoted_element(chars: &mut Chars<'_>) -> Result<String, MalformedList> {
    let mut out = String::new();
    loop {
        match chars.next() {
            None => return Err(MalformedList),
            Some('"') => return Ok(out),
            Some('\\') => out.push(chars.next().ok_or(MalformedList)?),
            Some(c) => out.push(c),
        }
    }
}

/// An unquoted element, up to the next `,` or the end; `None` for `NULL`.
fn unquoted_element(chars: &mut Chars<'_>) -> Result<Option<String>, MalformedList> {
    let mut out = String::new();
    // Length of `out` up to its last escaped or non-space character, so
    // that trailing spaces are trimmed but escaped ones are kept.
    let mut kept = 0;
    let mut escaped_any = false;
    while let Some(&c) = chars.peek() {
        match c {
            ',' => break,
            '"' | '{' | '}' => return Err(MalformedList),
            '\\' => {
                chars.next();
                out.push(chars.next().ok_or(MalformedList)?);
                kept = out.len();
                escaped_any = true;
                continue;
            }
            c => {
                out.push(c);
                if !is_array_space(c) {
                    kept = out.len();
                }
            }
        }
        chars.next();
    }
    out.truncate(kept);
    if out.is_empty() && !escaped_any {
        return Err(MalformedList);
    }
    if !escaped_any && out.eq_ignore_ascii_case("null") {
        return Ok(None);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_only_top_level_commas() {
        assert_eq!(split_top_level("a=eq.1"), ["a=eq.1"]);
        assert_eq!(split_top_level("a=eq.1,b=gt.2"), ["a=eq.1", "b=gt.2"]);
        assert_eq!(
            split_top_level("id=in.(1,2,3),b=eq.x"),
            ["id=in.(1,2,3)", "b=eq.x"]
        );
        assert_eq!(
            split_top_level(r#"name=eq."a,b",c=eq.d"#),
            [r#"name=eq."a,b""#, "c=eq.d"]
        );
        assert_eq!(
            split_top_level(r#"name=eq."a\",b",c=eq.d"#),
            [r#"name=eq."a\",b""#, "c=eq.d"]
        );
        assert_eq!(
            split_top_level(r#"x=in.("a,b",c),y=eq.1"#),
            [r#"x=in.("a,b",c)"#, "y=eq.1"]
        );
        // A quote inside a word opens nothing.
        assert_eq!(
            split_top_level(r#"a=eq.x"y,b=eq.z"#),
            [r#"a=eq.x"y"#, "b=eq.z"]
        );
        // Unbalanced parentheses never go below zero.
        assert_eq!(split_top_level("a=eq.),b=eq.1"), ["a=eq.)", "b=eq.1"]);
        assert_eq!(split_top_level("a=eq.1,"), ["a=eq.1", ""]);
        assert_eq!(split_top_level(""), [""]);
    }

    #[test]
    fn unquotes_values() {
        assert_eq!(unquote("plain"), "plain");
        assert_eq!(unquote(r#""a,b""#), "a,b");
        assert_eq!(unquote(r#""a\"b\\c""#), r#"a"b\c"#);
        assert_eq!(unquote(r#""""#), "");
        // Not closed at the end: kept as sent.
        assert_eq!(unquote(r#""a"b"#), r#""a"b"#);
        assert_eq!(unquote(r#""open"#), r#""open"#);
        assert_eq!(unquote(r#""trailing\"#), r#""trailing\"#);
        assert_eq!(unquote(r#"mid"quote""#), r#"mid"quote""#);
    }

    #[test]
    fn reads_array_elements() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(array_elements(""), Ok(vec![]));
        assert_eq!(array_elements("  "), Ok(vec![]));
        assert_eq!(
            array_elements("1,2,3"),
            Ok(vec![some("1"), some("2"), some("3")])
        );
        assert_eq!(array_elements(" a , b "), Ok(vec![some("a"), some("b")]));
        assert_eq!(
            array_elements(r#""c,d", "x\"y" ,e"#),
            Ok(vec![some("c,d"), some("x\"y"), some("e")])
        );
        assert_eq!(
            array_elements(r#"NULL,null,"NULL",\null"#),
            Ok(vec![None, None, some("NULL"), some("null")])
        );
        assert_eq!(
            array_elements(r#"a\,b,c\ "#),
            Ok(vec![some("a,b"), some("c ")])
        );
        assert_eq!(array_elements(r#""""#), Ok(vec![some("")]));
        for bad in [
            "1,,2", "1,", ",", "a\"b", "\"a\"b", "{1}", "a}", "\"open", "x\\",
        ] {
            assert_eq!(array_elements(bad), Err(MalformedList), "{bad}");
        }
    }
}
