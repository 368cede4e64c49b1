//! CORS as rasa-sdk 3.21 answers it (`--cors`): a matching `Origin` is echoed back with
//! `Vary: Origin`; `*` without an `Origin` is answered `*`; in an origin such as
//! `https://*.example.com` a `*` stands for any characters but `/`; an origin with other
//! regular-expression characters is a regular expression that must match the whole origin.
//! Every `OPTIONS` request is answered 200 with an empty body; a preflight from an allowed
//! origin gets the allowed methods and its requested headers back, sorted.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use regex::Regex;

/// The methods a preflight is told are allowed.
const ALLOWED_METHODS: &str = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";
/// Characters that make an origin a regular expression.
const REGEX_CHARACTERS: &[char] = &['^', '$', '+', '?', '(', ')', '[', ']', '{', '}', '|', '\\'];

/// The allowed origins; empty: CORS is off.
#[derive(Debug, Default)]
pub(crate) struct Cors {
    any: bool,
    patterns: Vec<Regex>,
}

impl Cors {
    pub(crate) fn new(origins: &[String]) -> Result<Self, String> {
        let mut cors = Self::default();
        for origin in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            if origin == "*" {
                cors.any = true;
                continue;
            }
            let pattern = if origin.contains(REGEX_CHARACTERS) {
                origin.to_owned()
            } else {
                origin
                    .split('*')
                    .map(regex::escape)
                    .collect::<Vec<_>>()
                    .join("[^/]*")
            };
            let regex = Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| format!("the CORS origin '{origin}' is not a valid pattern: {e}"))?;
            cors.patterns.push(regex);
        }
        Ok(cors)
    }

    fn enabled(&self) -> bool {
        self.any || !self.patterns.is_empty()
    }

    fn allows(&self, origin: &str) -> bool {
        self.any || self.patterns.iter().any(|p| p.is_match(origin))
    }
}

pub(crate) async fn middleware(
    State(cors): State<Arc<Cors>>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let requested_headers = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let preflight = request.method() == Method::OPTIONS;
    let mut response = if preflight {
        StatusCode::OK.into_response()
    } else {
        next.run(request).await
    };
    if !cors.enabled() {
        return response;
    }
    let headers = response.headers_mut();
    match origin {
        Some(origin) if cors.allows(&origin) => {
            if let Ok(value) = HeaderValue::from_str(&origin) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
                headers.append(header::VARY, HeaderValue::from_static("Origin"));
            }
        }
        Some(_) => return response,
        None if cors.any => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        None => return response,
    }
    if preflight {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        if let Some(requested) = requested_headers {
            let mut names: Vec<String> = requested
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect();
            names.sort();
            names.dedup();
            if let Ok(value) = HeaderValue::from_str(&names.join(", ")) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_exactly_by_glob_or_by_regex() {
        let cors = Cors::new(&[
            "https://a.com".into(),
            "https://*.b.com".into(),
            r"https://c\d\.com".into(),
        ])
        .unwrap();
        assert!(cors.allows("https://a.com"));
        assert!(!cors.allows("https://a.com.evil.org"));
        assert!(cors.allows("https://x.b.com"));
        assert!(!cors.allows("https://x/y.b.com"));
        assert!(cors.allows("https://c1.com"));
        assert!(!cors.allows("https://c1.com/x"));
        assert!(Cors::new(&["https://(".into()]).is_err());
    }
}
