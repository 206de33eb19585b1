//! JWT authentication at connect and per channel.
//!
//! ```text
//!  connect:  x-api-key header ─┐
//!            apikey query ─────┴─ connect_token ──▶ Authenticator::verify ──▶ Claims | 401 {"error":…}
//!  join:     access_token / user_token / connect token ── join_token ──▶ verify ──▶ Claims | phx_reply error
//!  refresh:  access_token push ──▶ verify ──▶ new Claims | system error + phx_close
//! ```
//!
//! [`Authenticator::verify`] follows Supabase's `JwtVerification` so that the
//! same tokens pass and fail with the same words:
//!
//! 1. the token must be three base64url parts with JSON-object header and
//!    claims ([`AuthError::Malformed`]);
//! 2. the header's `alg` and `kid` choose exactly one key, or none
//!    ([`AuthError::NoSigner`]): HS256/384/512 use an `oct` key of the JWKS
//!    with that `kid`, else `WALCAST_JWT_SECRET`; RS256/384/512, ES256/384
//!    and EdDSA need a `kid` naming a JWKS key of the matching type. `alg:
//!    none` and anything unknown has no key. The key decides the algorithm
//!    family, so an HS256 token "signed" with an RSA public key as HMAC
//!    secret never meets that RSA key (algorithm confusion);
//! 3. the signature must verify ([`AuthError::InvalidSignature`]);
//! 4. the claims must hold a future `exp` and a `role` (see [`Claims`]).

mod claims;
mod error;
mod jwks;
mod jwt;
mod recent;

use std::fmt;
use std::time::SystemTime;

use jsonwebtoken::crypto::{CryptoProvider, rust_crypto};
use jsonwebtoken::{Algorithm, DecodingKey};

pub use claims::Claims;
pub use error::AuthError;
pub use jwks::{Jwks, JwksError};

use crate::token::BearerToken;
use jwks::KeyType;

/// Verifies tokens against the configured secret and JWKS.
#[derive(Clone)]
pub struct Authenticator {
    secret: Option<DecodingKey>,
    jwks: Option<Jwks>,
    /// Shared by clones, which verify with the same keys.
    recent: std::sync::Arc<recent::RecentTokens>,
}

/// The HMAC secret for HS256 tokens (`WALCAST_JWT_SECRET`), used as raw
/// bytes like Supabase's `jwt_secret`. `Debug` never shows it.
pub struct JwtSecret(Vec<u8>);

/// A key configuration that cannot verify anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    /// Neither a secret nor a JWKS was given.
    #[error("no jwt secret and no jwks configured: every token would be refused")]
    NoKeys,
    /// The secret is empty.
    #[error("jwt secret is empty")]
    EmptySecret,
}

impl JwtSecret {
    /// Wraps a secret; refuses an empty one.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, AuthConfigError> {
        let secret = secret.into();
        if secret.is_empty() {
            return Err(AuthConfigError::EmptySecret);
        }
        Ok(Self(secret))
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

impl Authenticator {
    /// An authenticator with an HMAC secret, a JWKS, or both.
    pub fn new(secret: Option<JwtSecret>, jwks: Option<Jwks>) -> Result<Self, AuthConfigError> {
        if secret.is_none() && jwks.is_none() {
            return Err(AuthConfigError::NoKeys);
        }
        // Pin the crypto backend: if another crate ever enabled
        // jsonwebtoken's `aws_lc_rs` too, its automatic choice would panic.
        // Failing here only means a provider is already installed.
        let _ = CryptoProvider::install_default(&rust_crypto::DEFAULT_PROVIDER);
        Ok(Self {
            secret: secret.map(|s| DecodingKey::from_secret(&s.0)),
            jwks,
            recent: std::sync::Arc::default(),
        })
    }

    /// Verifies `token` at time `now` and returns its claims.
    ///
    /// A token verified recently is not verified again: its claims are
    /// kept ([`recent`]) and only their expiry is checked, with the same
    /// result as a full check. Nearly every socket connects with the
    /// project's API key, and each user's token is sent again in every
    /// join and reconnect.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Claims, AuthError> {
        let now = claims::unix_seconds(now);
        if let Some(claims) = self.recent.get(token) {
            claims.revalidate(now)?;
            return Ok(claims);
        }
        let claims = self.verify_signed(token, now)?;
        self.recent.put(token, &claims);
        Ok(claims)
    }

    /// The whole check: parse, signature, claims.
    fn verify_signed(&self, token: &str, now: i64) -> Result<Claims, AuthError> {
        let token = jwt::clean(token);
        let jwt = jwt::parse(&token)?;
        let (alg, key) = self.signer(jwt.alg.as_deref(), jwt.kid.as_deref())?;
        let verified =
            jsonwebtoken::crypto::verify(jwt.signature, jwt.signing_input.as_bytes(), key, alg);
        if !matches!(verified, Ok(true)) {
            return Err(AuthError::InvalidSignature);
        }
        Claims::validate(jwt.claims, now)
    }

    /// The one key allowed to verify a token with this `alg` and `kid`
    /// (Supabase's `generate_signer/3`, with the key's own `alg` enforced).
    fn signer(
        &self,
        alg: Option<&str>,
        kid: Option<&str>,
    ) -> Result<(Algorithm, &DecodingKey), AuthError> {
        let no_signer = |kid: Option<&str>| AuthError::NoSigner {
            kid: kid.map(str::to_owned),
        };
        let Some((alg, kty)) = alg.and_then(token_algorithm) else {
            return Err(no_signer(None));
        };
        if let (Some(kid), Some(jwks)) = (kid, &self.jwks) {
            match jwks.find(kty, kid) {
                Some(entry) if entry.accepts(alg) => return Ok((alg, entry.key())),
                Some(_) => return Err(no_signer(Some(kid))),
                // Supabase Auth signs HS256 tokens with a `kid` but never
                // publishes the secret as a JWK: fall back to the secret.
                None if kty == KeyType::Oct => {}
                None => return Err(no_signer(Some(kid))),
            }
        }
        match (kty, &self.secret) {
            (KeyType::Oct, Some(secret)) => Ok((alg, secret)),
            (KeyType::Oct, None) if self.jwks.is_some() => Err(no_signer(kid)),
            _ => Err(no_signer(None)),
        }
    }
}

/// Names only whether a secret and which kids are configured.
impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("jwks", &self.jwks)
            .finish()
    }
}

/// The algorithms a token may name, and the key type each needs.
fn token_algorithm(alg: &str) -> Option<(Algorithm, KeyType)> {
    Some(match alg {
        "HS256" => (Algorithm::HS256, KeyType::Oct),
        "HS384" => (Algorithm::HS384, KeyType::Oct),
        "HS512" => (Algorithm::HS512, KeyType::Oct),
        "RS256" => (Algorithm::RS256, KeyType::Rsa),
        "RS384" => (Algorithm::RS384, KeyType::Rsa),
        "RS512" => (Algorithm::RS512, KeyType::Rsa),
        "ES256" => (Algorithm::ES256, KeyType::Ec),
        "ES384" => (Algorithm::ES384, KeyType::Ec),
        // RFC 8037 says `EdDSA`; JOSE libraries also write the curve.
        "EdDSA" | "Ed25519" => (Algorithm::EdDSA, KeyType::Okp),
        _ => return None,
    })
}

/// The token a socket connects with: the `x-api-key` header wins over the
/// `apikey` query parameter (Supabase's `UserSocket.access_token/2`).
pub fn connect_token(
    apikey_param: Option<&str>,
    x_api_key_header: Option<&str>,
) -> Result<BearerToken, AuthError> {
    x_api_key_header
        .or(apikey_param)
        .map(BearerToken::new)
        .ok_or(AuthError::MissingApiKey)
}

/// The token a join is authorized with (Supabase's
/// `RealtimeChannel.assign_access_token/2`): the connect token when the
/// payload's token is an opaque `sb_` key; otherwise `user_token`, then
/// `access_token`, then the connect token.
pub fn join_token<'a>(
    access_token: Option<&'a BearerToken>,
    user_token: Option<&'a BearerToken>,
    connect_token: &'a BearerToken,
) -> &'a BearerToken {
    if access_token
        .or(user_token)
        .is_some_and(BearerToken::is_opaque_api_key)
    {
        return connect_token;
    }
    user_token.or(access_token).unwrap_or(connect_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_token_prefers_the_header() {
        assert_eq!(
            connect_token(Some("q"), Some("h")).map(|t| t.as_str().to_owned()),
            Ok("h".to_owned())
        );
        assert_eq!(
            connect_token(Some("q"), None).map(|t| t.as_str().to_owned()),
            Ok("q".to_owned())
        );
        assert_eq!(connect_token(None, None), Err(AuthError::MissingApiKey));
    }

    #[test]
    fn join_token_follows_supabase() {
        let connect = BearerToken::new("connect");
        let access = BearerToken::new("access");
        let user = BearerToken::new("user");
        let opaque = BearerToken::new("sb_publishable_x");
        let pick = |a, u| join_token(a, u, &connect).as_str().to_owned();
        assert_eq!(pick(None, None), "connect");
        assert_eq!(pick(Some(&access), None), "access");
        assert_eq!(pick(Some(&access), Some(&user)), "user");
        assert_eq!(pick(None, Some(&user)), "user");
        assert_eq!(pick(Some(&opaque), Some(&user)), "connect");
        assert_eq!(pick(None, Some(&opaque)), "connect");
    }

    #[test]
    fn config_is_checked_and_secrets_stay_hidden() {
        assert_eq!(
            Authenticator::new(None, None).err(),
            Some(AuthConfigError::NoKeys)
        );
        assert_eq!(JwtSecret::new("").err(), Some(AuthConfigError::EmptySecret));
        let secret = JwtSecret::new("super-secret-value").expect("test secret is valid");
        assert_eq!(format!("{secret:?}"), "JwtSecret(<redacted>)");
        let auth = Authenticator::new(Some(secret), None).expect("test secret is valid");
        let shown = format!("{auth:?}");
        assert!(!shown.contains("super-secret"), "{shown}");
        assert_eq!(
            shown,
            r#"Authenticator { secret: Some("<redacted>"), jwks: None }"#
        );
    }
}
