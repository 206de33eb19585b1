//! The serializer version a socket chose with `?vsn=` at connect.
//!
//! Phoenix reads `params["vsn"] || "1.0.0"` and Supabase's endpoint accepts
//! `~> 1.0.0` (JSON objects) and `~> 2.0.0` (JSON arrays plus binary
//! broadcast frames). `~>` is Elixir's "same major and minor": `1.0.7` is
//! version 1, `1.1.0` is refused, and a refused vsn fails the connect.

use std::fmt;

/// A socket's framing, fixed for its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vsn {
    /// `1.0.0`: text frames holding `{"topic","event","payload","ref","join_ref"}`.
    V1,
    /// `2.0.0`: text frames holding `[join_ref, ref, topic, event, payload]`,
    /// plus binary broadcast frames.
    V2,
}

/// A `vsn` query value outside `~> 1.0.0` and `~> 2.0.0`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported vsn {0:?}")]
pub struct UnsupportedVsn(pub String);

impl Vsn {
    /// Reads the `vsn` query parameter; absent means `1.0.0`.
    pub fn from_query(vsn: Option<&str>) -> Result<Self, UnsupportedVsn> {
        let Some(text) = vsn else {
            return Ok(Self::V1);
        };
        let refuse = || UnsupportedVsn(text.to_owned());
        let mut parts = text.split('.');
        let mut number = || -> Option<u64> {
            let part = parts.next()?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let (major, minor, _patch) = (
            number().ok_or_else(refuse)?,
            number().ok_or_else(refuse)?,
            number().ok_or_else(refuse)?,
        );
        if parts.next().is_some() {
            return Err(refuse());
        }
        match (major, minor) {
            (1, 0) => Ok(Self::V1),
            (2, 0) => Ok(Self::V2),
            _ => Err(refuse()),
        }
    }

    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "1.0.0",
            Self::V2 => "2.0.0",
        }
    }
}

impl fmt::Display for Vsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_supabase_accepts() {
        assert_eq!(Vsn::from_query(None), Ok(Vsn::V1));
        assert_eq!(Vsn::from_query(Some("1.0.0")), Ok(Vsn::V1));
        assert_eq!(Vsn::from_query(Some("1.0.9")), Ok(Vsn::V1));
        assert_eq!(Vsn::from_query(Some("2.0.0")), Ok(Vsn::V2));
        assert_eq!(Vsn::from_query(Some("2.0.12")), Ok(Vsn::V2));
        for bad in [
            "", "1", "1.0", "1.1.0", "2.1.0", "3.0.0", "0.0.0", "1.0.0.0", "1.0.x", "v1.0.0",
            "1..0", "+1.0.0", "1.0.-1",
        ] {
            assert_eq!(
                Vsn::from_query(Some(bad)),
                Err(UnsupportedVsn(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
