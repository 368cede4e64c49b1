//! An HTTP endpoint configured as Rasa's `EndpointConfig` reads it: the action server,
//! the model server, the callback channel's url.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, Url};
use serde_json::Value;

use rusa_project::EndpointConfig;

use crate::error::ConfigError;

/// The query parameter carrying the endpoint's `token`, unless `token_name` says otherwise.
const DEFAULT_TOKEN_NAME: &str = "token";

/// A configured endpoint: `url`; `token` (sent as the query parameter `token_name`,
/// default `token`); `params` (more query parameters); `headers`; `basic_auth`
/// (`username`, `password`). Requests time out after the given duration.
#[derive(Clone)]
pub struct HttpEndpoint {
    pub client: reqwest::Client,
    /// The `url` with `token` and `params` as query parameters.
    pub url: Url,
    /// The `url` without query string or credentials: what logs and spans show.
    pub display_url: Arc<str>,
    pub basic_auth: Option<(String, Option<String>)>,
}

impl std::fmt::Debug for HttpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpEndpoint")
            .field("url", &self.display_url)
            .finish_non_exhaustive()
    }
}

impl HttpEndpoint {
    pub fn new(endpoint: &EndpointConfig, timeout: Duration) -> Result<Self, ConfigError> {
        let raw_url = endpoint.url.as_deref().ok_or(ConfigError::MissingUrl)?;
        let mut url = Url::parse(raw_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| ConfigError::InvalidUrl {
                url: redact(raw_url),
            })?;
        let display_url = display_url(&url);
        {
            let mut query = url.query_pairs_mut();
            if let Some(Value::Object(params)) = endpoint.params.get("params") {
                for (k, v) in params {
                    query.append_pair(k, &value_text(v));
                }
            }
            if let Some(token) = endpoint.param_str("token") {
                let name = endpoint
                    .param_str("token_name")
                    .unwrap_or_else(|| DEFAULT_TOKEN_NAME.to_owned());
                query.append_pair(&name, &token);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(Value::Object(extra)) = endpoint.params.get("headers") {
            for (name, value) in extra {
                let invalid = || ConfigError::InvalidHeader { name: name.clone() };
                let name_h = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
                let value_h = HeaderValue::from_str(&value_text(value)).map_err(|_| invalid())?;
                headers.insert(name_h, value_h);
            }
        }
        let basic_auth = match endpoint.params.get("basic_auth") {
            Some(Value::Object(auth)) => auth.get("username").map(|u| {
                (
                    value_text(u),
                    auth.get("password")
                        .filter(|p| !p.is_null())
                        .map(value_text),
                )
            }),
            _ => None,
        };
        // No proxies from the environment: Rasa's aiohttp session ignores them too, and these
        // servers (action server, model server, callback) usually run next to the assistant.
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .default_headers(headers)
            .tls_backend_preconfigured(tls_config()?)
            .build()
            .map_err(|e| ConfigError::Client {
                message: e.to_string(),
            })?;
        Ok(Self {
            client,
            url,
            display_url: display_url.into(),
            basic_auth,
        })
    }

    /// A request error as text, without the URL (its query may carry a token).
    pub fn error_text(e: &reqwest::Error) -> String {
        let mut text = e.to_string();
        if let Some(url) = e.url() {
            text = text.replace(url.as_str(), "the endpoint");
        }
        text
    }

    /// The `EndpointConfig.request` span of one call to this endpoint.
    pub fn request_span(&self, body_len: usize) -> tracing::Span {
        request_span(&self.display_url, body_len)
    }

    /// A request to the endpoint's url, with its credentials.
    pub fn request(&self, method: Method) -> RequestBuilder {
        let mut request = self.client.request(method, self.url.clone());
        if let Some((user, password)) = &self.basic_auth {
            request = request.basic_auth(user, password.as_deref());
        }
        request
    }
}

/// The span of one outgoing HTTP call (tracing spec §2: `EndpointConfig.request`, kind client,
/// `url` without query string or credentials, `request_body_size_in_bytes`; the answer's
/// status is recorded as `http.response.status_code`).
pub fn request_span(display_url: &str, body_len: usize) -> tracing::Span {
    tracing::info_span!(
        "EndpointConfig.request",
        otel.kind = "client",
        url = display_url,
        request_body_size_in_bytes = body_len,
        http.response.status_code = tracing::field::Empty,
    )
}

/// Adds the W3C trace context of `span` (the request's own `EndpointConfig.request` span)
/// to this request's headers: `traceparent`, with `tracestate` and `baggage` when set.
/// Nothing when tracing is off.
pub fn with_trace_context(mut request: RequestBuilder, span: &tracing::Span) -> RequestBuilder {
    for (name, value) in rusa_otel::propagation::inject(span) {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            request = request.header(n, v);
        }
    }
    request
}

/// TLS with rustls and the ring provider the workspace already builds (no aws-lc), the
/// system's trust store through the platform verifier. Where the system has no usable
/// trust store, https endpoints fail per request while http ones still work.
fn tls_config() -> Result<rustls::ClientConfig, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Client {
            message: e.to_string(),
        })?;
    use rustls_platform_verifier::BuilderVerifierExt as _;
    match builder.clone().with_platform_verifier() {
        Ok(b) => Ok(b.with_no_client_auth()),
        Err(e) => {
            tracing::warn!(error = %e, "the system's certificate store could not be loaded; https endpoints will fail");
            Ok(builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth())
        }
    }
}

/// A parameter value as text (strings without quotes).
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The URL without query string, fragment and credentials.
fn display_url(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// An unparseable URL for an error message: everything after `?` removed.
fn redact(raw: &str) -> String {
    raw.split(['?', '#']).next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_url_drops_query_and_credentials() {
        let url = Url::parse("https://user:pw@actions.example:5055/webhook?token=secret").unwrap();
        assert_eq!(display_url(&url), "https://actions.example:5055/webhook");
        assert_eq!(redact("not a url?token=x"), "not a url");
    }
}
