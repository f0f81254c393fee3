//! The bearer-token check in front of every route but `/healthz`.
//!
//! When [`AdminConfig::token`](super::AdminConfig::token) is set, a request must carry
//! `Authorization: Bearer <token>`; otherwise it is answered `401` with
//! `WWW-Authenticate: Bearer`. Tokens are compared in constant time.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;

use super::{AdminState, ApiError};

/// Passes the request on when no token is configured or the right one is presented.
pub async fn require_token(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(expected) = &state.config().token else {
        return Ok(next.run(request).await);
    };
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        None => Err(ApiError::Unauthorized("missing bearer token".into())),
        Some(token) if constant_time_eq(token.trim().as_bytes(), expected.as_bytes()) => {
            Ok(next.run(request).await)
        }
        Some(_) => Err(ApiError::Unauthorized("wrong bearer token".into())),
    }
}

/// Equality whose time depends only on the lengths, not on where the bytes differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_bytes() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
