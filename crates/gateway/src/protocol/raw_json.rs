//! Validated JSON text that is spliced into frames without re-encoding.
//!
//! Payloads mostly pass through the gateway untouched: a client's broadcast
//! goes to the other members verbatim, a binding is echoed verbatim in the
//! join reply, a change row is serialised once by the router. [`RawJson`]
//! carries such text as a zero-copy [`Bytes`] slice of the frame it came
//! from, and its constructors guarantee it is exactly one valid JSON value in
//! UTF-8. That guarantee is what makes splicing safe: a payload like
//! `1],["x"` can never reach an encoder and break out of the frame it is
//! spliced into.

use std::fmt;

use bytes::Bytes;
use serde::Serialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// One complete JSON value as UTF-8 text; cheap to clone (shared bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct RawJson(Bytes);

impl RawJson {
    /// Validates `text` as exactly one JSON value (surrounding whitespace
    /// allowed) and keeps it without copying.
    pub fn parse(text: Bytes) -> Result<Self, serde_json::Error> {
        let s = std::str::from_utf8(&text).map_err(|_| invalid_utf8())?;
        serde_json::from_str::<IgnoredAny>(s)?;
        Ok(Self(text))
    }

    /// Serialises `value`; the output is valid JSON by construction.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(value).map(|v| Self(Bytes::from(v)))
    }

    /// `{}`, the payload of heartbeat replies, `phx_close` and friends.
    pub fn empty_object() -> Self {
        Self(Bytes::from_static(b"{}"))
    }

    /// The JSON text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The JSON text as shared bytes.
    pub fn to_bytes(&self) -> Bytes {
        self.0.clone()
    }

    /// Whether the value is a JSON object.
    pub fn is_object(&self) -> bool {
        first_non_ws(&self.0) == Some(b'{')
    }

    /// Wraps a value that `frame` borrowed from: a zero-copy slice when
    /// `raw` lies inside `frame` (always, for values deserialised from it),
    /// a copy otherwise. The text is valid because serde_json produced it.
    pub(crate) fn from_raw_in(frame: &Bytes, raw: &RawValue) -> Self {
        let text = raw.get().as_bytes();
        let base = frame.as_ptr() as usize;
        let start = text.as_ptr() as usize;
        let range = start
            .checked_sub(base)
            .and_then(|offset| Some(offset..offset.checked_add(text.len())?))
            .filter(|range| range.end <= frame.len());
        match range {
            Some(range) => Self(frame.slice(range)),
            None => Self(Bytes::copy_from_slice(text)),
        }
    }
}

/// Shows the size only: payloads carry user data and tokens.
impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({} bytes)", self.0.len())
    }
}

/// Whether a borrowed value is a JSON object. Serde's derived structs also
/// accept arrays, so every "must be an object" check goes through here.
pub(crate) fn is_object(raw: &RawValue) -> bool {
    first_non_ws(raw.get().as_bytes()) == Some(b'{')
}

fn first_non_ws(bytes: &[u8]) -> Option<u8> {
    bytes
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

fn invalid_utf8() -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom("invalid utf-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_exactly_one_value() {
        for ok in [r#"{"a":[1,2,{"b":null}]}"#, " 1 ", r#""x""#, "[]", "null"] {
            assert!(RawJson::parse(Bytes::from(ok)).is_ok(), "{ok}");
        }
        for bad in ["", "1,2", r#"1],["x""#, "{", r#"{"a":}"#, "nul", "[1] x"] {
            assert!(RawJson::parse(Bytes::from(bad)).is_err(), "{bad}");
        }
        assert!(RawJson::parse(Bytes::from_static(b"\"\xff\"")).is_err());
    }

    #[test]
    fn object_detection_and_debug() {
        let obj = RawJson::parse(Bytes::from(" {\"k\":1}")).expect("test json is valid");
        assert!(obj.is_object());
        assert!(
            !RawJson::parse(Bytes::from("[1]"))
                .expect("test json is valid")
                .is_object()
        );
        assert_eq!(format!("{obj:?}"), "RawJson(8 bytes)");
    }

    #[test]
    fn slices_share_the_frame() {
        let frame = Bytes::from(r#"{"payload":{"x":1}}"#);
        #[derive(serde::Deserialize)]
        struct P<'a> {
            #[serde(borrow)]
            payload: &'a RawValue,
        }
        let text = std::str::from_utf8(&frame).expect("test json is valid");
        let p: P<'_> = serde_json::from_str(text).expect("test json is valid");
        let raw = RawJson::from_raw_in(&frame, p.payload);
        assert_eq!(raw.as_bytes(), br#"{"x":1}"#);
        assert_eq!(raw.0.as_ptr() as usize - frame.as_ptr() as usize, 11);

        let elsewhere = Bytes::from("nothing");
        assert_eq!(
            RawJson::from_raw_in(&elsewhere, p.payload).as_bytes(),
            br#"{"x":1}"#
        );
    }
}
