//! Dashboard sessions: a server-side table of random session ids, each with its own CSRF
//! token and an expiry, and the middleware that attaches one to every page request.
//!
//! The browser holds only the id, in an `HttpOnly`, `SameSite=Strict` cookie. With an admin
//! token configured a session must be signed in (see `signin`) before any page shows; without
//! one (the loopback default) the first GET creates a session, so that every POST can still
//! carry the session's CSRF token. A POST never creates a session: without a live one it is
//! refused.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;

use super::error::WebError;
use crate::server::auth::constant_time_eq;
use crate::AdminState;

/// The cookie that carries the session id.
pub(crate) const COOKIE_NAME: &str = "envoi_session";
/// How long a session lives after it is created (signing in creates a new one).
pub(crate) const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The most sessions kept; past it the one closest to expiry is dropped, so a client that
/// never sends cookies cannot grow the table without bound.
const MAX_SESSIONS: usize = 10_000;

/// One live session, as the handlers see it.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The id the cookie carries.
    pub id: String,
    /// The token every POST of this session must carry in its `csrf` field.
    pub csrf: String,
    /// True once the admin token was presented (always false without a configured token).
    pub signed_in: bool,
    /// True when the session was created by this request: the response sets the cookie.
    pub fresh: bool,
}

impl Session {
    /// Whether `presented` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|token| constant_time_eq(token.as_bytes(), self.csrf.as_bytes()))
    }

    /// A 403 unless `presented` is this session's CSRF token.
    ///
    /// # Errors
    /// [`WebError`] 403 naming the problem.
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), WebError> {
        if self.csrf_matches(presented) {
            Ok(())
        } else {
            Err(WebError::new(
                StatusCode::FORBIDDEN,
                "The form's security token is missing or stale: reload the page and try again.",
            ))
        }
    }
}

struct Entry {
    csrf: String,
    signed_in: bool,
    expires: Instant,
}

/// The session table.
#[derive(Default)]
pub(crate) struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Sessions {
    /// The live session `id`; expired ones are forgotten.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(id)?;
        if entry.expires <= Instant::now() {
            entries.remove(id);
            return None;
        }
        Some(Session {
            id: id.to_owned(),
            csrf: entry.csrf.clone(),
            signed_in: entry.signed_in,
            fresh: false,
        })
    }

    /// A new session with fresh random id and CSRF token.
    pub fn create(&self, signed_in: bool) -> Session {
        let now = Instant::now();
        let session = Session {
            id: random_token(),
            csrf: random_token(),
            signed_in,
            fresh: true,
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_SESSIONS {
            entries.retain(|_, entry| entry.expires > now);
        }
        if entries.len() >= MAX_SESSIONS {
            let soonest = entries
                .iter()
                .min_by_key(|(_, entry)| entry.expires)
                .map(|(id, _)| id.clone());
            if let Some(id) = soonest {
                entries.remove(&id);
            }
        }
        entries.insert(
            session.id.clone(),
            Entry {
                csrf: session.csrf.clone(),
                signed_in,
                expires: now.checked_add(LIFETIME).unwrap_or(now),
            },
        );
        session
    }

    /// Forgets session `id` (sign-out, or replaced at sign-in).
    pub fn remove(&self, id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.remove(id);
    }
}

/// 32 random bytes from the operating system's generator, as hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value that gives the browser `session`.
pub(crate) fn set_cookie(session: &Session) -> Option<HeaderValue> {
    // The admin listener speaks plain HTTP, so no `Secure`: a browser would drop the cookie.
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        session.id,
        LIFETIME.as_secs()
    ))
    .ok()
}

/// The `Set-Cookie` value that makes the browser forget its session.
pub(crate) fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("envoi_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Attaches the request's [`Session`] (creating one on a GET without a live one), sends
/// visitors who must sign in to `/signin`, and refuses POSTs without a live session.
pub(crate) async fn attach(
    State(state): State<AdminState>,
    mut request: Request,
    next: Next,
) -> Response {
    let sessions = &state.web().sessions;
    let existing = cookie(request.headers(), COOKIE_NAME).and_then(|id| sessions.get(id));
    let is_post = request.method() == Method::POST;
    let session = match existing {
        Some(session) => session,
        None if is_post => {
            return WebError::new(
                StatusCode::FORBIDDEN,
                "No live session: open the page again (and sign in) before submitting a form.",
            )
            .into_response();
        }
        None => sessions.create(false),
    };
    let must_sign_in = state.config().token.is_some() && !session.signed_in;
    let path = request.uri().path();
    let mut response = if must_sign_in && path != "/signin" {
        if is_post {
            WebError::new(StatusCode::FORBIDDEN, "Sign in first.").into_response()
        } else {
            Redirect::to("/signin").into_response()
        }
    } else {
        request.extensions_mut().insert(session.clone());
        next.run(request).await
    };
    if session.fresh && !response.headers().contains_key(SET_COOKIE) {
        if let Some(value) = set_cookie(&session) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_live_until_removed() {
        let sessions = Sessions::default();
        let session = sessions.create(true);
        assert_eq!(session.id.len(), 64);
        assert_ne!(session.id, session.csrf);
        let found = sessions.get(&session.id).map(|s| (s.csrf, s.signed_in));
        assert_eq!(found, Some((session.csrf.clone(), true)));
        assert!(session.csrf_matches(Some(&session.csrf)));
        assert!(!session.csrf_matches(Some("x")));
        assert!(!session.csrf_matches(None));
        sessions.remove(&session.id);
        assert!(sessions.get(&session.id).is_none());
    }

    #[test]
    fn finds_the_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; envoi_session=abc"));
        assert_eq!(cookie(&headers, COOKIE_NAME), Some("abc"));
        assert_eq!(cookie(&headers, "b"), None);
    }
}
