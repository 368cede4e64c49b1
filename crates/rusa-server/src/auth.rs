//! Authentication of the HTTP API: a shared token (`?token=`) or a JWT (`Authorization:
//! Bearer`) verified by `jsonwebtoken` with a shared secret (HS256/HS384/HS512) or a public
//! key (RS*, PS*, ES256/ES384, EdDSA), as Rasa's `--jwt-secret` and `--jwt-method`. The
//! scopes are Rasa's: a JWT whose `user.role` is `admin` reaches everything, one whose role
//! is `user` only the routes of the conversation named by its `user.username`, and any
//! other valid JWT nothing (403).
//!
//! The claims are checked as PyJWT (Rasa's library) checks them, with no leeway: `exp`,
//! `nbf` and `iat`, when present, must be integers (a number, or a string of digits, as
//! Python's `int()` reads them; `null`, a list or an object is refused); a token with
//! `exp` at or before now, or `nbf` or `iat` after now, is refused; so is one with an
//! `aud` claim, since the server names no audience. The header's `alg` must be exactly
//! the configured method (so `none` and every other algorithm are refused). A segment
//! with base64url padding (`=`) is read as PyJWT reads it; the signature is checked over
//! the header and payload exactly as sent.

use axum::http::HeaderMap;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// Leeway in seconds for `exp`, `nbf` and `iat`: PyJWT's default, which Rasa keeps.
pub const JWT_LEEWAY_SECS: f64 = 0.0;

/// Why a JWT configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error(
        "'{0}' is not a JWT signing method (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)"
    )]
    Method(String),
    #[error("cannot read the public key file '{path}': {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the public key for {method} is not a valid PEM key: {source}")]
    Key {
        method: String,
        source: jsonwebtoken::errors::Error,
    },
}

/// The JWT settings of the server: the signing method and its key.
#[derive(Clone)]
pub struct JwtConfig {
    algorithm: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl JwtConfig {
    /// The settings of `--jwt-method` and `--jwt-secret`: for an HMAC method the secret
    /// itself; for the others a PEM public key, given as its text (`-----BEGIN ...`, as
    /// Rasa takes it) or as the path of a file that holds it.
    pub fn new(method: &str, secret: &str) -> Result<Self, JwtConfigError> {
        let method = if method.is_empty() { "HS256" } else { method };
        let algorithm: Algorithm = method
            .to_ascii_uppercase()
            .replace("EDDSA", "EdDSA")
            .parse()
            .map_err(|_| JwtConfigError::Method(method.to_owned()))?;
        let key = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                DecodingKey::from_secret(secret.as_bytes())
            }
            _ => {
                let pem = if secret.trim_start().starts_with("-----BEGIN") {
                    secret.as_bytes().to_vec()
                } else {
                    std::fs::read(secret).map_err(|source| JwtConfigError::KeyFile {
                        path: secret.to_owned(),
                        source,
                    })?
                };
                let parsed = match algorithm {
                    Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512 => DecodingKey::from_rsa_pem(&pem),
                    Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem),
                    _ => DecodingKey::from_ed_pem(&pem),
                };
                parsed.map_err(|source| JwtConfigError::Key {
                    method: method.to_owned(),
                    source,
                })?
            }
        };
        Ok(Self { algorithm, key })
    }

    /// The method's name as a JWT header writes it (`HS256`, `ES256`, ...).
    pub fn method(&self) -> String {
        format!("{:?}", self.algorithm)
    }
}

/// Who a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Token auth, an admin JWT, or no auth configured.
    Admin,
    /// A JWT of role `user`: may only use the conversation of this name.
    User(String),
    /// A valid JWT without a role that grants anything (no role, another role, or role
    /// `user` without a `username`): every route answers 403.
    NoScope,
}

/// Checks a request; `Err` with the reason when it may not pass.
pub fn authenticate(
    token: Option<&str>,
    jwt: Option<&JwtConfig>,
    query_token: Option<&str>,
    headers: &HeaderMap,
) -> Result<Caller, &'static str> {
    if token.is_none() && jwt.is_none() {
        return Ok(Caller::Admin);
    }
    if let (Some(expected), Some(given)) = (token, query_token)
        && constant_time_eq(expected.as_bytes(), given.as_bytes())
    {
        return Ok(Caller::Admin);
    }
    if let Some(config) = jwt {
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        if let Some(jwt) = bearer {
            let claims = verify(jwt, config)?;
            let user = claims.get("user");
            let role = user.and_then(|u| u.get("role")).and_then(Value::as_str);
            let name = user.and_then(|u| u.get("username")).and_then(Value::as_str);
            return Ok(match (role, name) {
                (Some("admin"), _) => Caller::Admin,
                (Some("user"), Some(name)) => Caller::User(name.to_owned()),
                _ => Caller::NoScope,
            });
        }
    }
    Err("this endpoint needs authentication: ?token= or an Authorization: Bearer JWT")
}

/// Verifies a JWT's algorithm, signature and time claims; returns its claims.
pub fn verify(jwt: &str, config: &JwtConfig) -> Result<Value, &'static str> {
    verify_at(jwt, config, rusa_core::processor::system_now())
}

/// [`verify`] as of `now` (seconds since the epoch).
pub fn verify_at(jwt: &str, config: &JwtConfig, now: f64) -> Result<Value, &'static str> {
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the token is not a JWT");
    };
    let header_json = decode_segment(header).ok_or("the token's header is invalid")?;
    if !header_json.is_object() {
        return Err("the token's header is invalid");
    }
    let alg = header_json.get("alg").and_then(Value::as_str);
    if alg != Some(config.method().as_str()) {
        return Err("the token is signed with another algorithm");
    }
    // The signature is over the segments as sent, padding and all.
    let signed = &jwt[..header.len() + 1 + payload.len()];
    let valid = jsonwebtoken::crypto::verify(
        signature.trim_end_matches('='),
        signed.as_bytes(),
        &config.key,
        config.algorithm,
    )
    .unwrap_or(false);
    if !valid {
        return Err("the token's signature is invalid");
    }
    let claims = decode_segment(payload).ok_or("the token's payload is invalid")?;
    if !claims.is_object() {
        return Err("the token's payload is invalid");
    }
    check_time_claims(&claims, now)?;
    if claims.get("aud").is_some_and(|aud| !is_falsy(aud)) {
        return Err("the token names an audience, and the server expects none");
    }
    Ok(claims)
}

/// `exp`, `nbf` and `iat` as PyJWT checks them.
fn check_time_claims(claims: &Value, now: f64) -> Result<(), &'static str> {
    if let Some(exp) = claims.get("exp") {
        let exp = python_int(exp).ok_or("the token's exp claim is not an integer")?;
        if exp <= now - JWT_LEEWAY_SECS {
            return Err("the token has expired");
        }
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = python_int(nbf).ok_or("the token's nbf claim is not an integer")?;
        if nbf > now + JWT_LEEWAY_SECS {
            return Err("the token is not valid yet (nbf)");
        }
    }
    if let Some(iat) = claims.get("iat") {
        let iat = python_int(iat).ok_or("the token's iat claim is not an integer")?;
        if iat > now + JWT_LEEWAY_SECS {
            return Err("the token is not valid yet (iat)");
        }
    }
    Ok(())
}

/// A claim as Python's `int()` reads it: a number (truncated), a boolean (0 or 1), or a
/// string of an optionally signed integer; `None` for anything else.
fn python_int(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64().map(f64::trunc),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::String(s) => {
            let s = s.trim();
            let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse::<f64>().ok()
        }
        _ => None,
    }
}

fn is_falsy(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A base64url segment as JSON; trailing padding is allowed, as PyJWT allows it.
fn decode_segment(segment: &str) -> Option<Value> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: f64 = 1_700_000_000.0;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token of `header` and `claims` signed with `key` by `alg`.
    fn token(
        alg: Algorithm,
        key: &jsonwebtoken::EncodingKey,
        header: &Value,
        claims: &Value,
    ) -> String {
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = jsonwebtoken::crypto::sign(signed.as_bytes(), key, alg).unwrap();
        format!("{signed}.{signature}")
    }

    fn hs256(claims: &Value, secret: &str) -> String {
        token(
            Algorithm::HS256,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
            &json!({"alg": "HS256", "typ": "JWT"}),
            claims,
        )
    }

    fn hs_config() -> JwtConfig {
        JwtConfig::new("HS256", "s3cret").unwrap()
    }

    #[test]
    fn time_claims_are_read_as_pyjwt_reads_them() {
        let config = hs_config();
        let future = NOW + 3600.0;
        let past = NOW - 3600.0;
        let accepted = [
            json!({}),
            json!({"exp": future}),
            json!({"exp": future as i64}),
            json!({"exp": format!("{}", future as i64)}),
            json!({"nbf": past}),
            json!({"iat": past}),
            json!({"iat": NOW}),
            json!({"nbf": NOW, "exp": future}),
            json!({"aud": null}),
        ];
        for claims in accepted {
            assert!(
                verify_at(&hs256(&claims, "s3cret"), &config, NOW).is_ok(),
                "{claims}"
            );
        }
        let refused = [
            json!({"exp": past}),
            json!({"exp": NOW}),
            json!({"exp": "soon"}),
            json!({"exp": "1.5e12"}),
            json!({"exp": null}),
            json!({"exp": false}),
            json!({"exp": true}),
            json!({"exp": []}),
            json!({"exp": {}}),
            json!({"exp": format!("{}", past as i64)}),
            json!({"nbf": future}),
            json!({"nbf": "later"}),
            json!({"nbf": null}),
            json!({"iat": future}),
            json!({"iat": "x"}),
            json!({"iat": null}),
            json!({"aud": "rasa"}),
        ];
        for claims in refused {
            assert!(
                verify_at(&hs256(&claims, "s3cret"), &config, NOW).is_err(),
                "{claims}"
            );
        }
    }

    #[test]
    fn signatures_and_algorithms_are_checked() {
        let config = hs_config();
        let claims = json!({"user": {"username": "ann", "role": "admin"}});
        assert!(verify_at(&hs256(&claims, "s3cret"), &config, NOW).is_ok());
        assert!(verify_at(&hs256(&claims, "other"), &config, NOW).is_err());
        // alg none, with or without a signature.
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(claims.to_string().as_bytes())
        );
        assert!(verify_at(&none, &config, NOW).is_err());
        // Another HMAC algorithm with the right secret, and the name in lower case.
        for alg_name in ["HS512", "hs256"] {
            let alg = if alg_name == "HS512" {
                Algorithm::HS512
            } else {
                Algorithm::HS256
            };
            let other = token(
                alg,
                &jsonwebtoken::EncodingKey::from_secret(b"s3cret"),
                &json!({"alg": alg_name}),
                &claims,
            );
            assert!(verify_at(&other, &config, NOW).is_err(), "{alg_name}");
        }
        // The payload changed after signing.
        let good = hs256(&claims, "s3cret");
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged_payload = b64(br#"{"user":{"username":"ann","role":"admin"},"x":1}"#);
        parts[1] = &forged_payload;
        assert!(verify_at(&parts.join("."), &config, NOW).is_err());
        for broken in ["", "a.b", "a.b.c.d", "!!.??.**"] {
            assert!(verify_at(broken, &config, NOW).is_err(), "{broken}");
        }
    }

    #[test]
    fn padded_segments_are_accepted_when_signed_as_sent() {
        let config = hs_config();
        let pad = |s: String| {
            let n = (4 - s.len() % 4) % 4;
            s + &"=".repeat(n)
        };
        // A payload whose base64 needs padding.
        let claims = json!({"user": {"username": "ann", "role": "admin"}, "n": 1});
        let header = pad(b64(br#"{"alg":"HS256","t":"J"}"#));
        let payload = pad(b64(claims.to_string().as_bytes()));
        assert!(header.ends_with('='));
        let signed = format!("{header}.{payload}");
        let key = jsonwebtoken::EncodingKey::from_secret(b"s3cret");
        let signature =
            jsonwebtoken::crypto::sign(signed.as_bytes(), &key, Algorithm::HS256).unwrap();
        let padded = format!("{signed}.{}", pad(signature));
        assert_eq!(verify_at(&padded, &config, NOW).unwrap(), claims);
    }

    #[test]
    fn public_keys_verify_es256_tokens() {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("jwt.pub");
        std::fs::write(&key_file, pair.public_key_pem()).unwrap();
        let private =
            jsonwebtoken::EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        let claims = json!({"user": {"username": "ann", "role": "user"}});
        let signed = token(
            Algorithm::ES256,
            &private,
            &json!({"alg": "ES256"}),
            &claims,
        );
        for config in [
            JwtConfig::new("ES256", key_file.to_str().unwrap()).unwrap(),
            JwtConfig::new("es256", &pair.public_key_pem()).unwrap(),
        ] {
            assert_eq!(verify_at(&signed, &config, NOW).unwrap(), claims);
            // An HMAC token "signed" with the public key's text is not accepted.
            let confused = token(
                Algorithm::HS256,
                &jsonwebtoken::EncodingKey::from_secret(pair.public_key_pem().as_bytes()),
                &json!({"alg": "HS256"}),
                &claims,
            );
            assert!(verify_at(&confused, &config, NOW).is_err());
        }
        assert!(matches!(
            JwtConfig::new("ES256", "/nonexistent/key.pem"),
            Err(JwtConfigError::KeyFile { .. })
        ));
        assert!(matches!(
            JwtConfig::new("RS256", &pair.public_key_pem()),
            Err(JwtConfigError::Key { .. })
        ));
        assert!(matches!(
            JwtConfig::new("XX1", "k"),
            Err(JwtConfigError::Method(_))
        ));
    }

    #[test]
    fn roles_decide_the_caller() {
        let config = hs_config();
        let bearer = |claims: &Value| {
            let mut headers = HeaderMap::new();
            let value = format!("Bearer {}", hs256(claims, "s3cret"));
            headers.insert(axum::http::header::AUTHORIZATION, value.parse().unwrap());
            headers
        };
        for (claims, caller) in [
            (
                json!({"user": {"username": "ann", "role": "user"}}),
                Caller::User("ann".into()),
            ),
            (
                json!({"user": {"username": "bo", "role": "admin"}}),
                Caller::Admin,
            ),
            (
                json!({"user": {"username": "bo", "role": "guest"}}),
                Caller::NoScope,
            ),
            (json!({"user": {"username": "bo"}}), Caller::NoScope),
            (json!({"user": {"role": "user"}}), Caller::NoScope),
            (json!({"sub": "bo"}), Caller::NoScope),
        ] {
            assert_eq!(
                authenticate(None, Some(&config), None, &bearer(&claims)),
                Ok(caller),
                "{claims}"
            );
        }
        assert!(authenticate(Some("t"), None, Some("wrong"), &HeaderMap::new()).is_err());
        assert_eq!(
            authenticate(Some("t"), None, Some("t"), &HeaderMap::new()),
            Ok(Caller::Admin)
        );
    }
}
