//! End to end on the real binary: the dashboard on the admin address in headless Chromium
//! (over WebDriver), with a queue seeded over SMTP and the admin inject endpoint and a next hop
//! that defers everything (so mail stays queued). It goes through every page, checks the
//! seeded counts and rows, holds three messages and finds them held with `envoi queue list`,
//! deletes by filter through the confirmation page, checks that script payloads render as
//! text and run nowhere, and saves a screenshot of each page under
//! `target/dashboard-screenshots/`. `dashboard_access.rs` checks sessions and CSRF over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use serde_json::json;
use support::dashboard::{
    deferring, listed, seed, seed_hostile, wait_deferred, HOSTILE_RCPT, HOSTILE_RCPT2,
    HOSTILE_REPLY, HOSTILE_SENDER, HOSTILE_SUBJECT, TOKEN,
};
use support::wait_for;
use support::webdriver::Browser;

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
    browser.submit(&browser.find("form.signin button"));
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
    assert!(browser.text_of("#busiest").contains("* 9 0 "));
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
    browser.submit(&browser.find("#destinations form button"));
    let row = browser.text_of("#destinations tbody tr");
    assert!(row.contains("suspended until in "), "{row}");
    assert!(row.contains("maintenance"), "{row}");
    browser.screenshot(&shots.join("destinations.png"));
    browser.submit(&browser.find("#destinations form button"));
    assert!(!browser
        .text_of("#destinations tbody tr")
        .contains("suspended"));

    // Messages: the list, then a bulk hold of three selected rows.
    browser.goto(&format!("{base}/messages"));
    assert_eq!(browser.find_all("#messages tbody tr").len(), 9);
    assert_eq!(browser.text_of("#shown"), "9 shown of 9, oldest first");
    // The one script (served from the binary, allowed by the CSP) ticks every row.
    let checked =
        "return document.querySelectorAll('#messages tbody input[name=id]:checked').length";
    browser.click(&browser.find("#select-all"));
    assert_eq!(browser.execute(checked), json!(9));
    browser.click(&browser.find("#select-all"));
    assert_eq!(browser.execute(checked), json!(0));
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
    browser.submit(&browser.find("button[name=action][value=hold]"));
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
    browser.submit(&browser.find("button[name=all_action][value=delete]"));
    assert_eq!(browser.text_of("#confirm-count"), "2");
    browser.screenshot(&shots.join("confirm.png"));
    browser.submit(&browser.find("#confirm"));
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
