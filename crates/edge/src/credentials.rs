//! Checking AUTH credentials: a trait the caller provides.

use async_trait::async_trait;

/// The verdict on a user name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVerdict {
    /// Accepted; the identity recorded for the session (usually the user name).
    Accepted(String),
    /// Wrong credentials: `535 5.7.8`.
    Rejected,
    /// The check itself failed (backend down): `454 4.7.0`, the client may try later.
    Unavailable,
}

/// Checks credentials given with AUTH PLAIN or LOGIN.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// Checks `password` for `username`. `authzid` is the PLAIN authorization identity (empty
    /// when not given, always empty for LOGIN); an implementation that does not support
    /// acting for another identity should reject a non-empty one that differs from `username`.
    async fn check(&self, authzid: &str, username: &str, password: &str) -> AuthVerdict;
}
