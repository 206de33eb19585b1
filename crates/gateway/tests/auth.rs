//! Token verification end to end, with real keys (see `tests/keys/README.md`).
//!
//! Every rejection path of `Authenticator::verify` is exercised with a token
//! a real attacker or a misconfigured client could send.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway::auth::{AuthError, Authenticator, Jwks, JwtSecret};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SECRET: &str = "walcast-test-secret-0123456789abcdef";
const OCT_SECRET: &[u8] = b"jwks-oct-secret-for-tests-only-0123456789";
const JWKS: &str = include_str!("keys/jwks.json");
const RSA_1: &[u8] = include_bytes!("keys/rsa-1.key.pem");
const RSA_1_PUB: &[u8] = include_bytes!("keys/rsa-1.pub.pem");
const RSA_OTHER: &[u8] = include_bytes!("keys/rsa-other.key.pem");
const EC_1: &[u8] = include_bytes!("keys/ec-1.key.pem");
const ED_1: &[u8] = include_bytes!("keys/ed-1.key.pem");

const NOW: u64 = 1_800_000_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn claims() -> Value {
    json!({"role": "authenticated", "sub": "user-1", "exp": NOW + 3600, "tenant_id": "t1"})
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("test token signs")
}

fn hs(secret: &[u8]) -> EncodingKey {
    EncodingKey::from_secret(secret)
}

fn rsa(pem: &[u8]) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem).expect("test rsa key")
}

fn both() -> Authenticator {
    Authenticator::new(
        Some(JwtSecret::new(SECRET).expect("test key is valid")),
        Some(Jwks::from_json(JWKS).expect("test key is valid")),
    )
    .expect("test key is valid")
}

fn secret_only() -> Authenticator {
    Authenticator::new(
        Some(JwtSecret::new(SECRET).expect("test key is valid")),
        None,
    )
    .expect("test key is valid")
}

fn jwks_only() -> Authenticator {
    Authenticator::new(
        None,
        Some(Jwks::from_json(JWKS).expect("test key is valid")),
    )
    .expect("test key is valid")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with a hand-written header, signed with HMAC-SHA256 over `secret`.
fn hand_signed(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &hs(secret), Algorithm::HS256)
        .expect("hmac signs");
    format!("{input}.{signature}")
}

#[test]
fn accepts_every_supported_key_kind() {
    let auth = both();
    let tokens = [
        sign(Algorithm::HS256, None, &claims(), &hs(SECRET.as_bytes())),
        sign(Algorithm::HS384, None, &claims(), &hs(SECRET.as_bytes())),
        sign(Algorithm::HS512, None, &claims(), &hs(SECRET.as_bytes())),
        // Supabase Auth: HS256 with a kid that is not in the JWKS uses the secret.
        sign(
            Algorithm::HS256,
            Some("auth-kid"),
            &claims(),
            &hs(SECRET.as_bytes()),
        ),
        sign(Algorithm::HS256, Some("oct-1"), &claims(), &hs(OCT_SECRET)),
        sign(Algorithm::RS256, Some("rsa-1"), &claims(), &rsa(RSA_1)),
        sign(
            Algorithm::ES256,
            Some("ec-1"),
            &claims(),
            &EncodingKey::from_ec_pem(EC_1).expect("test key is valid"),
        ),
        sign(
            Algorithm::EdDSA,
            Some("ed-1"),
            &claims(),
            &EncodingKey::from_ed_pem(ED_1).expect("test key is valid"),
        ),
    ];
    for token in &tokens {
        let verified = auth
            .verify(token, now())
            .unwrap_or_else(|e| panic!("{e}: {token}"));
        assert_eq!(verified.role(), "authenticated");
        assert_eq!(verified.sub(), Some("user-1"));
        assert_eq!(verified.exp(), (NOW + 3600) as i64);
        assert_eq!(verified.all()["tenant_id"], "t1");
    }
}

#[test]
fn rejects_wrong_keys() {
    let auth = both();
    let cases = [
        // Another HMAC secret.
        sign(Algorithm::HS256, None, &claims(), &hs(b"not-the-secret")),
        // The oct JWK's kid, signed with the main secret.
        sign(
            Algorithm::HS256,
            Some("oct-1"),
            &claims(),
            &hs(SECRET.as_bytes()),
        ),
        // The right kid, another RSA key.
        sign(Algorithm::RS256, Some("rsa-1"), &claims(), &rsa(RSA_OTHER)),
    ];
    for token in cases {
        assert_eq!(
            auth.verify(&token, now()).err(),
            Some(AuthError::InvalidSignature)
        );
    }
}

#[test]
fn rejects_tampered_tokens() {
    let token = sign(Algorithm::RS256, Some("rsa-1"), &claims(), &rsa(RSA_1));
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = b64(json!({"role":"service_role","exp":NOW + 3600})
        .to_string()
        .as_bytes());
    parts[1] = &forged;
    assert_eq!(
        both().verify(&parts.join("."), now()).err(),
        Some(AuthError::InvalidSignature)
    );
    let truncated = &token[..token.len() - 4];
    assert_eq!(
        both().verify(truncated, now()).err(),
        Some(AuthError::InvalidSignature)
    );
}

#[test]
fn rejects_alg_none() {
    for alg in ["none", "None", "NONE", ""] {
        let header = b64(json!({"alg": alg, "typ": "JWT"}).to_string().as_bytes());
        let body = b64(claims().to_string().as_bytes());
        for token in [format!("{header}.{body}."), format!("{header}.{body}.c2ln")] {
            assert_eq!(
                both().verify(&token, now()).err(),
                Some(AuthError::NoSigner { kid: None }),
                "{alg}"
            );
        }
    }
    let no_alg = format!(
        "{}.{}.",
        b64(br#"{"typ":"JWT"}"#),
        b64(claims().to_string().as_bytes())
    );
    assert_eq!(
        both().verify(&no_alg, now()).err(),
        Some(AuthError::NoSigner { kid: None })
    );
}

#[test]
fn rejects_algorithm_confusion() {
    // The classic attack: HS256 "signed" with the RSA public key as HMAC secret.
    let mut header = json!({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"});
    for public in [RSA_1_PUB.to_vec(), RSA_1_PUB.trim_ascii_end().to_vec()] {
        let token = hand_signed(&header, &claims(), &public);
        // With a secret configured the token is checked against the secret…
        assert_eq!(
            both().verify(&token, now()).err(),
            Some(AuthError::InvalidSignature)
        );
        // …without one, HS256 has no key at all; the RSA key is never an HMAC key.
        assert_eq!(
            jwks_only().verify(&token, now()).err(),
            Some(AuthError::NoSigner {
                kid: Some("rsa-1".into())
            })
        );
    }
    header["kid"] = Value::Null;
    let token = hand_signed(&header, &claims(), RSA_1_PUB);
    assert_eq!(
        jwks_only().verify(&token, now()).err(),
        Some(AuthError::NoSigner { kid: None })
    );

    // An EC token naming the RSA key, and an RSA token naming the EC key.
    let ec = sign(
        Algorithm::ES256,
        Some("rsa-1"),
        &claims(),
        &EncodingKey::from_ec_pem(EC_1).expect("test key is valid"),
    );
    let rs = sign(Algorithm::RS256, Some("ec-1"), &claims(), &rsa(RSA_1));
    for (token, kid) in [(ec, "rsa-1"), (rs, "ec-1")] {
        assert_eq!(
            both().verify(&token, now()).err(),
            Some(AuthError::NoSigner {
                kid: Some(kid.into())
            })
        );
    }
}

#[test]
fn keys_only_verify_their_own_algorithm() {
    // rsa-1 declares alg RS256; ec-1 is a P-256 key.
    let rs512 = sign(Algorithm::RS512, Some("rsa-1"), &claims(), &rsa(RSA_1));
    let ps256 = sign(Algorithm::PS256, Some("rsa-1"), &claims(), &rsa(RSA_1));
    let es384 = format!(
        "{}.{}.c2ln",
        b64(br#"{"alg":"ES384","kid":"ec-1"}"#),
        b64(claims().to_string().as_bytes())
    );
    assert_eq!(
        both().verify(&rs512, now()).err(),
        Some(AuthError::NoSigner {
            kid: Some("rsa-1".into())
        })
    );
    assert_eq!(
        both().verify(&ps256, now()).err(),
        Some(AuthError::NoSigner { kid: None })
    );
    assert_eq!(
        both().verify(&es384, now()).err(),
        Some(AuthError::NoSigner {
            kid: Some("ec-1".into())
        })
    );
    // A key marked "use":"enc" is not a verification key.
    let enc = sign(Algorithm::RS256, Some("enc-1"), &claims(), &rsa(RSA_1));
    assert_eq!(
        both().verify(&enc, now()).err(),
        Some(AuthError::NoSigner {
            kid: Some("enc-1".into())
        })
    );
}

#[test]
fn rejects_unknown_kids_and_unconfigured_algorithms() {
    let unknown = sign(Algorithm::RS256, Some("nope"), &claims(), &rsa(RSA_1));
    let err = both()
        .verify(&unknown, now())
        .expect_err("should be refused");
    assert_eq!(
        err,
        AuthError::NoSigner {
            kid: Some("nope".into())
        }
    );
    assert_eq!(
        err.join_reason(),
        "JwtSignerError: Failed to generate JWT signer for key ID (kid) \"nope\", check your JWT secret or JWKS configuration"
    );

    let no_kid = sign(Algorithm::RS256, None, &claims(), &rsa(RSA_1));
    assert_eq!(
        both().verify(&no_kid, now()).err(),
        Some(AuthError::NoSigner { kid: None })
    );

    // RS256 when only the HS256 secret is configured.
    let rs = sign(Algorithm::RS256, Some("rsa-1"), &claims(), &rsa(RSA_1));
    assert_eq!(
        secret_only().verify(&rs, now()).err(),
        Some(AuthError::NoSigner { kid: None })
    );

    // HS256 when only a JWKS is configured.
    let hs256 = sign(Algorithm::HS256, None, &claims(), &hs(SECRET.as_bytes()));
    assert_eq!(
        jwks_only().verify(&hs256, now()).err(),
        Some(AuthError::NoSigner { kid: None })
    );
    let hs256_kid = sign(
        Algorithm::HS256,
        Some("k"),
        &claims(),
        &hs(SECRET.as_bytes()),
    );
    assert_eq!(
        jwks_only().verify(&hs256_kid, now()).err(),
        Some(AuthError::NoSigner {
            kid: Some("k".into())
        })
    );
}

#[test]
fn ignores_keys_carried_in_the_header() {
    // A token that brings its own key (`jwk`, `jku`) must not be trusted.
    let n = b64(b"attacker-modulus");
    let header = json!({"alg":"HS256","jwk":{"kty":"oct","k":b64(b"mine")},"jku":"http://x/jwks","x5u":"http://x"});
    let token = hand_signed(&header, &claims(), b"mine");
    assert_eq!(
        both().verify(&token, now()).err(),
        Some(AuthError::InvalidSignature)
    );
    let header = json!({"alg":"RS256","jwk":{"kty":"RSA","n":n,"e":"AQAB"}});
    let token = format!(
        "{}.{}.c2ln",
        b64(header.to_string().as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    assert_eq!(
        both().verify(&token, now()).err(),
        Some(AuthError::NoSigner { kid: None })
    );
}

#[test]
fn enforces_expiry_and_required_claims() {
    let auth = secret_only();
    let key = hs(SECRET.as_bytes());
    let with = |claims: Value| auth.verify(&sign(Algorithm::HS256, None, &claims, &key), now());

    let expired = with(json!({"role":"anon","exp":NOW - 12})).expect_err("should be refused");
    assert_eq!(expired, AuthError::Expired { seconds_ago: 12 });
    assert_eq!(
        expired.join_reason(),
        "InvalidJWTToken: Token has expired 12 seconds ago"
    );
    assert_eq!(expired.connect_message(), "Token has expired");
    assert_eq!(
        with(json!({"role":"anon","exp":NOW})).err(),
        Some(AuthError::Expired { seconds_ago: 0 })
    );
    assert!(with(json!({"role":"anon","exp":NOW + 1})).is_ok());

    for claims in [json!({"exp": NOW + 60}), json!({"role": "anon"}), json!({})] {
        let err = with(claims).expect_err("should be refused");
        assert_eq!(err, AuthError::MissingClaims);
        assert_eq!(
            err.connect_message(),
            "Fields `role` and `exp` are required in JWT"
        );
    }
    assert_eq!(
        with(json!({"role":"anon","exp":"tomorrow"})).err(),
        Some(AuthError::InvalidExpiration)
    );

    // Open channels re-check the same claims later.
    let claims = with(json!({"role":"anon","exp":NOW + 30})).expect("test key is valid");
    assert_eq!(
        claims.check_expiry(now() + Duration::from_secs(42)),
        Err(AuthError::Expired { seconds_ago: 12 })
    );
}

#[test]
fn rejects_non_jwts() {
    let auth = both();
    for token in [
        "",
        "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH",
        "anon-key",
        "a.b",
        "a.b.c.d",
        "e30.e30.e30",
        "eyJhbGciOiJIUzI1NiJ9.W10.c2ln",
        "eyJhbGciOiJIUzI1NiJ9.e30=.c2ln",
    ] {
        let err = auth.verify(token, now()).expect_err("should be refused");
        assert!(
            matches!(
                err,
                AuthError::Malformed | AuthError::NoSigner { kid: None }
            ),
            "{token}: {err:?}"
        );
    }
    assert_eq!(
        auth.verify("not-a-jwt", now()).err(),
        Some(AuthError::Malformed)
    );
    assert_eq!(
        AuthError::Malformed.connect_message(),
        "The token provided is not a valid JWT"
    );
}

#[test]
fn strips_whitespace_like_supabase() {
    let token = sign(Algorithm::HS256, None, &claims(), &hs(SECRET.as_bytes()));
    let (head, tail) = token.split_at(20);
    let spaced = format!(" {head}\n{tail} ");
    assert!(both().verify(&spaced, now()).is_ok());
}

#[test]
fn survives_random_tokens() {
    let auth = both();
    // RSA verification is slow in debug builds: mutate mostly the HS256 token.
    let rs256 = sign(Algorithm::RS256, Some("rsa-1"), &claims(), &rsa(RSA_1));
    let hs256 = sign(Algorithm::HS256, Some("oct-1"), &claims(), &hs(OCT_SECRET));
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..3_000 {
        let token: String = if round % 2 == 0 {
            let len = (next() % 200) as usize;
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
                .collect()
        } else {
            let valid = if round % 30 == 1 { &rs256 } else { &hs256 };
            let mut bytes = valid.clone().into_bytes();
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = alphabet[(next() % alphabet.len() as u64) as usize];
            String::from_utf8(bytes).expect("test key is valid")
        };
        // Only the unchanged token (a mutation that kept the same byte) may pass.
        if auth.verify(&token, now()).is_ok() {
            assert!(token == rs256 || token == hs256, "{token}");
        }
    }
}

#[test]
fn secrets_never_reach_debug_output() {
    let auth = both();
    let shown = format!("{auth:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!shown.contains("jwks-oct-secret"), "{shown}");
    assert!(
        shown.contains("rsa-1") && shown.contains("oct-1"),
        "{shown}"
    );
}

/// A token that verified is kept, and later checks of it skip the
/// signature; they must answer exactly as a full check would: the same
/// claims, the expiry still enforced with the same error, and any other
/// text, one byte off included, checked in full.
#[test]
fn a_kept_token_answers_as_a_full_check_would() {
    let auth = both();
    let exp = NOW + 60;
    let token = sign(
        Algorithm::HS256,
        None,
        &json!({"role": "anon", "exp": exp as f64 + 0.5}),
        &hs(SECRET.as_bytes()),
    );
    let first = auth.verify(&token, now()).expect("valid");
    assert_eq!(auth.verify(&token, now()), Ok(first.clone()));
    for later in [exp, exp + 1, exp + 90] {
        let at = UNIX_EPOCH + Duration::from_secs(later);
        let fresh = both().verify(&token, at);
        assert_eq!(auth.verify(&token, at), fresh, "at exp + {}", later - exp);
    }
    assert!(matches!(
        auth.verify(&token, UNIX_EPOCH + Duration::from_secs(exp + 1)),
        Err(AuthError::Expired { seconds_ago: 0 })
    ));
    // Failures are not kept: at an earlier time it is valid again.
    assert_eq!(auth.verify(&token, now()), Ok(first));
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ASCII");
    assert_eq!(
        auth.verify(&forged, now()).err(),
        Some(AuthError::InvalidSignature)
    );
    // A clone verifies with the same keys and shares what is kept.
    assert!(auth.clone().verify(&token, now()).is_ok());
}
