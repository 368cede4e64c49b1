//! Authentication of the HTTP API: a shared token (`?token=`) or a JWT signed with a shared
//! secret (`Authorization: Bearer`, HS256/HS384/HS512). The scopes are Rasa's: a JWT whose
//! `user.role` is `admin` reaches everything, one whose role is `user` only the routes of the
//! conversation named by its `user.username`, and any other valid JWT nothing (403).

use axum::http::HeaderMap;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;

/// The JWT settings of the server.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub secret: String,
    /// `HS256` (default), `HS384` or `HS512`.
    pub method: String,
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

/// Verifies a JWT's signature and expiry; returns its claims.
pub fn verify(jwt: &str, config: &JwtConfig) -> Result<Value, &'static str> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the token is not a JWT");
    };
    let header_json: Value = b64
        .decode(header)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("the token's header is invalid")?;
    let alg = header_json
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let wanted = if config.method.is_empty() {
        "HS256"
    } else {
        config.method.as_str()
    };
    if !alg.eq_ignore_ascii_case(wanted) {
        return Err("the token is signed with another algorithm");
    }
    let signed = format!("{header}.{payload}");
    let given = b64
        .decode(signature)
        .map_err(|_| "the token's signature is invalid")?;
    let expected = sign(wanted, config.secret.as_bytes(), signed.as_bytes())
        .ok_or("unsupported JWT algorithm")?;
    if !constant_time_eq(&expected, &given) {
        return Err("the token's signature is invalid");
    }
    let claims: Value = b64
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("the token's payload is invalid")?;
    if let Some(exp) = claims.get("exp").and_then(Value::as_f64)
        && exp < rusa_core::processor::system_now()
    {
        return Err("the token has expired");
    }
    Ok(claims)
}

/// HMAC of `message` with `key` by the JWT algorithm name.
pub fn sign(alg: &str, key: &[u8], message: &[u8]) -> Option<Vec<u8>> {
    Some(match alg.to_ascii_uppercase().as_str() {
        "HS256" => {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).ok()?;
            m.update(message);
            m.finalize().into_bytes().to_vec()
        }
        "HS384" => {
            let mut m = Hmac::<sha2::Sha384>::new_from_slice(key).ok()?;
            m.update(message);
            m.finalize().into_bytes().to_vec()
        }
        "HS512" => {
            let mut m = Hmac::<sha2::Sha512>::new_from_slice(key).ok()?;
            m.update(message);
            m.finalize().into_bytes().to_vec()
        }
        _ => return None,
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn make(claims: &Value, secret: &str) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = b64.encode(claims.to_string());
        let sig = sign(
            "HS256",
            secret.as_bytes(),
            format!("{header}.{payload}").as_bytes(),
        )
        .unwrap();
        format!("{header}.{payload}.{}", b64.encode(sig))
    }

    #[test]
    fn jwts_are_verified() {
        let config = JwtConfig {
            secret: "s3cret".into(),
            method: "HS256".into(),
        };
        let good = make(
            &serde_json::json!({"user": {"username": "ann", "role": "user"}}),
            "s3cret",
        );
        assert!(verify(&good, &config).is_ok());
        let forged = make(
            &serde_json::json!({"user": {"username": "ann", "role": "admin"}}),
            "other",
        );
        assert!(verify(&forged, &config).is_err());
        let expired = make(
            &serde_json::json!({"user": {"username": "ann"}, "exp": 1}),
            "s3cret",
        );
        assert_eq!(verify(&expired, &config), Err("the token has expired"));
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::AUTHORIZATION,
            format!("Bearer {good}").parse().unwrap(),
        );
        assert_eq!(
            authenticate(None, Some(&config), None, &headers),
            Ok(Caller::User("ann".into()))
        );
        for (claims, caller) in [
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
            let mut headers = HeaderMap::new();
            let bearer = format!("Bearer {}", make(&claims, "s3cret"));
            headers.insert(axum::http::header::AUTHORIZATION, bearer.parse().unwrap());
            assert_eq!(
                authenticate(None, Some(&config), None, &headers),
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
