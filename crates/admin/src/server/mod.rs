//! The admin HTTP server: versioned JSON endpoints over a running [`Queue`].
//!
//! [`router`] builds the routes; [`serve`] runs them on a bound listener until a
//! [`CancellationToken`] is cancelled, so tests bind `127.0.0.1:0`. Every route but
//! `/healthz` sits behind the bearer-token check ([`auth`]).
//!
//! | route | file |
//! |---|---|
//! | `GET /v1/summary` | `summary_v1` |
//! | `GET /v1/shape` | `shape_v1` |
//! | `GET /v1/messages`, `GET /v1/messages/{id}`, `GET /v1/messages/{id}/body` | `messages_v1` |
//! | `POST /v1/flush`, `POST /v1/messages/{id}/{retry,hold,release,bounce}`, `DELETE /v1/messages/{id}` | `actions_v1` |
//! | `POST /v1/bulk/{action}` | `bulk_v1` |
//! | `POST /v1/messages` | `inject_v1` |
//! | `GET /v1/destinations`, `POST /v1/destinations/{name}/{suspend,resume}` | `destinations_v1` |
//! | `GET /v1/quarantine` | `quarantine_v1` |
//! | `POST /v1/reload` | `reload_v1` |
//! | `GET /metrics` | `metrics_v1` |
//! | `GET /healthz` | `health_v1` |
//! | `GET /`, `/shape`, `/messages`, ... (HTML) | [`crate::web`] |
//!
//! The dashboard's pages use sessions and CSRF tokens instead of the bearer token; the JSON
//! routes' token rules do not change with it.
//!
//! # Layout
//! - [`state`]: [`AdminConfig`] and [`AdminState`], what every handler reads.
//! - [`auth`]: the bearer-token middleware.
//! - [`error`]: [`ApiError`], the one place errors become status codes and `{"error": ...}`.
//! - `limit`: the listener that bounds open connections.
//! - `extract`: ids, query strings and JSON bodies parsed into 400s that name the problem;
//!   the client's address for action logs.
//! - `select`: the ids a filter selects, page by page.
//! - `*_v1`: one file per endpoint group, as in the table above.

pub mod auth;
pub mod error;
pub mod state;

mod actions_v1;
pub(crate) mod bulk_v1;
mod destinations_v1;
pub(crate) mod extract;
mod health_v1;
mod inject_v1;
mod limit;
mod messages_v1;
mod metrics_v1;
mod quarantine_v1;
mod reload_v1;
pub(crate) mod select;
pub(crate) mod shape_v1;
mod summary_v1;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::routing::{get, post};
use axum::{middleware, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use state::{AdminConfig, AdminConfigError, AdminState};

#[cfg(doc)]
use envoi_queue::Queue;

/// Every route of the admin API, ready to serve.
pub fn router(state: AdminState) -> Router {
    let body_limit = state.config().max_message_bytes;
    let protected = Router::new()
        .route("/v1/summary", get(summary_v1::summary))
        .route("/v1/shape", get(shape_v1::shape))
        .route(
            "/v1/messages",
            get(messages_v1::list).post(inject_v1::inject),
        )
        .route(
            "/v1/messages/{id}",
            get(messages_v1::show).delete(actions_v1::delete),
        )
        .route("/v1/messages/{id}/body", get(messages_v1::body))
        .route("/v1/messages/{id}/retry", post(actions_v1::retry))
        .route("/v1/messages/{id}/hold", post(actions_v1::hold))
        .route("/v1/messages/{id}/release", post(actions_v1::release))
        .route("/v1/messages/{id}/bounce", post(actions_v1::bounce))
        .route("/v1/flush", post(actions_v1::flush))
        .route("/v1/bulk/{action}", post(bulk_v1::bulk))
        .route("/v1/destinations", get(destinations_v1::list))
        .route(
            "/v1/destinations/{name}/suspend",
            post(destinations_v1::suspend),
        )
        .route(
            "/v1/destinations/{name}/resume",
            post(destinations_v1::resume),
        )
        .route("/v1/quarantine", get(quarantine_v1::quarantine))
        .route("/v1/reload", post(reload_v1::reload))
        .route("/metrics", get(metrics_v1::metrics))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(health_v1::healthz))
        .merge(protected)
        .merge(crate::web::routes(state.clone()))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute(format!("no endpoint {method} {}", uri.path()))
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} does not take {method}", uri.path()))
}

/// Serves the admin API on `listener` until `shutdown` is cancelled; requests in progress
/// then finish. At most [`AdminConfig::max_connections`] connections are open at once.
///
/// # Errors
/// The I/O error that stopped the server.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "admin API listening");
    }
    state.web().rolling.sample(state.queue());
    tokio::spawn(crate::web::sample_every_minute(
        state.clone(),
        shutdown.clone(),
    ));
    let listener = limit::LimitedListener::new(listener, state.config().max_connections);
    let app = router(state).into_make_service_with_connect_info::<extract::PeerAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
