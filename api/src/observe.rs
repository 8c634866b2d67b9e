//! Request observation: one span per request carrying a request id, method, route, client id
//! (recorded by authentication), status and latency; one log line when the response leaves; a 5xx logged once with its cause.
//! Touches only the request's headers and the response's extensions.

use crate::error::ErrorCause;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::{field, Instrument};

/// The header that carries the request id in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Middleware: wraps the request in its span and logs its outcome.
pub async fn observe(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        route = %route,
        client_id = field::Empty,
        status = field::Empty,
        latency_ms = field::Empty,
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.record("status", status.as_u16());
    span.record("latency_ms", latency_ms);
    span.in_scope(|| {
        if status.is_server_error() {
            let cause = response
                .extensions()
                .get::<ErrorCause>()
                .map(|c| c.0.clone())
                .unwrap_or_else(|| "unknown".into());
            tracing::error!(%cause, "request failed");
        } else {
            tracing::info!("request completed");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}
