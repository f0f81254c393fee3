//! A session to one target, ready for MAIL FROM: a pooled connection (RSET on reuse) or a new one (connect, greeting, EHLO/HELO or LHLO, STARTTLS,
//! AUTH), the clear-text retry when opportunistic TLS breaks, and what the pool learns about
//! the destination.
//!
//! # Layout
//! - [`lease`]: the whole opening.
//! - `session_profile`: which pooled connections may be shared.

use super::{Candidate, Inner};
use crate::client::session::{self, SessionParams, Target};
use crate::failure::Failure;
use crate::hop::TlsPolicy;
use crate::pace::Pace;
use crate::pool::Lease;

/// A session to `target` for `candidate`'s deliveries.
///
/// # Errors
/// Why the session could not be opened; a failed connect marks the target dead in the pool,
/// which only orders the targets (the queue decides when a destination is tried again).
pub(super) async fn lease(
    inner: &Inner,
    candidate: &Candidate,
    target: &Target,
    pace: &Pace,
) -> Result<Lease, Failure> {
    let params = SessionParams {
        helo_name: &inner.config.helo_name,
        protocol: candidate.protocol,
        tls_policy: candidate.tls,
        auth: candidate.auth.as_ref(),
        timeouts: &inner.config.timeouts,
        tls: &inner.tls,
        dane: candidate.dane.as_ref().map(|d| &d.connector),
        max_reply_line: inner.config.max_reply_line,
    };
    let profile = session_profile(candidate, candidate.tls);
    let mut lease = inner
        .pool
        .checkout(target, &profile, pace, || session::open(target, params))
        .await;
    if candidate.tls == TlsPolicy::Opportunistic && matches!(lease, Err(Failure::Tls(_))) {
        // Opportunistic TLS that breaks is no reason to defer: once more in clear text (as
        // Postfix does), under the profile of that policy.
        let plain = SessionParams {
            tls_policy: TlsPolicy::None,
            ..params
        };
        let profile = session_profile(candidate, TlsPolicy::None);
        lease = inner
            .pool
            .checkout(target, &profile, pace, || session::open(target, plain))
            .await;
    }
    match lease {
        Ok(lease) => {
            inner.pool.mark_alive(target);
            Ok(lease)
        }
        Err(failure) => {
            if failure.is_unreachable() {
                inner.pool.mark_dead(target);
            } else {
                inner.pool.mark_alive(target);
            }
            tracing::info!(remote = %target.remote(), error = %failure, "next hop unusable");
            Err(failure)
        }
    }
}

/// Connections are shared only between deliveries with the same session profile: a
/// connection opened under a lax TLS policy or another AUTH identity never carries mail for a
/// stricter one, nor does one verified against other TLSA records (DANE).
fn session_profile(candidate: &Candidate, tls: TlsPolicy) -> String {
    let auth = candidate.auth.as_ref().map_or("", |a| a.username.as_str());
    let dane = candidate.dane.as_ref().map_or("", |d| d.profile.as_str());
    format!("{:?}/{tls:?}/{auth}/{dane}", candidate.protocol)
}
