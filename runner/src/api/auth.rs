//! The bearer token of the TCP listener. Over the unix socket there is none: the socket's file
//! permissions (0600) decide who may talk to the scheduler.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::error::ApiError;

#[derive(Clone)]
pub struct Token(pub Arc<str>);

/// Lets the request through only with `Authorization: Bearer <token>`, compared in constant time.
pub async fn require_token(State(token): State<Token>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(token.0.as_bytes())) { next.run(request).await } else { ApiError::Unauthorized.into_response() }
}
