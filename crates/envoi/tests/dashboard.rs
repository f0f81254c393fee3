//! End to end on the real binary: the dashboard on the admin address, with a queue seeded
//! over SMTP and the admin inject endpoint and a next hop that defers everything (so mail
//! stays queued). One test drives headless Chromium over WebDriver through every page and
//! saves a screenshot of each under `target/dashboard-screenshots/`; the others speak plain
//! HTTP to check the session, CSRF and sign-in rules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use support::hop::{Hop, HopScript};
use support::http::{self, Response};
use support::queue_cli::json as cli_json;
use support::webdriver::Browser;
use support::{message, send, wait_for, Daemon};

const TOKEN: &str = "dashboard-test-token";
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'";

/// The next hop's reply: it defers, and carries payloads that would run if shown as HTML.
const HOSTILE_REPLY: &[u8] =
    b"451 4.4.1 <script>window.pwned=1</script> \"><img src=x onerror=window.pwned=2> javascript:window.pwned=3";
const HOSTILE_SENDER: &str = "\"<script>window.pwned=4</script>\"@evil.test";
const HOSTILE_RCPT: &str = "\"\\\"><img src=x onerror=window.pwned=5>\"@evil.test";
const HOSTILE_RCPT2: &str = "\"javascript:window.pwned=6\"@evil.test";
const HOSTILE_SUBJECT: &str =
    "<script>window.pwned=7</script> \"><img src=x onerror=window.pwned=8> javascript:window.pwned=9";

/// A daemon with `admin_keys` in its `[admin]` table whose next hop defers with
/// [`HOSTILE_REPLY`] and retries only after an hour.
fn deferring(dir: &std::path::Path, admin_keys: &str) -> (Daemon, Hop) {
    let hop = Hop::start(HopScript::new(&[], HOSTILE_REPLY));
    let daemon = Daemon::start_admin(
        dir,
        admin_keys,
        &format!(
            "[relay]\ntls = \"none\"\nsmarthost = \"smtp://127.0.0.1:{}\"\n\n[queue.backoff]\nkind = \"schedule\"\ndelays = [\"1h\"]\n",
            hop.port
        ),
    );
    (daemon, hop)
}

/// `envoi queue ARGS --json` with the token.
fn cli(daemon: &Daemon, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .arg("queue")
        .args(["--admin", &format!("http://{}", daemon.admin)])
        .args(["--token", TOKEN, "--json"])
        .args(args)
        .output()
        .unwrap();
    cli_json(&output)
}

/// The ids `envoi queue list` shows with `args`.
fn listed(daemon: &Daemon, args: &[&str]) -> Vec<String> {
    let mut all = vec!["list"];
    all.extend_from_slice(args);
    cli(daemon, &all)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Queues `n` messages to `domain` over SMTP.
fn seed(daemon: &Daemon, domain: &str, n: usize) {
    for i in 0..n {
        let rcpt = format!("rcpt{i}@{domain}");
        let reply = send(
            daemon.smtp,
            "sender@src.test",
            &[rcpt.as_str()],
            &message(&format!("{domain}-{i}")),
        );
        assert!(reply.starts_with("250 "), "{reply}");
    }
}

/// Queues the message whose sender, recipients and headers carry script payloads, through
/// the admin inject endpoint (SMTP paths cannot hold `<` or `>`); its id.
fn seed_hostile(daemon: &Daemon) -> String {
    let text = format!(
        "From: \"\\\"><img src=x onerror=window.pwned=10>\" <a@evil.test>\r\nTo: b@evil.test\r\nSubject: {HOSTILE_SUBJECT}\r\nMessage-ID: <hostile@evil.test>\r\n\r\n<script>window.pwned=11</script>\r\n"
    );
    let body = json!({
        "sender": HOSTILE_SENDER,
        "recipients": [HOSTILE_RCPT, HOSTILE_RCPT2],
        "message": text,
    })
    .to_string();
    let auth = format!("Bearer {TOKEN}");
    let answer = http::request(
        daemon.admin,
        "POST",
        "/v1/messages",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    answer.json()["ids"][0].as_str().unwrap().to_owned()
}

/// Waits until `n` messages are queued and every one has been deferred once.
fn wait_deferred(daemon: &Daemon, n: usize) {
    wait_for(&format!("{n} deferred messages"), || {
        (listed(daemon, &["--state", "deferred"]).len() == n).then_some(())
    });
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("dashboard-screenshots")
}

/// Asserts the payloads ran nowhere on the page shown and left no element behind.
fn assert_inert(browser: &Browser, page: &str) {
    assert_eq!(
        browser.execute("return typeof window.pwned"),
        json!("undefined"),
        "a payload ran on {page}"
    );
    assert_eq!(
        browser
            .execute("return document.querySelectorAll('main img, main script, [onerror]').length"),
        json!(0),
        "a payload became an element on {page}"
    );
}

#[test]
fn every_page_shows_the_seeded_queue_in_a_browser_and_bulk_hold_reaches_the_cli() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, _hop) = deferring(dir.path(), &format!("token = \"{TOKEN}\""));
    seed(&daemon, "dst.test", 6);
    seed(&daemon, "other.test", 2);
    let hostile = seed_hostile(&daemon);
    wait_deferred(&daemon, 9);
    let base = format!("http://{}", daemon.admin);
    let shots = screenshots();

    // Sign in: every page sends a visitor without a session to the form.
    browser.goto(&format!("{base}/messages"));
    assert!(browser.url().ends_with("/signin"), "{}", browser.url());
    browser.screenshot(&shots.join("signin.png"));
    browser.type_text(&browser.find("#token"), TOKEN);
    browser.click(&browser.find("form.signin button"));
    wait_for("the overview after sign-in", || {
        (browser.url() == format!("{base}/")).then_some(())
    });

    // Overview: the counts by state.
    assert_eq!(browser.text_of("#count-deferred"), "9");
    assert_eq!(browser.text_of("#count-active"), "0");
    assert_eq!(browser.text_of("#count-held"), "0");
    assert_eq!(browser.text_of("#count-total"), "9");
    assert_eq!(browser.text_of("#storage-state"), "accepting");
    // Nine messages, one with two recipients: ten recipient deferrals in the last hour.
    wait_for("ten deferrals on the overview", || {
        browser.goto(&format!("{base}/"));
        (browser.text_of("#hour-deferred") == "10").then_some(())
    });
    assert_eq!(browser.text_of("#hour-delivered"), "0");
    assert_eq!(browser.text_of("#hour-bounced"), "0");
    assert_eq!(browser.text_of("#quarantined"), "0");
    assert_inert(&browser, "the overview");
    browser.screenshot(&shots.join("overview.png"));

    // Shape: one row per recipient domain, the hostile reply as text when by reply.
    browser.goto(&format!("{base}/shape"));
    let rows: Vec<String> = browser
        .find_all("#shape tbody tr")
        .iter()
        .map(|row| browser.text(row))
        .collect();
    assert!(rows[0].starts_with("TOTAL 9 9 "), "{rows:?}");
    assert!(
        rows.iter().any(|r| r.starts_with("dst.test 6 6 ")),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|r| r.starts_with("other.test 2 2 ")),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|r| r.starts_with("evil.test 1 1 ")),
        "{rows:?}"
    );
    assert_inert(&browser, "the shape");
    browser.screenshot(&shots.join("shape.png"));
    browser.goto(&format!("{base}/shape?by=reply"));
    let by_reply = browser.text_of("#shape");
    assert!(
        by_reply.contains("<script>window.pwned=1</script>"),
        "{by_reply}"
    );
    assert_inert(&browser, "the shape by reply");

    // Destinations: the smarthost with every message; suspend and resume it.
    browser.goto(&format!("{base}/destinations"));
    let destinations = browser.find_all("#destinations tbody tr");
    assert_eq!(destinations.len(), 1);
    let row = browser.text(&destinations[0]);
    assert!(row.contains(" 9 0 "), "{row}");
    browser.type_text(
        &browser.find("#destinations input[name=reason]"),
        "maintenance",
    );
    browser.click(&browser.find("#destinations form button"));
    let row = browser.text_of("#destinations tbody tr");
    assert!(row.contains("suspended until in "), "{row}");
    assert!(row.contains("maintenance"), "{row}");
    browser.screenshot(&shots.join("destinations.png"));
    browser.click(&browser.find("#destinations form button"));
    assert!(!browser
        .text_of("#destinations tbody tr")
        .contains("suspended"));

    // Messages: the list, then a bulk hold of three selected rows.
    browser.goto(&format!("{base}/messages"));
    assert_eq!(browser.find_all("#messages tbody tr").len(), 9);
    assert_inert(&browser, "the message list");
    browser.screenshot(&shots.join("messages.png"));
    browser.goto(&format!("{base}/messages?domain=dst.test"));
    let boxes = browser.find_all("#messages tbody input[name=id]");
    assert_eq!(boxes.len(), 6);
    let mut chosen: Vec<String> = Vec::new();
    for checkbox in &boxes[..3] {
        browser.click(checkbox);
        let id = browser.execute(&format!(
            "return document.querySelectorAll('#messages tbody input[name=id]')[{}].value",
            chosen.len()
        ));
        chosen.push(id.as_str().unwrap().to_owned());
    }
    browser.click(&browser.find("button[name=action][value=hold]"));
    assert!(
        browser
            .text_of("#result")
            .starts_with("Hold: 3 of 3 messages held"),
        "{}",
        browser.text_of("#result")
    );
    browser.screenshot(&shots.join("bulk-hold.png"));
    let mut held = listed(&daemon, &["--state", "held"]);
    held.sort();
    chosen.sort();
    assert_eq!(
        held, chosen,
        "the CLI lists the messages held in the browser"
    );
    browser.goto(&format!("{base}/messages?domain=dst.test"));
    let states: Vec<String> = browser
        .find_all("#messages tbody .badge")
        .iter()
        .map(|badge| browser.text(badge))
        .collect();
    assert_eq!(
        states.iter().filter(|s| *s == "held").count(),
        3,
        "{states:?}"
    );
    browser.screenshot(&shots.join("messages-filtered.png"));

    // A whole-filter delete asks first, stating the count.
    browser.goto(&format!("{base}/messages?domain=other.test"));
    browser.click(&browser.find("button[name=all_action][value=delete]"));
    assert_eq!(browser.text_of("#confirm-count"), "2");
    browser.screenshot(&shots.join("confirm.png"));
    browser.click(&browser.find("#confirm"));
    assert!(browser.text_of("#result").starts_with("Delete: 2 of 2"));
    assert_eq!(listed(&daemon, &[]).len(), 7);

    // The hostile message: every payload shown as text, none run.
    browser.goto(&format!("{base}/messages/{hostile}"));
    assert_inert(&browser, "the hostile message");
    assert_eq!(browser.text_of("#sender"), HOSTILE_SENDER);
    let recipients = browser.text_of("#recipients");
    assert!(recipients.contains(HOSTILE_RCPT), "{recipients}");
    assert!(recipients.contains(HOSTILE_RCPT2), "{recipients}");
    assert!(
        recipients.contains(std::str::from_utf8(HOSTILE_REPLY).unwrap()),
        "{recipients}"
    );
    let headers = browser.text_of("#headers");
    assert!(headers.contains(HOSTILE_SUBJECT), "{headers}");
    assert!(headers.contains("onerror=window.pwned=10"), "{headers}");
    browser.screenshot(&shots.join("message.png"));

    // Quarantine: empty.
    browser.goto(&format!("{base}/quarantine"));
    assert_eq!(
        browser.text_of("#quarantine tbody"),
        "Nothing is quarantined."
    );
    browser.screenshot(&shots.join("quarantine.png"));

    drop(browser);
    daemon.terminate();
}

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
