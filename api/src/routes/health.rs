//! `GET /healthz` (the process answers) and `GET /readyz` (the database can be used).

use crate::error::ApiError;
use crate::startup::AppState;
use crate::store;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

/// Liveness: the process is up and serving. Never touches the database.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: a database connection works and the extension is installed; `503` otherwise.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    store::ready(&state.pool).await?;
    Ok(Json(json!({"status": "ready"})))
}
