//! The page chrome every dashboard page shares, and the small pieces tables repeat: times
//! (relative, with the absolute time as a tooltip), state badges, numbers.

use std::time::SystemTime;

use axum::response::Html;
use maud::{html, Markup, DOCTYPE};

use super::session::Session;
use crate::api::time::format;
use crate::render::human;

/// The navigation entries, in order: (path, label).
const NAV: [(&str, &str); 5] = [
    ("/", "Overview"),
    ("/shape", "Shape"),
    ("/destinations", "Destinations"),
    ("/messages", "Messages"),
    ("/quarantine", "Quarantine"),
];

/// A whole page: navigation (`active` marked), the sign-out button when the session is
/// signed in, and `body`.
pub(crate) fn page(session: &Session, active: &str, title: &str, body: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    span.brand { "envoi" }
                    nav {
                        @for (path, label) in NAV {
                            @if path == active {
                                a.current href=(path) aria-current="page" { (label) }
                            } @else {
                                a href=(path) { (label) }
                            }
                        }
                    }
                    @if session.signed_in {
                        form.signout method="post" action="/signout" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(markup.into_string())
}

/// A page without navigation (sign-in, errors).
pub(crate) fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { span.brand { "envoi" } }
                main.narrow { (body) }
            }
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · envoi" }
            link rel="stylesheet" href="/static/dashboard.css";
            script src="/static/dashboard.js" defer {}
        }
    }
}

/// `time` relative to `now` ("5m ago", "in 2h", as the CLI says it), the absolute UTC time
/// as its tooltip.
pub(crate) fn when(now: SystemTime, time: SystemTime) -> Markup {
    let absolute = format(time);
    let relative = if time <= now {
        human::ago(now, time)
    } else {
        human::until(now, time)
    };
    html! { time datetime=(absolute) title=(format!("{absolute} UTC")) { (relative) } }
}

/// An optional time, or a dash.
pub(crate) fn maybe_when(now: SystemTime, time: Option<SystemTime>) -> Markup {
    match time {
        Some(time) => when(now, time),
        None => html! { span.none { "–" } },
    }
}

/// A badge: the state's name as text, with a colour (and a border style) per state, so it
/// reads without colour too.
pub(crate) fn badge(state: &str) -> Markup {
    html! { span class=(format!("badge badge-{state}")) { (state) } }
}

/// A count with thousands separated by thin spaces.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_easily() {
        assert_eq!(count(1234567), "1\u{2009}234\u{2009}567");
        assert_eq!(count(12), "12");
    }
}
