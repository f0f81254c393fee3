//! `envoi config show`: the effective configuration as TOML, every default filled in and
//! every secret replaced by [`REDACTED`].
//!
//! Each struct writes the keys it reads (derived `Serialize`, the library structs' keys merged
//! into their section by [`super::table::serialize_section`]), so the output reads back as the
//! same configuration. Keys whose default `envoi serve` computes (`hostname`,
//! `relay.helo_name`, `queue.max_lifetime`, the retry schedule, the idle connections kept)
//! are filled in as it computes them; `relay.dns` left empty means the system's name servers,
//! and the PostgreSQL keys left out mean the store's defaults.

use serde::Serializer;

use super::queue::BackoffSection;
use super::Config;

/// What a secret is shown as.
pub const REDACTED: &str = "<redacted>";

/// The configuration as TOML text.
///
/// # Errors
/// A value TOML cannot hold (not expected: every key was read from TOML or a default).
pub fn effective_toml(config: &Config) -> Result<String, String> {
    toml::to_string(&with_computed_defaults(config.clone())).map_err(|e| e.to_string())
}

/// The configuration with the defaults `envoi serve` computes written in.
fn with_computed_defaults(mut config: Config) -> Config {
    let hostname = config
        .hostname
        .get_or_insert_with(crate::serve::system_hostname)
        .clone();
    config.relay.helo_name.get_or_insert(hostname);
    config
        .queue
        .max_lifetime
        .get_or_insert(envoi_queue::backoff::DEFAULT_LIFETIME);
    config
        .queue
        .backoff
        .get_or_insert_with(|| BackoffSection::Schedule {
            delays: envoi_queue::Schedule::rfc5321().delays,
        });
    let max_connections = config.relay.pool.max_connections_per_destination;
    config
        .relay
        .max_idle_per_destination
        .get_or_insert(max_connections);
    config
}

/// Writes a secret as [`REDACTED`].
///
/// # Errors
/// The serializer's.
pub fn redact<S: Serializer>(_secret: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(REDACTED)
}

/// Writes a present secret as [`REDACTED`]; an absent one stays absent.
///
/// # Errors
/// The serializer's.
pub fn redact_option<S: Serializer>(
    secret: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => redact(secret, serializer),
        None => serializer.serialize_none(),
    }
}

/// Writes a URL with the password of its user part (`scheme://user:password@host`) as
/// [`REDACTED`]; the rest is shown.
///
/// # Errors
/// The serializer's.
pub fn redact_url<S: Serializer>(url: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_str(&without_password(url)),
        None => serializer.serialize_none(),
    }
}

fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:{REDACTED}{}", &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_url_password_is_redacted() {
        assert_eq!(
            without_password("postgres://envoi:s3cret@db:5432/mail?sslmode=require"),
            "postgres://envoi:<redacted>@db:5432/mail?sslmode=require"
        );
        assert_eq!(
            without_password("postgres://envoi@db/mail"),
            "postgres://envoi@db/mail"
        );
    }

    #[test]
    fn secrets_are_redacted_and_defaults_shown() {
        let config = Config::parse(
            "[admin]\ntoken = \"t0ken\"\n\n[relay]\nsmarthost = \"smtp://relay.test:587\"\n\
             smarthost_user = \"u\"\nsmarthost_password = \"pw\"\n\n\
             [[smtp.auth.user]]\nname = \"a\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\"\n",
        )
        .unwrap();
        let text = effective_toml(&config).unwrap();
        for secret in ["t0ken", "\"pw\"", "argon2id"] {
            assert!(!text.contains(secret), "{secret} in\n{text}");
        }
        assert_eq!(text.matches(REDACTED).count(), 3, "{text}");
        assert!(text.contains("max_message_size = 26214400"), "{text}");
    }

    #[test]
    fn computed_defaults_are_written_as_serve_computes_them() {
        let config = Config::parse("hostname = \"mx.test\"\n").unwrap();
        let text = effective_toml(&config).unwrap();
        for line in [
            "helo_name = \"mx.test\"",
            "max_lifetime = \"5d\"",
            "delays = [\"5m\", \"10m\", \"30m\", \"1h\", \"2h\", \"4h\"]",
            "kind = \"schedule\"",
            "max_idle_per_destination = 20",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        let again = Config::parse(&text).unwrap();
        assert_eq!(effective_toml(&again).unwrap(), text);
    }
}
