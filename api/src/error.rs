//! The one error type of the HTTP boundary, [`ApiError`], rendered as RFC 9457 problem+json.
//!
//! Which error to use where: handlers and the store return `ApiError`; each variant documents
//! its HTTP status. Database error text never reaches a client: a 5xx carries only a generic
//! sentence, and its cause travels in a response extension ([`ErrorCause`]) to the request
//! middleware, which logs it once. Rendering has no side effects.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use slo_core::Violation;
use std::sync::Arc;

/// Seconds a client is asked to wait before retrying when the database is unavailable.
pub const RETRY_AFTER_SECS: u32 = 5;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not well-formed JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// 413: the body is larger than the configured limit.
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// 415: a body that is declared as something other than JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 401 with `WWW-Authenticate`: no bearer credentials, or credentials that are not valid.
    #[error("unauthenticated: {0}")]
    Unauthenticated(AuthFailure),
    /// 403: the client may not post for an application named in the batch; nothing was stored.
    #[error("client {client_id} may not post for {}", denied.join(", "))]
    Forbidden {
        client_id: String,
        denied: Vec<String>,
        is_batch: bool,
        violations: Vec<Violation>,
    },
    /// 429 with `Retry-After`: the client sent more requests than its rate allows.
    #[error("rate limit of client {key:?} reached")]
    RateLimited { key: String, retry_after_secs: u64 },
    /// 422: well-formed JSON that breaks the rules; every problem listed.
    #[error("{} rule violation(s)", violations.len())]
    Invalid {
        is_batch: bool,
        violations: Vec<Violation>,
    },
    /// 503 with `Retry-After`: the database cannot be reached or is shutting down. Nothing was stored.
    #[error("database unavailable: {0:#}")]
    DatabaseUnavailable(anyhow::Error),
    /// 503 with `Retry-After`: the request did not finish in time. The events may have been stored.
    #[error("request timed out after {secs} s")]
    Timeout { secs: u64 },
    /// 503 with `Retry-After`, in publishing mode: Kafka did not acknowledge every event in time.
    /// Some may have been published; posting the batch again is safe (duplicates are no-ops).
    #[error("message bus unavailable: {0:#}")]
    BusUnavailable(anyhow::Error),
    /// 500: anything else; the cause is logged, never returned.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

/// Why a request is not authenticated. The sentence is safe to show the client: it names what
/// is wrong with the credentials it sent, never what the server holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("Send `Authorization: Bearer <token>`.")]
    Missing,
    #[error("The Authorization header must be `Bearer <token>`.")]
    NotBearer,
    #[error("The bearer token is neither a pg_slo token (pgslo_...) nor a JSON Web Token.")]
    UnknownShape,
    #[error("The token is unknown, revoked or expired, or its client is disabled.")]
    InvalidToken,
    #[error("This service does not accept JSON Web Tokens; use a pg_slo token.")]
    JwtNotAccepted,
    #[error("The JSON Web Token is refused: {0}.")]
    Jwt(String),
}

impl AuthFailure {
    /// A stable word for logs and dashboards.
    pub fn code(&self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::NotBearer => "not_bearer",
            AuthFailure::UnknownShape => "unknown_shape",
            AuthFailure::InvalidToken => "invalid_token",
            AuthFailure::JwtNotAccepted => "jwt_not_accepted",
            AuthFailure::Jwt(_) => "jwt_refused",
        }
    }
}

/// The cause of a 5xx, for the request middleware to log once.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub Arc<str>);

/// One problem in a 422 body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemItem<'a> {
    /// Index of the event in the body (0 for a single event); null for a problem of the whole body.
    index: Option<usize>,
    /// The field; null for a problem of the whole event or body.
    field: Option<&'a str>,
    /// RFC 6901 JSON pointer to the offending value in the body.
    #[schema(example = "/1/status")]
    pointer: String,
    /// The stable code of the broken rule, for example `unknown_status`.
    #[schema(example = "unknown_status")]
    rule: &'static str,
    /// A sentence for a person; may change.
    message: &'a str,
}

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    /// A URN naming the kind of problem, for example `urn:pg-slo:problem:invalid-job-status`.
    #[serde(rename = "type")]
    #[schema(example = "urn:pg-slo:problem:invalid-job-status")]
    kind: &'static str,
    /// A short summary of the kind of problem.
    title: &'static str,
    /// The HTTP status code.
    status: u16,
    /// What happened, for a person.
    detail: String,
    /// Every problem of a `422`, by event index and field.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<ProblemItem<'a>>>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::DatabaseUnavailable(_)
            | ApiError::Timeout { .. }
            | ApiError::BusUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The listed problems of a `422` or `403`, each by index, field, pointer and rule.
fn problem_items(violations: &[Violation], is_batch: bool) -> Vec<ProblemItem<'_>> {
    violations
        .iter()
        .map(|v| ProblemItem {
            index: v.index,
            field: v.field.as_deref(),
            pointer: v.pointer(is_batch),
            rule: v.rule.code(),
            message: &v.message,
        })
        .collect()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (kind, title, detail, errors) = match &self {
            ApiError::MalformedJson(msg) => (
                "urn:pg-slo:problem:malformed-json",
                "Malformed JSON",
                format!("The body is not well-formed JSON: {msg}"),
                None,
            ),
            ApiError::BodyTooLarge { limit } => (
                "urn:pg-slo:problem:body-too-large",
                "Body too large",
                format!("The body exceeds the limit of {limit} bytes; send smaller batches."),
                None,
            ),
            ApiError::UnsupportedMediaType => (
                "urn:pg-slo:problem:unsupported-media-type",
                "Unsupported media type",
                "Send the body as application/json.".to_owned(),
                None,
            ),
            ApiError::Unauthenticated(failure) => (
                "urn:pg-slo:problem:unauthenticated",
                "Unauthenticated",
                failure.to_string(),
                None,
            ),
            ApiError::Forbidden {
                client_id,
                denied,
                is_batch,
                violations,
            } => (
                "urn:pg-slo:problem:application-not-allowed",
                "Application not allowed",
                format!(
                    "Client {client_id:?} may not post for {}; nothing was stored.",
                    denied
                        .iter()
                        .map(|a| format!("{a:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(problem_items(violations, *is_batch)),
            ),
            ApiError::RateLimited {
                retry_after_secs, ..
            } => (
                "urn:pg-slo:problem:rate-limited",
                "Too many requests",
                format!(
                    "This client's request rate is limited; nothing was stored. Retry after {retry_after_secs} seconds."
                ),
                None,
            ),
            ApiError::Invalid {
                is_batch,
                violations,
            } => {
                let items = problem_items(violations, *is_batch);
                let n = violations.len();
                (
                    "urn:pg-slo:problem:invalid-job-status",
                    "Invalid job status",
                    format!(
                        "{n} problem{} found; nothing was stored.",
                        if n == 1 { "" } else { "s" }
                    ),
                    Some(items),
                )
            }
            ApiError::DatabaseUnavailable(_) => (
                "urn:pg-slo:problem:database-unavailable",
                "Database unavailable",
                format!("Nothing was stored. Retry after {RETRY_AFTER_SECS} seconds."),
                None,
            ),
            ApiError::Timeout { secs } => (
                "urn:pg-slo:problem:request-timeout",
                "Request timeout",
                format!(
                    "The request did not finish within {secs} seconds. The events may or may not have been \
                     stored: post them again (a repeated event is a no-op)."
                ),
                None,
            ),
            ApiError::BusUnavailable(_) => (
                "urn:pg-slo:problem:bus-unavailable",
                "Message bus unavailable",
                format!(
                    "Not every event was acknowledged by the message bus. Post the same events again after {RETRY_AFTER_SECS} seconds; repeated events are stored once."
                ),
                None,
            ),
            ApiError::Internal(_) => (
                "urn:pg-slo:problem:internal",
                "Internal error",
                "Nothing was stored. The error is logged with this response's x-request-id."
                    .to_owned(),
                None,
            ),
        };
        let body = Problem {
            kind,
            title,
            status: status.as_u16(),
            detail,
            errors,
        };
        let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            ApiError::DatabaseUnavailable(_)
            | ApiError::Timeout { .. }
            | ApiError::BusUnavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            ApiError::RateLimited {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::Unauthenticated(failure) => {
                // RFC 6750 section 3: no error code when no credentials were sent.
                let challenge = match failure {
                    AuthFailure::Missing => r#"Bearer realm="pg-slo""#,
                    _ => r#"Bearer realm="pg-slo", error="invalid_token""#,
                };
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            _ => {}
        }
        if status.is_server_error() {
            response
                .extensions_mut()
                .insert(ErrorCause(self.to_string().into()));
        }
        if let ApiError::Invalid { violations, .. } = &self {
            response
                .extensions_mut()
                .insert(crate::metrics::RejectedRules(
                    violations.iter().map(|v| v.rule.code()).collect(),
                ));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slo_core::Rule;

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_422_lists_each_violation_with_index_field_pointer_and_rule() {
        let err = ApiError::Invalid {
            is_batch: true,
            violations: vec![Violation::field(2, "status", Rule::UnknownStatus, "bad")],
        };
        let response = err.into_response();
        assert_eq!(response.status(), 422);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let json = body_json(response).await;
        assert_eq!(json["status"], 422);
        assert_eq!(json["errors"][0]["index"], 2);
        assert_eq!(json["errors"][0]["field"], "status");
        assert_eq!(json["errors"][0]["pointer"], "/2/status");
        assert_eq!(json["errors"][0]["rule"], "unknown_status");
    }

    #[tokio::test]
    async fn a_401_challenges_for_a_bearer_token_and_says_what_is_wrong() {
        let missing = ApiError::Unauthenticated(AuthFailure::Missing).into_response();
        assert_eq!(missing.status(), 401);
        assert_eq!(
            missing.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="pg-slo""#
        );
        let invalid = ApiError::Unauthenticated(AuthFailure::InvalidToken).into_response();
        assert_eq!(
            invalid.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="pg-slo", error="invalid_token""#
        );
        assert_eq!(invalid.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let json = body_json(invalid).await;
        assert_eq!(json["type"], "urn:pg-slo:problem:unauthenticated");
        assert!(json["detail"].as_str().unwrap().contains("revoked"));
    }

    #[tokio::test]
    async fn a_403_names_the_client_and_points_at_each_refused_event() {
        let err = ApiError::Forbidden {
            client_id: "sched".into(),
            denied: vec!["deposits".into()],
            is_batch: true,
            violations: vec![Violation::field(
                1,
                "app_id",
                Rule::ApplicationNotAllowed,
                "no",
            )],
        };
        let response = err.into_response();
        assert_eq!(response.status(), 403);
        let json = body_json(response).await;
        assert_eq!(
            json["detail"],
            "Client \"sched\" may not post for \"deposits\"; nothing was stored."
        );
        assert_eq!(json["errors"][0]["pointer"], "/1/app_id");
        assert_eq!(json["errors"][0]["rule"], "application_not_allowed");
    }

    #[tokio::test]
    async fn a_429_says_when_to_retry() {
        let response = ApiError::RateLimited {
            key: "sched".into(),
            retry_after_secs: 3,
        }
        .into_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }

    #[tokio::test]
    async fn a_503_says_when_to_retry_and_hides_its_cause() {
        let err = ApiError::DatabaseUnavailable(anyhow::anyhow!("connection refused to 10.1.2.3"));
        let response = err.into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        assert!(response
            .extensions()
            .get::<ErrorCause>()
            .unwrap()
            .0
            .contains("10.1.2.3"));
        let json = body_json(response).await;
        assert!(!json.to_string().contains("10.1.2.3"));
    }
}
