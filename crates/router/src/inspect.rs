//! Elixir's `inspect/1` spelling of client input, for the error texts that
//! Supabase Realtime builds with it (``Error parsing `filter` params:
//! ["foo", "hey"]``, `... to subscribe to: %{"event" => "*"}`). Clients and
//! their tests see these strings, so walcast spells them the same way.

use std::fmt::{self, Write};

use serde_json::Value;

/// A list of strings as Elixir inspects it: `["foo", "hey"]`.
pub(crate) fn string_list(items: &[&str]) -> String {
    let mut out = String::from("[");
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        push_string(&mut out, item);
    }
    out.push(']');
    out
}

/// A decoded JSON value as Elixir inspects the term Jason decodes it into:
/// maps as `%{"key" => value}` with keys in sorted order, lists as
/// `[a, b]`, `nil`, `true`, numbers, and strings quoted and escaped.
pub(crate) fn json(value: &Value) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_json(&mut out, value);
    out
}

fn write_json(out: &mut String, value: &Value) -> fmt::Result {
    match value {
        Value::Null => out.push_str("nil"),
        Value::Bool(flag) => write!(out, "{flag}")?,
        Value::Number(number) => write!(out, "{number}")?,
        Value::String(text) => push_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_json(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            // serde_json's map is sorted by key, which is Elixir's order for
            // string keys of small maps.
            out.push_str("%{");
            for (index, (key, item)) in map.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                push_string(out, key);
                out.push_str(" => ");
                write_json(out, item)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// A string in double quotes with Elixir's escapes.
fn push_string(out: &mut String, text: &str) {
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            '#' if chars.peek() == Some(&'{') => out.push_str("\\#"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{{{:X}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_of_strings() {
        assert_eq!(string_list(&["foo", "hey"]), r#"["foo", "hey"]"#);
        assert_eq!(string_list(&["undefined"]), r#"["undefined"]"#);
        assert_eq!(string_list(&[]), "[]");
        assert_eq!(string_list(&["a\"b\\c\n#{x}"]), r#"["a\"b\\c\n\#{x}"]"#);
    }

    #[test]
    fn json_terms() {
        let value = serde_json::json!({
            "table": "todos",
            "event": "*",
            "n": 1,
            "f": 1.5,
            "list": [true, null],
            "inner": {},
        });
        assert_eq!(
            json(&value),
            r#"%{"event" => "*", "f" => 1.5, "inner" => %{}, "list" => [true, nil], "n" => 1, "table" => "todos"}"#
        );
        assert_eq!(json(&serde_json::json!("x")), r#""x""#);
    }
}
