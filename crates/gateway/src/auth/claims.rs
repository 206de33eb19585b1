//! The claims of a verified token, checked the way Supabase checks them.
//!
//! Order matters because it decides which error a client sees, and SDKs
//! react to the text: first `exp` (Joken's validator: a number strictly
//! greater than now, no leeway), then `iat` (a number if present), then the
//! presence of `role` and `exp` (`ChannelsAuthorization.authorize_conn/3`).
//! Unlike Supabase we require `role` to be a string, since policies compare
//! it, and we do not read `nbf`, as Supabase does not.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::error::AuthError;

/// What a verified token says about its holder. Cloning shares them: the
/// verifier keeps recent tokens' claims ([`super::Authenticator::verify`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(Arc<Parts>);

#[derive(Debug, PartialEq)]
struct Parts {
    role: String,
    sub: Option<String>,
    exp: i64,
    /// `exp` as it was written, for [`Claims::revalidate`].
    expiry: Expiry,
    all: Map<String, Value>,
}

impl Claims {
    /// Checks the claims of a token whose signature verified.
    pub(crate) fn validate(all: Map<String, Value>, now: i64) -> Result<Self, AuthError> {
        let exp = match all.get("exp") {
            None => None,
            Some(value) => {
                let exp = Expiry::read(value).ok_or(AuthError::InvalidExpiration)?;
                exp.check(now)?;
                Some(exp)
            }
        };
        if all.get("iat").is_some_and(|iat| !iat.is_number()) {
            return Err(AuthError::Malformed);
        }
        let role = all.get("role").and_then(Value::as_str);
        let (Some(role), Some(expiry)) = (role, exp) else {
            return Err(AuthError::MissingClaims);
        };
        Ok(Self(Arc::new(Parts {
            role: role.to_owned(),
            sub: all.get("sub").and_then(Value::as_str).map(str::to_owned),
            exp: expiry.rounded,
            expiry,
            all,
        })))
    }

    /// [`Claims::validate`] again at `now`, for claims that passed it
    /// before: only the expiry can have changed, and it is checked the
    /// same way, with the same error.
    pub(crate) fn revalidate(&self, now: i64) -> Result<(), AuthError> {
        self.0.expiry.check(now)
    }

    /// `role`: the Postgres role the holder acts as (`anon`, `authenticated`, …).
    pub fn role(&self) -> &str {
        &self.0.role
    }

    /// `sub`, when it is a string: the user id.
    pub fn sub(&self) -> Option<&str> {
        self.0.sub.as_deref()
    }

    /// `exp` in seconds since the epoch (fractions rounded, as Supabase does).
    pub fn exp(&self) -> i64 {
        self.0.exp
    }

    /// Every claim, for policies that compare claims with rows or topics.
    pub fn all(&self) -> &Map<String, Value> {
        &self.0.all
    }

    /// Whether the token is still valid at `now`; once it is not, the
    /// channel must be closed with [`AuthError::message`].
    pub fn check_expiry(&self, now: SystemTime) -> Result<(), AuthError> {
        let now = unix_seconds(now);
        if self.0.exp > now {
            Ok(())
        } else {
            Err(AuthError::Expired {
                seconds_ago: now.saturating_sub(self.0.exp),
            })
        }
    }

    /// Time left before expiry at `now` (zero once expired), for the timer
    /// that closes channels when their token expires.
    pub fn expires_in(&self, now: SystemTime) -> Duration {
        let left = self.0.exp.saturating_sub(unix_seconds(now));
        Duration::from_secs(u64::try_from(left).unwrap_or(0))
    }
}

/// `exp` as Joken compares it (exactly) and as Supabase keeps it (rounded).
#[derive(Debug, PartialEq)]
struct Expiry {
    exact: Exact,
    rounded: i64,
}

#[derive(Debug, PartialEq)]
enum Exact {
    Int(i128),
    Float(f64),
}

impl Expiry {
    fn read(value: &Value) -> Option<Self> {
        let number = value.as_number()?;
        if let Some(int) = number.as_i64() {
            return Some(Self {
                exact: Exact::Int(int.into()),
                rounded: int,
            });
        }
        if let Some(uint) = number.as_u64() {
            return Some(Self {
                exact: Exact::Int(uint.into()),
                rounded: i64::try_from(uint).unwrap_or(i64::MAX),
            });
        }
        let float = number.as_f64()?;
        // `as` saturates at the i64 bounds, which is the intent here.
        Some(Self {
            exact: Exact::Float(float),
            rounded: float.round() as i64,
        })
    }

    /// Joken's check: strictly after `now`, no leeway.
    fn check(&self, now: i64) -> Result<(), AuthError> {
        if self.is_after(now) {
            Ok(())
        } else {
            Err(AuthError::Expired {
                seconds_ago: now.saturating_sub(self.rounded).max(0),
            })
        }
    }

    fn is_after(&self, now: i64) -> bool {
        match self.exact {
            Exact::Int(exp) => exp > i128::from(now),
            Exact::Float(exp) => exp > now as f64,
        }
    }
}

/// Seconds since the epoch; times before it count as 0.
pub(crate) fn unix_seconds(now: SystemTime) -> i64 {
    now.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("object expected"),
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn keeps_role_sub_exp_and_everything() {
        let c = Claims::validate(
            claims(json!({"role":"authenticated","sub":"u1","exp":NOW + 60,"tenant_id":"t9"})),
            NOW,
        )
        .expect("test claims are valid");
        assert_eq!(
            (c.role(), c.sub(), c.exp()),
            ("authenticated", Some("u1"), NOW + 60)
        );
        assert_eq!(c.all()["tenant_id"], "t9");
    }

    #[test]
    fn expiry_is_strict_and_counts_seconds() {
        let at = |exp: Value| Claims::validate(claims(json!({"role":"anon","exp":exp})), NOW);
        assert_eq!(
            at(json!(NOW)).err(),
            Some(AuthError::Expired { seconds_ago: 0 })
        );
        assert_eq!(
            at(json!(NOW - 12)).err(),
            Some(AuthError::Expired { seconds_ago: 12 })
        );
        assert!(at(json!(NOW + 1)).is_ok());
        assert!(at(json!(NOW as f64 + 0.5)).is_ok(), "compared exactly");
        assert_eq!(
            at(json!(NOW as f64 + 0.5))
                .expect("test claims are valid")
                .exp(),
            NOW + 1,
            "kept rounded"
        );
        assert_eq!(
            at(json!(u64::MAX)).expect("test claims are valid").exp(),
            i64::MAX
        );
        assert_eq!(
            at(json!(i64::MIN)).err(),
            Some(AuthError::Expired {
                seconds_ago: i64::MAX
            })
        );
        assert_eq!(at(json!("soon")).err(), Some(AuthError::InvalidExpiration));
        assert_eq!(at(json!(null)).err(), Some(AuthError::InvalidExpiration));
    }

    #[test]
    fn role_and_exp_are_required() {
        let check = |v: Value| Claims::validate(claims(v), NOW).err();
        assert_eq!(
            check(json!({"exp": NOW + 5})),
            Some(AuthError::MissingClaims)
        );
        assert_eq!(
            check(json!({"role":"anon"})),
            Some(AuthError::MissingClaims)
        );
        assert_eq!(
            check(json!({"role":7,"exp":NOW + 5})),
            Some(AuthError::MissingClaims)
        );
        // Expiry is checked before presence, as in Supabase.
        assert_eq!(
            check(json!({"exp": NOW - 1})),
            Some(AuthError::Expired { seconds_ago: 1 })
        );
        assert_eq!(
            check(json!({"role":"anon","exp":NOW + 5,"iat":"x"})),
            Some(AuthError::Malformed)
        );
    }

    #[test]
    fn open_channels_check_expiry_later() {
        let c = Claims::validate(claims(json!({"role":"anon","exp":NOW + 30})), NOW)
            .expect("test claims are valid");
        let at = |s: i64| UNIX_EPOCH + Duration::from_secs(s as u64);
        assert_eq!(c.check_expiry(at(NOW + 29)), Ok(()));
        assert_eq!(c.expires_in(at(NOW + 10)), Duration::from_secs(20));
        assert_eq!(
            c.check_expiry(at(NOW + 42)),
            Err(AuthError::Expired { seconds_ago: 12 })
        );
        assert_eq!(c.expires_in(at(NOW + 42)), Duration::ZERO);
    }
}
