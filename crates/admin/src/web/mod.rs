//! The dashboard: server-rendered HTML pages over the running queue, on the admin listener at
//! `/`. Pages read the queue through the same calls as the JSON handlers (never through HTTP);
//! every page is one paged read or the maintained counts, except Shape, which reads the queue
//! up to a bound as `envoi queue shape` does.
//!
//! | route | file |
//! |---|---|
//! | `GET /signin`, `POST /signin`, `POST /signout` | `signin` |
//! | `GET /` | `overview` |
//! | `GET /shape` | `shape` |
//! | `GET /destinations`, `POST /destinations/{suspend,resume}` | `destinations` |
//! | `GET /messages`, `POST /messages/bulk` | `messages`, `bulk` |
//! | `GET /messages/{id}`, `GET /messages/{id}/body` | `message` |
//! | `GET /quarantine` | `quarantine` |
//! | `GET /static/dashboard.{css,js}` | here |
//!
//! # Safety
//! - Every value is escaped by `maud`; no template text comes from outside the binary.
//! - Every answer carries [`CSP`]: scripts and styles only from the binary's own files, no
//!   inline script or style, no framing, forms posting only here.
//! - Sessions live server-side ([`session`]); the cookie is `HttpOnly` and `SameSite=Strict`;
//!   every POST carries the session's CSRF token, compared in constant time.
//! - Wrong admin tokens at sign-in are rate limited per client address ([`throttle`]).
//!
//! # Layout
//! - [`session`]: the session table and the middleware that attaches one to each request.
//! - [`throttle`]: the sign-in rate limit.
//! - [`rolling`]: the per-minute samples behind "last hour" on the overview.
//! - `form`, `layout`, `error`: form fields, page chrome and pieces, error pages.
//! - one file per page, as in the table above.

mod bulk;
mod destinations;
mod error;
mod form;
mod layout;
mod message;
mod messages;
mod overview;
mod quarantine;
pub(crate) mod rolling;
pub(crate) mod session;
mod shape;
mod signin;
pub(crate) mod throttle;

use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::AdminState;

/// The Content-Security-Policy of every dashboard answer.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'";

const CSS: &str = include_str!("assets/dashboard.css");
const JS: &str = include_str!("assets/dashboard.js");

/// What the dashboard keeps between requests: sessions, the sign-in limit, the samples.
#[derive(Default)]
pub struct WebState {
    pub(crate) sessions: session::Sessions,
    pub(crate) throttle: throttle::Throttle,
    pub(crate) rolling: rolling::Rolling,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebState")
    }
}

/// The dashboard's routes (merged into the admin router, outside the bearer-token check).
pub(crate) fn routes(state: AdminState) -> Router<AdminState> {
    let pages = Router::new()
        .route("/", get(overview::page))
        .route("/signin", get(signin::form).post(signin::submit))
        .route("/signout", post(signin::sign_out))
        .route("/shape", get(shape::page))
        .route("/destinations", get(destinations::page))
        .route("/destinations/suspend", post(destinations::suspend))
        .route("/destinations/resume", post(destinations::resume))
        .route("/messages", get(messages::page))
        .route("/messages/bulk", post(bulk::submit))
        .route("/messages/{id}", get(message::page))
        .route("/messages/{id}/body", get(message::body))
        .route("/quarantine", get(quarantine::page))
        .route_layer(middleware::from_fn_with_state(state, session::attach));
    Router::new()
        .route("/static/dashboard.css", get(css))
        .route("/static/dashboard.js", get(js))
        .merge(pages)
        .route_layer(middleware::from_fn(secure_headers))
}

async fn css() -> Response {
    static_file("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    static_file("text/javascript; charset=utf-8", JS)
}

fn static_file(content_type: &'static str, text: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "max-age=3600"),
        ],
        text,
    )
        .into_response()
}

/// Adds the CSP and its companions to every dashboard answer; pages are not cached.
async fn secure_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Samples the queue's counters once a minute until `shutdown`, for the overview's last hour.
pub(crate) async fn sample_every_minute(
    state: AdminState,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {
                state.web().rolling.sample(state.queue());
            }
        }
    }
}
