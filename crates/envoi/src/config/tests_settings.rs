//! The libraries' settings structs as embedded in the sections: defaults written once, keys
//! routed to the right field, errors still naming key and line.

use std::path::Path;
use std::time::Duration;

use envoi_edge::{AuthPolicy, Limits, Timeouts as EdgeTimeouts};
use envoi_queue::QueueSettings;
use envoi_relay::{PoolConfig, RelayConfig, Timeouts as RelayTimeouts, TlsPolicy};
use envoi_spool::SpoolOptions;
use serde::de::DeserializeOwned;

use super::table::{fields_of, Embeds, Parts};
use super::tests::syntax;
use super::*;

/// What a struct reads from an empty table.
fn from_empty<T: DeserializeOwned>() -> T {
    toml::from_str("").unwrap()
}

#[test]
fn each_library_struct_reads_its_own_default() {
    assert_eq!(from_empty::<Limits>(), Limits::default());
    assert_eq!(from_empty::<EdgeTimeouts>(), EdgeTimeouts::default());
    assert_eq!(from_empty::<AuthPolicy>(), AuthPolicy::default());
    assert_eq!(from_empty::<RelayTimeouts>(), RelayTimeouts::default());
    assert_eq!(from_empty::<PoolConfig>(), PoolConfig::default());
    assert_eq!(from_empty::<QueueSettings>(), QueueSettings::default());
    assert_eq!(from_empty::<SpoolOptions>(), SpoolOptions::default());
    // RelayConfig holds a route table without PartialEq; its Debug shows every field.
    assert_eq!(
        format!("{:?}", from_empty::<RelayConfig>()),
        format!("{:?}", RelayConfig::default())
    );
}

#[test]
fn an_empty_file_has_the_libraries_defaults() {
    let config = Config::parse("").unwrap();
    assert_eq!(config.smtp.limits, Limits::default());
    assert_eq!(config.smtp.timeouts, EdgeTimeouts::default());
    assert_eq!(config.smtp.auth.policy, AuthPolicy::default());
    assert_eq!(config.queue.settings, QueueSettings::default());
    assert_eq!(config.relay.pool, PoolConfig::default());
    assert_eq!(config.relay.timeouts, RelayTimeouts::default());
    assert_eq!(config.relay.tls, TlsPolicy::default());
    assert_eq!(
        config.relay.settings.mx_port,
        RelayConfig::default().mx_port
    );
    assert_eq!(config.storage.spool, SpoolOptions::default());
}

#[test]
fn every_embedded_key_lands_in_its_field() {
    let config = Config::parse(
        "[smtp]\nmax_message_size = 1\nmax_recipients = 2\nmax_received_headers = 3\n\
         max_errors = 4\nmax_connections = 5\nmax_connections_per_ip = 6\n\
         per_ip_limit_exempts_trusted = false\nmax_line_length = 77\nmax_messages_per_session = 81\n\
         command_timeout = \"7s\"\ndata_timeout = \"8s\"\nshutdown_grace = \"9s\"\n\
         min_data_rate = 78\nsession_timeout = \"79s\"\nreverse_dns_timeout = \"80s\"\n\
         reverse_dns = false\n\
         [smtp.auth]\nallow_plaintext = true\n\
         [queue]\nmax_deliveries = 10\nmax_per_destination = 9\ndestination_backoff = \"8s\"\ndestination_backoff_max = \"7m\"\nmessages_per_second = 2.5\nmax_storage_ops = 11\nshutdown_grace = \"12s\"\n\
         [relay]\nmx_port = 13\nmax_messages_per_connection = 14\nidle_timeout = \"15s\"\n\
         max_connections_per_destination = 16\nmax_recipients_per_transaction = 17\n\
         connections_per_second = 3.5\n\
         tls = \"required\"\n[relay.destinations.\"slow.test\"]\nmax_messages_per_connection = 21\n\
         connections_per_second = 0.5\n[relay.timeouts]\nconnect = \"18s\"\nfinal_dot = \"19s\"\n\
         [storage]\nmin_free = 20\n",
    )
    .unwrap();
    let limits = &config.smtp.limits;
    let counts = [
        limits.max_message_size,
        limits.max_recipients,
        limits.max_received_headers,
        limits.max_errors,
        limits.max_connections,
        limits.max_connections_per_ip,
    ];
    assert_eq!(counts, [1, 2, 3, 4, 5, 6]);
    assert!(!limits.per_ip_limit_exempts_trusted);
    assert_eq!(limits.max_line_length, 77);
    assert_eq!(limits.max_messages_per_session, 81);
    let timeouts = &config.smtp.timeouts;
    let waits = [timeouts.command, timeouts.data, timeouts.shutdown_grace];
    assert_eq!(waits, [7, 8, 9].map(Duration::from_secs));
    assert_eq!(timeouts.min_data_rate, 78);
    assert_eq!(timeouts.session, Duration::from_secs(79));
    assert_eq!(timeouts.reverse_dns, Duration::from_secs(80));
    assert!(!config.smtp.reverse_dns);
    assert!(config.smtp.auth.policy.allow_plaintext);
    let queue = &config.queue.settings;
    assert_eq!((queue.max_deliveries, queue.max_storage_ops), (10, 11));
    assert_eq!(queue.max_per_destination, 9);
    assert_eq!(queue.destination_backoff, Duration::from_secs(8));
    assert_eq!(queue.destination_backoff_max, Duration::from_secs(420));
    assert_eq!(queue.messages_per_second, Some(2.5));
    assert_eq!(queue.shutdown_grace, Duration::from_secs(12));
    let relay = &config.relay;
    assert_eq!(relay.settings.mx_port, 13);
    assert_eq!(relay.pool.max_messages_per_connection, 14);
    assert_eq!(relay.pool.idle_timeout, Duration::from_secs(15));
    assert_eq!(relay.pool.max_connections_per_destination, 16);
    assert_eq!(relay.pool.max_recipients_per_transaction, 17);
    assert_eq!(relay.pool.connections_per_second, Some(3.5));
    let slow = relay.pool.destinations.get("slow.test").copied();
    let own = envoi_relay::ConnectionLimits {
        max_messages_per_connection: Some(21),
        connections_per_second: Some(0.5),
    };
    assert_eq!(slow, Some(own));
    assert_eq!(relay.tls, TlsPolicy::Required);
    assert_eq!(relay.timeouts.connect, Duration::from_secs(18));
    assert_eq!(relay.timeouts.final_dot, Duration::from_secs(19));
    assert_eq!(relay.timeouts.banner, RelayTimeouts::default().banner);
}

/// Asserts that `text` is refused with a message naming `line` and every one of `words`.
fn refused_at(text: &str, line: u32, words: &[&str]) {
    let message = syntax(text);
    assert!(message.contains(&format!("line {line}")), "{message}");
    for word in words {
        assert!(message.contains(word), "{word:?} not in: {message}");
    }
}

#[test]
fn an_unknown_key_in_an_embedded_section_is_refused_by_name_and_line() {
    // A library field that is not a configuration key is as unknown as a typo; the list names
    // the section's own keys and the embedded structs' keys.
    refused_at(
        "[smtp]\nmax_recipients = 5\nmax_buffered_bytes = 1\n",
        3,
        &[
            "max_buffered_bytes",
            "expected one of",
            "`certificate`",
            "`max_message_size`",
            "`command_timeout`",
        ],
    );
    refused_at(
        "[relay]\n\nmax_idle_per_destinaton = 3\n",
        3,
        &["max_idle_per_destinaton"],
    );
    refused_at(
        "[smtp.auth]\nallow_plaintxt = true\n",
        2,
        &["allow_plaintxt"],
    );
    refused_at("[relay.timeouts]\ndns = \"5s\"\n", 2, &["dns"]);
    refused_at("[relay.mta_sts]\nenable = false\n", 2, &["enable"]);
}

#[test]
fn a_bad_embedded_value_names_its_line_and_what_was_expected() {
    refused_at(
        "[smtp]\n\ncommand_timeout = \"soon\"\n",
        3,
        &["command_timeout", "\"30s\""],
    );
    refused_at("[queue]\nmax_deliveries = -1\n", 2, &["usize"]);
    // serde reports an unknown key of a nested table at the table's header.
    refused_at(
        "[queue.destinations.\"a.test\"]\nmax_connections = 1\n",
        1,
        &["unknown field `max_connections`"],
    );
    refused_at("[relay]\ntls = \"sometimes\"\n", 2, &["opportunistic"]);
}

/// A key claimed by two structs would silently set only one of them.
#[test]
fn no_key_belongs_to_two_structs() {
    fn disjoint<S: DeserializeOwned + Embeds>() {
        let mut all = fields_of::<S>().to_vec();
        for keys in <S::Parts as Parts>::keys() {
            all.extend(keys.accepted());
        }
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "{}", std::any::type_name::<S>());
    }
    disjoint::<SmtpSection>();
    disjoint::<smtp::AuthSection>();
    disjoint::<QueueSection>();
    disjoint::<RelaySection>();
    disjoint::<StorageSection>();
}

/// The examples load to the settings the file states (equal to the defaults where it repeats
/// them), and the demo to the defaults.
#[test]
fn the_examples_load_to_their_settings() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let config = Config::load(&examples.join("envoi.toml")).unwrap();
    assert_eq!(config.smtp.limits, Limits::default());
    assert_eq!(config.smtp.timeouts, EdgeTimeouts::default());
    assert!(!config.smtp.auth.policy.allow_plaintext);
    assert!(config.smtp.reverse_dns);
    assert_eq!(config.queue.settings, QueueSettings::default());
    assert_eq!(
        config.queue.max_lifetime,
        Some(Duration::from_secs(5 * 86400))
    );
    assert_eq!(config.relay.settings.mx_port, 25);
    assert_eq!(config.relay.pool, PoolConfig::default());
    assert_eq!(config.relay.max_idle_per_destination, Some(20));
    assert_eq!(config.relay.timeouts, RelayTimeouts::default());
    assert_eq!(config.relay.tls, TlsPolicy::Opportunistic);
    assert_eq!(
        config.relay.tls_domains["bank.example.com"],
        TlsPolicy::Required
    );
    assert_eq!(config.storage.spool, SpoolOptions::default());

    let demo = Config::load(&examples.join("demo.toml")).unwrap();
    assert_eq!(demo.smtp.limits, Limits::default());
    assert_eq!(demo.queue.settings, QueueSettings::default());
    assert_eq!(demo.relay.pool, PoolConfig::default());
    assert_eq!(demo.relay.max_idle_per_destination, None);
    assert_eq!(demo.relay.tls, TlsPolicy::Opportunistic);
}

/// `delay_warnings` is a list of durations (empty: none) and `history_limit` a count, both
/// keys of `[queue]`; a bad duration names its line.
#[test]
fn delay_warnings_and_history_limit_are_queue_keys() {
    let config =
        Config::parse("[queue]\ndelay_warnings = [\"1h\", \"1d\"]\nhistory_limit = 3\n").unwrap();
    assert_eq!(
        config.queue.settings.delay_warnings,
        [Duration::from_secs(3600), Duration::from_secs(86400)]
    );
    assert_eq!(config.queue.settings.history_limit, 3);
    let off = Config::parse("[queue]\ndelay_warnings = []\n").unwrap();
    assert!(off.queue.settings.delay_warnings.is_empty());
    assert_eq!(
        QueueSettings::default().delay_warnings,
        [Duration::from_secs(4 * 3600)]
    );
    let message = syntax("[queue]\ndelay_warnings = [\"soon\"]\n");
    assert!(message.contains("line 2"), "{message}");
    assert!(message.contains("\"30s\""), "{message}");
}
