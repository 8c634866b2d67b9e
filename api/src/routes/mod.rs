//! HTTP handlers, one module per resource. Handlers only convert: request → domain types →
//! store → response. They hold no SQL and no business rules.

pub mod health;
pub mod job_status;
