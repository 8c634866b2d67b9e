//! `GET /healthz` (the process answers) and `GET /readyz` (the database can be used).

use crate::error::ApiError;
use crate::startup::AppState;
use crate::store;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

/// Liveness: the process is up and serving. Never touches the database.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is alive.", body = crate::openapi::Health))
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: a database connection works and the extension is installed; `503` otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The database can be reached and has the extension.", body = crate::openapi::Health),
        (status = 503, description = "The database cannot be used.", body = crate::error::Problem,
         content_type = "application/problem+json",
         headers(("Retry-After" = u32, description = "Seconds to wait before asking again.")))
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    store::ready(&state.pool).await?;
    Ok(Json(json!({"status": "ready"})))
}
