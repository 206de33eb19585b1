//! Why a token was refused, and how Supabase words it for each audience.
//!
//! One refusal reaches the client in three shapes, and SDKs match on the
//! text, so each shape is Supabase's own:
//!
//! ```text
//!  at connect        HTTP 401 {"error": connect_message()}          "Token has expired"
//!  at join           phx_reply error {"reason": join_reason()}       "InvalidJWTToken: Token has expired 12 seconds ago"
//!  on an open channel system error {"message": message()} + close   "Token has expired 12 seconds ago"
//! ```
//!
//! `Display` is for our logs and says what went wrong in our words.

use crate::reasons;

/// A token that does not authenticate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token at connect: neither `x-api-key` nor `apikey`.
    #[error("no api key at connect")]
    MissingApiKey,
    /// Not a JWT: not three base64url parts, or header or claims not JSON
    /// objects, or an unsupported critical header.
    #[error("token is not a jwt")]
    Malformed,
    /// No configured key fits the token's algorithm and `kid` (this covers
    /// `alg: none`, unknown algorithms, unknown kids, and asymmetric tokens
    /// when only a secret is configured).
    #[error("no key to verify the token{}", kid_suffix(.kid))]
    NoSigner {
        /// The token's `kid`, named in the message when the lookup used it.
        kid: Option<String>,
    },
    /// The signature does not verify with the chosen key.
    #[error("token signature does not verify")]
    InvalidSignature,
    /// `exp` is not in the future.
    #[error("token expired {seconds_ago} seconds ago")]
    Expired {
        /// How long ago, in whole seconds.
        seconds_ago: i64,
    },
    /// `exp` is present but not a number.
    #[error("token exp is not a number")]
    InvalidExpiration,
    /// `role` (a string) or `exp` is missing.
    #[error("token lacks role or exp")]
    MissingClaims,
}

impl AuthError {
    /// The HTTP status of a refused connect (Supabase answers 401 for every
    /// token problem).
    pub fn connect_status(&self) -> u16 {
        401
    }

    /// The `error` text of a refused connect, as Supabase's
    /// `UserSocket.handle_error/2` words it (no seconds for an expired token).
    pub fn connect_message(&self) -> String {
        match self {
            Self::Expired { .. } => reasons::TOKEN_HAS_EXPIRED.to_owned(),
            other => other.message(),
        }
    }

    /// The bare message: what a channel shutdown sends in its `system`
    /// error, and the part after the code in a join refusal.
    pub fn message(&self) -> String {
        match self {
            Self::MissingApiKey => reasons::API_KEY_MISSING.to_owned(),
            Self::Malformed => reasons::NOT_A_VALID_JWT.to_owned(),
            Self::NoSigner { kid: None } => reasons::JWT_SIGNER_UNAVAILABLE.to_owned(),
            Self::NoSigner { kid: Some(kid) } => reasons::jwt_signer_unavailable_for_kid(kid),
            Self::InvalidSignature => reasons::JWT_SIGNATURE_INVALID.to_owned(),
            Self::Expired { seconds_ago } => reasons::token_expired_seconds_ago(*seconds_ago),
            Self::InvalidExpiration => reasons::TOKEN_EXPIRATION_INVALID.to_owned(),
            Self::MissingClaims => reasons::ROLE_AND_EXP_REQUIRED.to_owned(),
        }
    }

    /// Supabase's error code, the prefix of a join refusal.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::MissingApiKey => None,
            Self::Malformed => Some(reasons::CODE_MALFORMED_JWT),
            Self::NoSigner { .. } => Some(reasons::CODE_JWT_SIGNER_ERROR),
            Self::InvalidSignature => Some(reasons::CODE_JWT_SIGNATURE_ERROR),
            Self::Expired { .. } | Self::InvalidExpiration | Self::MissingClaims => {
                Some(reasons::CODE_INVALID_JWT_TOKEN)
            }
        }
    }

    /// The `reason` of a join refusal: `"<Code>: <message>"`.
    pub fn join_reason(&self) -> String {
        match self.code() {
            Some(code) => format!("{code}: {}", self.message()),
            None => self.message(),
        }
    }
}

fn kid_suffix(kid: &Option<String>) -> String {
    kid.as_ref()
        .map(|kid| format!(" (kid {kid:?})"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shape_uses_supabase_words() {
        let expired = AuthError::Expired { seconds_ago: 12 };
        assert_eq!(expired.connect_message(), "Token has expired");
        assert_eq!(
            expired.join_reason(),
            "InvalidJWTToken: Token has expired 12 seconds ago"
        );
        assert_eq!(expired.message(), "Token has expired 12 seconds ago");

        let cases = [
            (
                AuthError::Malformed,
                "The token provided is not a valid JWT",
                "MalformedJWT: The token provided is not a valid JWT",
            ),
            (
                AuthError::InvalidSignature,
                "Failed to validate JWT signature",
                "JwtSignatureError: Failed to validate JWT signature",
            ),
            (
                AuthError::MissingClaims,
                "Fields `role` and `exp` are required in JWT",
                "InvalidJWTToken: Fields `role` and `exp` are required in JWT",
            ),
            (
                AuthError::InvalidExpiration,
                "Token expiration time is invalid",
                "InvalidJWTToken: Token expiration time is invalid",
            ),
            (
                AuthError::NoSigner { kid: None },
                "Failed to generate JWT signer, check your JWT secret or JWKS configuration",
                "JwtSignerError: Failed to generate JWT signer, check your JWT secret or JWKS configuration",
            ),
            (
                AuthError::NoSigner {
                    kid: Some("k1".into()),
                },
                "Failed to generate JWT signer for key ID (kid) \"k1\", check your JWT secret or JWKS configuration",
                "JwtSignerError: Failed to generate JWT signer for key ID (kid) \"k1\", check your JWT secret or JWKS configuration",
            ),
            (
                AuthError::MissingApiKey,
                "API key is missing",
                "API key is missing",
            ),
        ];
        for (err, connect, join) in cases {
            assert_eq!(err.connect_message(), connect);
            assert_eq!(err.join_reason(), join);
            assert_eq!(err.connect_status(), 401);
        }
    }

    #[test]
    fn display_is_ours_and_lowercase() {
        assert_eq!(
            AuthError::NoSigner {
                kid: Some("k".into())
            }
            .to_string(),
            "no key to verify the token (kid \"k\")"
        );
        assert_eq!(
            AuthError::Expired { seconds_ago: 3 }.to_string(),
            "token expired 3 seconds ago"
        );
    }
}
