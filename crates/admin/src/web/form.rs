//! Submitted forms as name–value pairs (a checkbox list repeats its name), and the filter
//! fields the message pages share.

use std::time::Duration;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::Query;
use axum::Form;
use envoi_queue::MessageState;

use super::error::WebError;
use crate::api::MessageFilter;

/// The fields of a submitted form, in order.
#[derive(Debug, Default)]
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// The form body, or a 400 page.
    ///
    /// # Errors
    /// [`WebError`] when the body is not a URL-encoded form.
    pub fn of(form: Result<Form<Vec<(String, String)>>, FormRejection>) -> Result<Self, WebError> {
        form.map(|Form(pairs)| Self(pairs))
            .map_err(|rejection| WebError::bad_request(rejection.body_text()))
    }

    /// Fields from name–value pairs (a query string).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first non-blank value of `name`, trimmed.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name)
            .map(str::trim)
            .filter(|value| !value.is_empty())
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The query string as `T`, or a 400 page naming the bad parameter.
///
/// # Errors
/// [`WebError`] 400.
pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, WebError> {
    query
        .map(|Query(value)| value)
        .map_err(|rejection| WebError::bad_request(rejection.body_text()))
}

/// The listing filter in `fields` (blank fields match everything).
///
/// # Errors
/// A 400 page naming a bad state or age.
pub(crate) fn filter(fields: &Fields) -> Result<MessageFilter, WebError> {
    let state = match fields.text("state") {
        None => None,
        Some("active") => Some(MessageState::Active),
        Some("deferred") => Some(MessageState::Deferred),
        Some("held") => Some(MessageState::Held),
        Some(other) => {
            return Err(WebError::bad_request(format!(
                "state {other:?}: expected active, deferred or held"
            )))
        }
    };
    let min_age = fields
        .text("min_age")
        .map(|text| {
            humantime::parse_duration(text).map_err(|e| {
                WebError::bad_request(format!("age {text:?} ({e}): expected e.g. 30s, 5m, 4h, 5d"))
            })
        })
        .transpose()?;
    Ok(MessageFilter {
        state,
        sender: fields.text("sender").map(str::to_owned),
        recipient: fields.text("recipient").map(str::to_owned),
        domain: fields.text("domain").map(str::to_owned),
        min_age,
        after: None,
        limit: None,
    })
}

/// The filter as name–value pairs for links and hidden fields (blank ones left out).
pub(crate) fn filter_pairs(filter: &MessageFilter) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    if let Some(state) = filter.state {
        pairs.push(("state", state_name(state).to_owned()));
    }
    for (name, value) in [
        ("sender", &filter.sender),
        ("recipient", &filter.recipient),
        ("domain", &filter.domain),
    ] {
        if let Some(value) = value {
            pairs.push((name, value.clone()));
        }
    }
    if let Some(age) = filter.min_age {
        pairs.push(("min_age", format_age(age)));
    }
    pairs
}

/// `active`, `deferred` or `held`.
pub(crate) fn state_name(state: MessageState) -> &'static str {
    match state {
        MessageState::Active => "active",
        MessageState::Deferred => "deferred",
        MessageState::Held => "held",
    }
}

fn format_age(age: Duration) -> String {
    humantime::format_duration(age).to_string()
}

/// The message list with these filter pairs.
pub(crate) fn list_link(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        "/messages".to_owned()
    } else {
        format!("/messages?{}", query_string(pairs))
    }
}

/// `pairs` as a URL query string (`a=1&b=2`), percent-encoded.
pub(crate) fn query_string(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but unreserved characters.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_fields_match_everything_and_round_trip() {
        let fields = Fields(vec![
            ("state".into(), "held".into()),
            ("sender".into(), "  ".into()),
            ("domain".into(), "x.test".into()),
            ("min_age".into(), "30m".into()),
        ]);
        let filter = filter(&fields).unwrap_or_default();
        assert_eq!(filter.state, Some(MessageState::Held));
        assert_eq!(filter.sender, None);
        assert_eq!(filter.min_age, Some(Duration::from_secs(1800)));
        assert_eq!(
            query_string(&filter_pairs(&filter)),
            "state=held&domain=x.test&min_age=30m"
        );
        assert_eq!(encode("a b&<"), "a%20b%26%3C");
    }
}
