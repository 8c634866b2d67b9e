//! `POST /v1/job-status`: one event or a batch of up to 1000, all or nothing (CONTRACT section 7).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::event_writer::{self, Poster};
use crate::publish::PublishOutcome;
use crate::startup::AppState;
use crate::store;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use std::time::Instant;

/// Authenticates the caller (`401` before the body is read), applies its rate limit (`429`),
/// parses and validates the whole body (every problem listed), then stores it in one statement
/// (a single event, with the single events of other requests waiting at the same moment:
/// `group_commit`).
/// Unless the extension said, within the cache bound, that the client may post for every
/// application of the batch, that statement asks it again (`403`, nothing stored). Answers
/// `201` only once the rows are committed. In publishing mode it asks the extension the same
/// question first, then publishes the events to Kafka (with the client's id) instead of storing
/// them, and answers `202` only once the broker acknowledged them all.
#[utoipa::path(
    post,
    path = "/v1/job-status",
    tag = "job-status",
    request_body(
        content = crate::openapi::JobStatusBodySchema,
        content_type = "application/json",
        description = "One event, or an array of 1 to 1000 events stored all or nothing."
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored and committed. A repeated event is counted as a duplicate and stored once.",
         body = crate::event_writer::InsertOutcome),
        (status = 202, description = "Publishing mode (`pg-slo serve --publish`): every event was acknowledged by Kafka; `pg-slo ingest kafka` stores it.",
         body = crate::publish::PublishOutcome),
        (status = 400, description = "The body is not well-formed JSON.",
         body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or one that is unknown, revoked or expired (or an invalid JWT). Nothing was stored.",
         body = crate::error::Problem, content_type = "application/problem+json",
         headers(("WWW-Authenticate" = String, description = "Bearer challenge."))),
        (status = 403, description = "The client may not post for an application of the batch; each refused event is listed. Nothing was stored.",
         body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is larger than the limit (2 MiB by default).",
         body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is declared as something other than JSON.",
         body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Well-formed JSON that breaks a rule; every problem listed in `errors` (rule `database_constraint`: a constraint of the database, named in the message, refused the rows). Nothing was stored.",
         body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The client posts faster than its rate limit. Nothing was stored.",
         body = crate::error::Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))),
        (status = 500, description = "An unexpected error; logged with the response's x-request-id. Nothing was stored.",
         body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database cannot be reached (nothing was stored; only when the connection broke while the commit was under way may the events be stored), or, in publishing mode, the broker did not acknowledge every event. Post the same events again: a repeated event is stored once.",
         body = crate::error::Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u32, description = "Seconds to wait before retrying.")))
    )
)]
pub async fn post_job_status(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if let Some(limiter) = &state.rate_limiter {
        limiter.admit(caller.rate_key(), Instant::now())?;
    }
    require_json(&headers)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge {
                limit: state.body_limit,
            }
        } else {
            ApiError::MalformedJson(rejection.body_text())
        }
    })?;
    let now = Utc::now();
    // A body that breaks no rule is read straight into events; any other is read as JSON again,
    // so that every problem is named.
    let batch = match slo_core::event::parse_valid_events(&body, now) {
        Some(batch) => batch,
        None => {
            let value: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
            slo_core::parse_events(&value, now).map_err(|rejected| ApiError::Invalid {
                is_batch: rejected.is_batch,
                violations: rejected.violations,
            })?
        }
    };
    let poster = match caller.client_id() {
        None => Poster::Anonymous,
        Some(client_id)
            if caller.recently_allowed(batch.events.iter().map(|e| e.app_id().as_str())) =>
        {
            Poster::Allowed(client_id)
        }
        Some(client_id) => Poster::Check(client_id),
    };
    if let Some(publisher) = &state.publisher {
        if let Poster::Check(client_id) = poster {
            store::authorize(&state.pool, &batch.events, client_id).await?;
        }
        let client_id = match poster {
            Poster::Anonymous => None,
            Poster::Allowed(c) | Poster::Check(c) => Some(c),
        };
        publisher
            .publish(&batch.events, client_id)
            .await
            .map_err(ApiError::BusUnavailable)?;
        let published = batch.events.len() as u64;
        tracing::info!(published, "job status published");
        return Ok((StatusCode::ACCEPTED, Json(PublishOutcome { published })).into_response());
    }
    let outcome = match (&state.group_commit, batch.events.as_slice(), poster) {
        (Some(group), [event], Poster::Anonymous) => group.insert(event, None).await?,
        (Some(group), [event], Poster::Allowed(client_id)) => {
            group.insert(event, Some(client_id)).await?
        }
        _ => event_writer::store(&state.pool, &batch.events, poster).await?,
    };
    tracing::info!(
        accepted = outcome.accepted,
        duplicates = outcome.duplicates,
        "job status stored"
    );
    // The outcome also travels in the response's extensions, for the metrics middleware.
    Ok((StatusCode::CREATED, Extension(outcome), Json(outcome)).into_response())
}

/// A body declared as anything but JSON is refused; an undeclared one is read as JSON.
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_type(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(t).unwrap());
        h
    }

    #[test]
    fn json_media_types_are_accepted_and_others_refused() {
        assert!(require_json(&HeaderMap::new()).is_ok());
        assert!(require_json(&with_type("application/json")).is_ok());
        assert!(require_json(&with_type("Application/JSON; charset=utf-8")).is_ok());
        assert!(require_json(&with_type("application/vnd.pg-slo+json")).is_ok());
        assert!(matches!(
            require_json(&with_type("application/x-www-form-urlencoded")),
            Err(ApiError::UnsupportedMediaType)
        ));
        assert!(matches!(
            require_json(&with_type("text/plain")),
            Err(ApiError::UnsupportedMediaType)
        ));
    }
}
