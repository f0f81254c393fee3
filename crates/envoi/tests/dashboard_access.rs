//! End to end on the real binary, over plain HTTP: the dashboard's sessions, CSRF tokens and
//! sign-in rules. Forged or stale form posts change nothing; wrong tokens are rate limited; the
//! JSON API keeps its bearer token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::dashboard::{cli, deferring, listed, seed, TOKEN};
use support::http::{self, Response};
use support::queue_cli::json as cli_json;
use support::Daemon;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'";

/// The value of the first hidden `csrf` field of a page.
fn csrf_of(page: &Response) -> String {
    let text = page.text();
    let start = text.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    text[start..].split('"').next().unwrap().to_owned()
}

/// The session cookie a response sets, as `envoi_session=...`.
fn cookie_of(response: &Response) -> String {
    let set = response
        .headers("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("envoi_session="))
        .expect("a session cookie");
    set.split(';').next().unwrap().to_owned()
}

fn get(daemon: &Daemon, path: &str, cookie: &str) -> Response {
    http::get(daemon.admin, path, &[("Cookie", cookie)])
}

fn post(daemon: &Daemon, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Response {
    http::post_form(daemon.admin, path, &[("Cookie", cookie)], fields)
}

fn is_held(daemon: &Daemon, id: &str) -> bool {
    cli(daemon, &["show", id])["held"].as_bool().unwrap()
}

#[test]
fn forms_need_the_session_and_its_csrf_token_and_wrong_tokens_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, _hop) = deferring(dir.path(), &format!("token = \"{TOKEN}\""));
    seed(&daemon, "dst.test", 1);
    let id = listed(&daemon, &[]).remove(0);

    // The sign-in form sets a pre-sign-in session with its own CSRF token.
    let form = http::get(daemon.admin, "/signin", &[]);
    assert_eq!(form.status, 200);
    assert_eq!(form.header("content-security-policy"), Some(CSP));
    let set = form.header("set-cookie").unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let anonymous = cookie_of(&form);
    let stale_csrf = csrf_of(&form);
    // Pages and the JSON API stay closed to it.
    let page = get(&daemon, "/messages", &anonymous);
    assert_eq!(
        (page.status, page.header("location")),
        (303, Some("/signin"))
    );
    assert_eq!(get(&daemon, "/v1/summary", &anonymous).status, 401);
    let no_session = http::post_form(
        daemon.admin,
        "/signin",
        &[],
        &[("csrf", &stale_csrf), ("token", TOKEN)],
    );
    assert_eq!(no_session.status, 403);

    // The right token signs in with a new session; the old one is gone.
    let signed = post(
        &daemon,
        "/signin",
        &anonymous,
        &[("csrf", &stale_csrf), ("token", TOKEN)],
    );
    assert_eq!((signed.status, signed.header("location")), (303, Some("/")));
    let session = cookie_of(&signed);
    assert_ne!(session, anonymous);
    assert_eq!(get(&daemon, "/", &anonymous).status, 303);
    let list = get(&daemon, "/messages", &session);
    assert_eq!(list.status, 200, "{}", list.text());
    assert_eq!(list.header("content-security-policy"), Some(CSP));
    assert!(list.text().contains(&id));
    let csrf = csrf_of(&list);
    assert_ne!(csrf, stale_csrf);
    // The session cookie opens no JSON endpoint: those keep the bearer token.
    assert_eq!(get(&daemon, "/v1/summary", &session).status, 401);

    // A hold without the CSRF token, with a stale one, or without the cookie is refused.
    let hold = |cookie: &str, token: Option<&str>| {
        let mut fields = vec![("action", "hold"), ("id", id.as_str())];
        if let Some(token) = token {
            fields.push(("csrf", token));
        }
        post(&daemon, "/messages/bulk", cookie, &fields)
    };
    assert_eq!(hold(&session, None).status, 403);
    assert_eq!(hold(&session, Some(&stale_csrf)).status, 403);
    assert_eq!(hold(&session, Some("")).status, 403);
    assert_eq!(hold("", Some(&csrf)).status, 403);
    assert_eq!(hold(&anonymous, Some(&csrf)).status, 403);
    assert!(!is_held(&daemon, &id), "a refused POST changed nothing");
    let done = hold(&session, Some(&csrf));
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(is_held(&daemon, &id));

    // Signing out ends the session: its cookie and token are refused afterwards.
    let out = post(&daemon, "/signout", &session, &[("csrf", &csrf)]);
    assert_eq!((out.status, out.header("location")), (303, Some("/signin")));
    assert_eq!(get(&daemon, "/", &session).status, 303);
    let after = post(
        &daemon,
        "/messages/bulk",
        &session,
        &[("csrf", &csrf), ("action", "release"), ("id", &id)],
    );
    assert_eq!(after.status, 403);
    assert!(is_held(&daemon, &id));

    // Wrong tokens: refused, then rate limited (the right one too, for the rest of the minute).
    let form = http::get(daemon.admin, "/signin", &[]);
    let (cookie, token) = (cookie_of(&form), csrf_of(&form));
    for _ in 0..5 {
        let wrong = post(
            &daemon,
            "/signin",
            &cookie,
            &[("csrf", &token), ("token", "wrong")],
        );
        assert_eq!(wrong.status, 401);
        assert!(wrong.text().contains("Wrong token."));
        assert!(
            wrong.header("set-cookie").is_none(),
            "no session for a wrong token"
        );
    }
    let limited = post(
        &daemon,
        "/signin",
        &cookie,
        &[("csrf", &token), ("token", "wrong")],
    );
    assert_eq!(limited.status, 429);
    assert!(limited.text().contains("Too many wrong tokens"));
    let right = post(
        &daemon,
        "/signin",
        &cookie,
        &[("csrf", &token), ("token", TOKEN)],
    );
    assert_eq!(right.status, 429);
    daemon.terminate();
}

#[test]
fn without_a_token_pages_open_but_posts_still_need_the_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, _hop) = deferring(dir.path(), "");
    seed(&daemon, "dst.test", 1);
    let output = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args([
            "queue",
            "--admin",
            &format!("http://{}", daemon.admin),
            "list",
            "--json",
        ])
        .output()
        .unwrap();
    let id = cli_json(&output)["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let page = http::get(daemon.admin, "/messages", &[]);
    assert_eq!(page.status, 200);
    assert!(page.text().contains(&id));
    let (cookie, csrf) = (cookie_of(&page), csrf_of(&page));
    // No sign-out button, and the sign-in page leads to the overview.
    assert!(!page.text().contains("Sign out"));
    assert_eq!(
        http::get(daemon.admin, "/signin", &[("Cookie", &cookie)]).status,
        303
    );

    let fields = [("action", "hold"), ("id", id.as_str())];
    assert_eq!(
        post(&daemon, "/messages/bulk", &cookie, &fields).status,
        403
    );
    let with_token = [
        ("csrf", csrf.as_str()),
        ("action", "hold"),
        ("id", id.as_str()),
    ];
    assert_eq!(post(&daemon, "/messages/bulk", "", &with_token).status, 403);
    let fresh = http::get(daemon.admin, "/", &[]);
    assert_eq!(
        post(&daemon, "/messages/bulk", &cookie_of(&fresh), &with_token).status,
        403
    );
    let done = post(&daemon, "/messages/bulk", &cookie, &with_token);
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(
        done.text()
            .contains("<strong>1</strong> of 1 messages held"),
        "{}",
        done.text()
    );
    daemon.terminate();
}
