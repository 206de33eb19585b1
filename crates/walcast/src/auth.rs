//! Token configuration for the gateway, and the development tokens
//! `walcast dev` prints.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use gateway::auth::{Authenticator, Jwks, JwtSecret};
use serde_json::json;

use crate::settings::{Secret, Settings};

/// The HS256 secret `walcast dev` uses when none is configured. Public by
/// design: development tokens must be reproducible, and `walcast dev`
/// never runs in production.
pub(crate) const DEV_JWT_SECRET: &str = "walcast-dev-secret-not-for-production-use";

/// The authenticator for the configured secret and key file.
pub(crate) fn authenticator(settings: &Settings) -> anyhow::Result<Authenticator> {
    let secret = settings
        .jwt_secret
        .as_ref()
        .map(|s| JwtSecret::new(s.0.as_bytes().to_vec()))
        .transpose()
        .context("WALCAST_JWT_SECRET")?;
    let jwks = match &settings.jwks_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("WALCAST_JWKS_FILE: cannot read {}", path.display()))?;
            Some(
                Jwks::from_json(&text)
                    .with_context(|| format!("WALCAST_JWKS_FILE: {}", path.display()))?,
            )
        }
        None => None,
    };
    if secret.is_none() && jwks.is_none() {
        bail!("no token keys: set WALCAST_JWT_SECRET (HS256) or WALCAST_JWKS_FILE (RS256/ES256)");
    }
    Authenticator::new(secret, jwks).context("token configuration")
}

/// The development secret, unless one is configured.
pub(crate) fn with_dev_secret(mut settings: Settings) -> Settings {
    if settings.jwt_secret.is_none() && settings.jwks_file.is_none() {
        settings.jwt_secret = Some(Secret(DEV_JWT_SECRET.to_owned()));
    }
    settings
}

/// An HS256 token with `role` and any extra claims, valid for `days`.
pub(crate) fn sign(
    secret: &str,
    role: &str,
    extra: serde_json::Value,
    days: u64,
) -> anyhow::Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut claims = json!({"role": role, "iat": now, "exp": now + days * 86_400});
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        claims.extend(extra.clone());
    }
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &key,
    )?)
}
