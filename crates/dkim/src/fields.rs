//! What the signer reads in a message's header section.

use envoi_types::Message;

/// Headers signed when present, besides `From` (always signed, and oversigned). They cover
/// what DMARC receivers and one-click unsubscribe (RFC 8058) expect: the originator and
/// recipient fields, the identification and MIME fields, and the RFC 2369 / RFC 2919 list
/// fields.
pub const SIGNED_WHEN_PRESENT: [&str; 19] = [
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Id",
    "List-Help",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Subscribe",
    "List-Post",
    "List-Owner",
    "List-Archive",
];

/// The `h=` list to ask for: `From` once more than it appears (so no From can be added
/// without breaking the signature), then each header of [`SIGNED_WHEN_PRESENT`] the message
/// has. The signer signs every instance of a listed name and lists a name once more for each
/// entry not found, which is what oversigning needs.
pub fn headers_to_sign(message: &Message) -> Vec<String> {
    let from = message.count_headers("From");
    let mut names = vec!["From".to_owned(); from.saturating_add(1)];
    names.extend(
        SIGNED_WHEN_PRESENT
            .iter()
            .filter(|name| message.count_headers(name) > 0)
            .map(|name| (*name).to_owned()),
    );
    names
}

/// The domain of the first mailbox of the `From:` header, lower-cased; `None` when there is
/// no From or no parsable address in it.
pub fn from_domain(message: &Message) -> Option<String> {
    let value = message.header("From")?;
    address_domain(&value)
}

/// The domain of the first address in an RFC 5322 address list (display names, comments and
/// angle brackets allowed).
pub fn address_domain(list: &str) -> Option<String> {
    let plain = without_quotes_and_comments(list);
    let address = match plain.find('<') {
        Some(start) => {
            let rest = &plain[start + 1..];
            &rest[..rest.find('>')?]
        }
        None => plain.split([',', ';']).next()?,
    };
    let domain = address.rsplit_once('@')?.1.trim();
    let valid = !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then(|| domain.trim_end_matches('.').to_ascii_lowercase())
}

/// `text` with its quoted strings and (nested) comments removed, so that a `<`, `@` or `,`
/// inside a display name is not read as part of an address.
fn without_quotes_and_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_quotes = false;
    let mut depth = 0_usize;
    let mut escaped = false;
    for ch in text.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match ch {
            '\\' if in_quotes || depth > 0 => escaped = true,
            '"' if depth == 0 => in_quotes = !in_quotes,
            '(' if !in_quotes => depth = depth.saturating_add(1),
            ')' if !in_quotes && depth > 0 => depth -= 1,
            _ if in_quotes || depth > 0 => {}
            _ => out.push(ch),
        }
    }
    out
}

/// The `d=` domains of the message's DKIM-Signature headers, lower-cased.
pub fn signed_domains(message: &Message) -> Vec<String> {
    message
        .headers("DKIM-Signature")
        .iter()
        .filter_map(|value| tag_value(value, "d"))
        .map(|domain| domain.to_ascii_lowercase())
        .collect()
}

/// The value of tag `name` in a DKIM tag list (`a=b; c=d`), whitespace removed.
fn tag_value(list: &str, name: &str) -> Option<String> {
    list.split(';').find_map(|pair| {
        let (tag, value) = pair.split_once('=')?;
        (tag.trim() == name).then(|| value.split_whitespace().collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_from_domain_is_read_past_display_names_and_comments() {
        for (value, domain) in [
            ("a@Example.ORG", Some("example.org")),
            (
                "\"Doe, <John> x@y.z\" <john@news.example.com>",
                Some("news.example.com"),
            ),
            (
                "John (at work@evil.test) <j@example.net>",
                Some("example.net"),
            ),
            ("a@one.test, b@two.test", Some("one.test")),
            ("undisclosed", None),
            ("x@bad domain", None),
        ] {
            assert_eq!(address_domain(value).as_deref(), domain, "{value}");
        }
    }

    #[test]
    fn signed_domains_come_from_the_d_tag() {
        let message = Message::new(
            &b"DKIM-Signature: v=1; a=rsa-sha256; s=s1;\r\n d=Example.ORG; b=abc\r\n\
               DKIM-Signature: v=1; d= other.test ; s=x\r\nFrom: a@example.org\r\n\r\n"[..],
        );
        assert_eq!(signed_domains(&message), vec!["example.org", "other.test"]);
    }

    #[test]
    fn from_is_oversigned_and_absent_headers_are_left_out() {
        let message = Message::new(
            &b"From: a@example.org\r\nTo: b@example.net\r\nList-Unsubscribe: <mailto:u@x>\r\n\
               X-Other: 1\r\n\r\nbody\r\n"[..],
        );
        assert_eq!(
            headers_to_sign(&message),
            vec!["From", "From", "To", "List-Unsubscribe"]
        );
    }
}
