//! Signing in with the admin token, and signing out.
//!
//! A right token replaces the visitor's session with a new, signed-in one (a new id, so an id
//! planted before sign-in is worthless after it). Wrong tokens are counted per client address;
//! past [`throttle::MAX_FAILURES`](super::throttle::MAX_FAILURES) a minute the answer is 429.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;

use super::error::WebError;
use super::form::Fields;
use super::layout;
use super::session::{clear_cookie, set_cookie, Session};
use crate::server::auth::constant_time_eq;
use crate::server::extract::ClientAddr;
use crate::AdminState;

/// `GET /signin`: the form (straight to the overview when no token is configured).
pub(crate) async fn form(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
) -> Response {
    if state.config().token.is_none() || session.signed_in {
        return Redirect::to("/").into_response();
    }
    sign_in_page(&session, None).into_response()
}

fn sign_in_page(session: &Session, problem: Option<&str>) -> Html<String> {
    let body = html! {
        h1 { "Sign in" }
        p { "Enter the admin token (" code { "admin.token" } " in the configuration)." }
        @if let Some(problem) = problem {
            p.error role="alert" { (problem) }
        }
        form.signin method="post" action="/signin" {
            input type="hidden" name="csrf" value=(session.csrf);
            label for="token" { "Admin token" }
            input #token type="password" name="token" autocomplete="current-password" required autofocus;
            button type="submit" { "Sign in" }
        }
    };
    Html(layout::bare("Sign in", body).into_string())
}

/// `POST /signin`: checks the CSRF token, the rate limit, then the admin token.
pub(crate) async fn submit(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    client: ClientAddr,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, WebError> {
    let fields = Fields::of(form)?;
    session.check_csrf(fields.get("csrf"))?;
    let Some(expected) = &state.config().token else {
        return Ok(Redirect::to("/").into_response());
    };
    let web = state.web();
    if !web.throttle.allows(client.ip()) {
        tracing::warn!(event = "admin", %client, "dashboard sign-in refused: too many wrong tokens");
        let page = sign_in_page(
            &session,
            Some("Too many wrong tokens from your address: wait a minute and try again."),
        );
        return Ok((StatusCode::TOO_MANY_REQUESTS, page).into_response());
    }
    let presented = fields.get("token").unwrap_or_default().trim();
    if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        web.throttle.failed(client.ip());
        tracing::warn!(event = "admin", %client, "dashboard sign-in with a wrong token");
        let page = sign_in_page(&session, Some("Wrong token."));
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    }
    web.sessions.remove(&session.id);
    let signed_in = web.sessions.create(true);
    tracing::info!(event = "admin", %client, "dashboard sign-in");
    let mut response = Redirect::to("/").into_response();
    if let Some(cookie) = set_cookie(&signed_in) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `POST /signout`: forgets the session and the cookie.
pub(crate) async fn sign_out(
    State(state): State<AdminState>,
    Extension(session): Extension<Session>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, WebError> {
    let fields = Fields::of(form)?;
    session.check_csrf(fields.get("csrf"))?;
    state.web().sessions.remove(&session.id);
    let target = if state.config().token.is_some() {
        "/signin"
    } else {
        "/"
    };
    let mut response = Redirect::to(target).into_response();
    response.headers_mut().insert(SET_COOKIE, clear_cookie());
    Ok(response)
}
