//! The public keys of `WALCAST_JWKS_FILE`, checked once at start.
//!
//! Tokens pick their key by `kid` and key type, as Supabase's
//! `JwtVerification.generate_signer/3` does: an RS* token takes the `RSA` key
//! with its `kid`, ES* the `EC` key, EdDSA the `OKP` key, and HS* an `oct`
//! key (falling back to the HS256 secret). We are stricter in three ways,
//! each closing a confusion: a key's `alg`, when given, must be the token's;
//! an EC key's curve must match ES256/ES384; and keys marked `"use":"enc"`
//! are never used for signatures.
//!
//! Loading fails fast on anything an operator would want to know about
//! (a signing key without `kid`, a duplicate `kid`, a malformed or weak key)
//! and skips key types RFC 7517 says to ignore.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

/// A parsed JWK set.
#[derive(Clone)]
pub struct Jwks {
    keys: Vec<JwkEntry>,
}

/// Why a JWK set file was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// Not a JSON object with a `keys` array of objects.
    #[error("jwks is not a json key set")]
    NotAKeySet(#[source] serde_json::Error),
    /// One key is unusable; `index` counts from 0 in `keys`.
    #[error("jwks key {index}{}: {problem}", kid_label(.kid))]
    Key {
        /// Position in `keys`.
        index: usize,
        /// The key's `kid`, when it has one.
        kid: Option<String>,
        /// What is wrong.
        problem: &'static str,
    },
    /// Two signing keys of the same type share a `kid`.
    #[error("jwks has two {kty} keys with kid {kid:?}")]
    DuplicateKid {
        /// The key type.
        kty: &'static str,
        /// The shared `kid`.
        kid: String,
    },
    /// The set has no key usable for verifying signatures.
    #[error("jwks has no signature verification key")]
    NoUsableKeys,
}

/// The key types a token can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    Rsa,
    Ec,
    Okp,
    Oct,
}

/// One verification key.
#[derive(Clone)]
pub(crate) struct JwkEntry {
    kid: String,
    kty: KeyType,
    /// Algorithms this key verifies: its `alg` if given, else every
    /// algorithm of its type (and curve).
    algorithms: &'static [Algorithm],
    alg: Option<Algorithm>,
    key: DecodingKey,
}

#[derive(Deserialize)]
struct JwkDoc {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    k: Option<String>,
}

impl Jwks {
    /// Parses and checks a JWK set (`{"keys":[…]}`).
    pub fn from_json(text: &str) -> Result<Self, JwksError> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<JwkDoc>,
        }
        let doc: Doc = serde_json::from_str(text).map_err(JwksError::NotAKeySet)?;
        let mut keys: Vec<JwkEntry> = Vec::with_capacity(doc.keys.len());
        for (index, jwk) in doc.keys.into_iter().enumerate() {
            let kid = jwk.kid.clone();
            let fail = |problem| JwksError::Key {
                index,
                kid: kid.clone(),
                problem,
            };
            let Some(entry) = JwkEntry::parse(jwk).map_err(fail)? else {
                continue;
            };
            if keys
                .iter()
                .any(|k| k.kty == entry.kty && k.kid == entry.kid)
            {
                return Err(JwksError::DuplicateKid {
                    kty: entry.kty.name(),
                    kid: entry.kid,
                });
            }
            keys.push(entry);
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok(Self { keys })
    }

    /// Number of verification keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid`s of the verification keys, for the start-up log.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    /// The key of type `kty` named `kid`.
    pub(crate) fn find(&self, kty: KeyType, kid: &str) -> Option<&JwkEntry> {
        self.keys.iter().find(|k| k.kty == kty && k.kid == kid)
    }
}

/// Lists the kids, never key material.
impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwks")
            .field("kids", &self.kids().collect::<Vec<_>>())
            .finish()
    }
}

impl JwkEntry {
    /// `Ok(None)` for keys to skip: encryption keys and unknown types.
    fn parse(jwk: JwkDoc) -> Result<Option<Self>, &'static str> {
        if jwk.usage.as_deref() == Some("enc") {
            return Ok(None);
        }
        let kty = match jwk.kty.as_deref() {
            Some("RSA") => KeyType::Rsa,
            Some("EC") => KeyType::Ec,
            Some("OKP") => KeyType::Okp,
            Some("oct") => KeyType::Oct,
            Some(_) => return Ok(None),
            None => return Err("missing kty"),
        };
        let kid = jwk.kid.ok_or("missing kid (keys are chosen by kid)")?;
        let field = |value: Option<String>,
                     name: &'static str|
         -> Result<(String, Vec<u8>), &'static str> {
            let text = value.ok_or(name)?;
            let bytes = URL_SAFE_NO_PAD
                .decode(&text)
                .map_err(|_| "a key field is not base64url")?;
            Ok((text, bytes))
        };
        let (algorithms, key): (&'static [Algorithm], DecodingKey) = match kty {
            KeyType::Rsa => {
                let (n, n_bytes) = field(jwk.n, "missing n")?;
                let (e, _) = field(jwk.e, "missing e")?;
                if modulus_bits(&n_bytes) < MIN_RSA_BITS {
                    return Err("rsa modulus is shorter than 2048 bits");
                }
                let key =
                    DecodingKey::from_rsa_components(&n, &e).map_err(|_| "invalid rsa key")?;
                (&[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512], key)
            }
            KeyType::Ec => {
                let (x, x_bytes) = field(jwk.x, "missing x")?;
                let (y, y_bytes) = field(jwk.y, "missing y")?;
                let (algorithms, size): (&'static [Algorithm], usize) = match jwk.crv.as_deref() {
                    Some("P-256") => (&[Algorithm::ES256], 32),
                    Some("P-384") => (&[Algorithm::ES384], 48),
                    _ => return Err("unsupported ec curve (P-256 and P-384 are)"),
                };
                if x_bytes.len() != size || y_bytes.len() != size {
                    return Err("ec coordinates do not match the curve");
                }
                let key = DecodingKey::from_ec_components(&x, &y).map_err(|_| "invalid ec key")?;
                (algorithms, key)
            }
            KeyType::Okp => {
                if jwk.crv.as_deref() != Some("Ed25519") {
                    return Err("unsupported okp curve (Ed25519 is)");
                }
                let (x, x_bytes) = field(jwk.x, "missing x")?;
                if x_bytes.len() != 32 {
                    return Err("ed25519 key is not 32 bytes");
                }
                let key = DecodingKey::from_ed_components(&x).map_err(|_| "invalid ed25519 key")?;
                (&[Algorithm::EdDSA], key)
            }
            KeyType::Oct => {
                let (_, secret) = field(jwk.k, "missing k")?;
                if secret.is_empty() {
                    return Err("empty oct key");
                }
                (
                    &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
                    DecodingKey::from_secret(&secret),
                )
            }
        };
        let alg = match jwk.alg.as_deref() {
            None => None,
            Some("EdDSA" | "Ed25519") => Some(Algorithm::EdDSA),
            Some(name) => Some(name.parse::<Algorithm>().map_err(|_| "unsupported alg")?),
        };
        if alg.is_some_and(|alg| !algorithms.contains(&alg)) {
            return Err("alg does not match the key type");
        }
        Ok(Some(Self {
            kid,
            kty,
            algorithms,
            alg,
            key,
        }))
    }

    /// Whether this key may verify a token signed with `alg`.
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        match self.alg {
            Some(own) => own == alg,
            None => self.algorithms.contains(&alg),
        }
    }

    pub(crate) fn key(&self) -> &DecodingKey {
        &self.key
    }
}

impl KeyType {
    fn name(self) -> &'static str {
        match self {
            Self::Rsa => "RSA",
            Self::Ec => "EC",
            Self::Okp => "OKP",
            Self::Oct => "oct",
        }
    }
}

fn modulus_bits(n: &[u8]) -> usize {
    let n = match n.iter().position(|&b| b != 0) {
        Some(first) => &n[first..],
        None => return 0,
    };
    n.len() * 8 - n.first().map_or(0, |b| b.leading_zeros() as usize)
}

fn kid_label(kid: &Option<String>) -> String {
    kid.as_ref()
        .map(|kid| format!(" (kid {kid:?})"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_N: &str = "5A3bs3X_m88CZDgk1BIB4Zu7NwxVDak3OXTVeKohmfy4x1k0t3qD9LDrfebdvERbi02NEwI2eLcbQrAG0PTCWgxBjw6ITgsGCuyy98qSZrjs9o5Bzztdd6UO6GUWatMsLdOKOqRZwyrBDtZMLoX0aLEAI-uMnigu40ddJh8Ve2BipP39G3tJANr_5b6NYcyhdsW65L6AK35p1WwuaI7ThWGE5U_j5bw3YpUVoeb-VeuOf_gI0Np6T1m-Sd35zHC3bf3-2uOssUkZ55PbyCdnAxXK42iO5C42Ttcj6B-dOKHtkU5SgqxVFp6bFvGhRKSELvTzJtSnLtlqiqqKVgOhkQ";

    fn rsa(kid: &str, extra: &str) -> String {
        format!(r#"{{"kty":"RSA","kid":"{kid}","n":"{RSA_N}","e":"AQAB"{extra}}}"#)
    }

    fn set(keys: &[String]) -> Result<Jwks, JwksError> {
        Jwks::from_json(&format!(r#"{{"keys":[{}]}}"#, keys.join(",")))
    }

    #[test]
    fn loads_signing_keys_and_skips_the_rest() {
        let jwks = set(&[
            rsa("r1", r#","alg":"RS256","use":"sig""#),
            rsa("r2", r#","use":"enc""#),
            r#"{"kty":"future","kid":"f"}"#.to_owned(),
            r#"{"kty":"oct","kid":"o1","k":"c2VjcmV0"}"#.to_owned(),
        ])
        .expect("test key set is valid");
        assert_eq!(jwks.kids().collect::<Vec<_>>(), ["r1", "o1"]);
        assert!(
            jwks.find(KeyType::Rsa, "r1")
                .expect("test key set is valid")
                .accepts(Algorithm::RS256)
        );
        assert!(
            !jwks
                .find(KeyType::Rsa, "r1")
                .expect("test key set is valid")
                .accepts(Algorithm::RS512)
        );
        assert!(
            jwks.find(KeyType::Oct, "o1")
                .expect("test key set is valid")
                .accepts(Algorithm::HS512)
        );
        assert!(jwks.find(KeyType::Rsa, "o1").is_none());
        assert_eq!(format!("{jwks:?}"), r#"Jwks { kids: ["r1", "o1"] }"#);
    }

    #[test]
    fn refuses_what_an_operator_must_fix() {
        let problem = |keys: &[String]| match set(keys) {
            Err(JwksError::Key { problem, .. }) => problem,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            problem(&[r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#.to_owned()]),
            "missing kid (keys are chosen by kid)"
        );
        assert_eq!(
            problem(&[r#"{"kty":"RSA","kid":"s","n":"AQAB","e":"AQAB"}"#.to_owned()]),
            "rsa modulus is shorter than 2048 bits"
        );
        assert_eq!(
            problem(&[rsa("r", r#","alg":"ES256""#)]),
            "alg does not match the key type"
        );
        assert_eq!(problem(&[rsa("r", r#","alg":"none""#)]), "unsupported alg");
        assert_eq!(
            problem(&[r#"{"kty":"EC","kid":"e","crv":"P-521","x":"AA","y":"AA"}"#.to_owned()]),
            "unsupported ec curve (P-256 and P-384 are)"
        );
        assert_eq!(
            problem(&[r#"{"kty":"EC","kid":"e","crv":"P-256","x":"AA","y":"AA"}"#.to_owned()]),
            "ec coordinates do not match the curve"
        );
        assert_eq!(
            problem(&[r#"{"kty":"oct","kid":"o","k":"@@"}"#.to_owned()]),
            "a key field is not base64url"
        );
        assert_eq!(
            problem(&[r#"{"kid":"o","k":"AA"}"#.to_owned()]),
            "missing kty"
        );
        assert!(matches!(
            set(&[rsa("r", ""), rsa("r", "")]),
            Err(JwksError::DuplicateKid { kty: "RSA", .. })
        ));
        assert!(matches!(set(&[]), Err(JwksError::NoUsableKeys)));
        assert!(matches!(
            Jwks::from_json("[]"),
            Err(JwksError::NotAKeySet(_))
        ));
    }

    #[test]
    fn modulus_bits_ignore_leading_zeros() {
        assert_eq!(modulus_bits(&[0, 0, 1]), 1);
        assert_eq!(modulus_bits(&[0x80, 0]), 16);
        assert_eq!(modulus_bits(&[]), 0);
    }
}
