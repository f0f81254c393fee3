//! Turning the configuration into the library's parts: store, relay, queue, edge.
//!
//! Only the wiring lives here (TLS files, resolver, routes and hops, policies, users): the
//! libraries' plain settings arrive already read, with their defaults, in the config sections.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use envoi_dkim::{DkimSign, LoadedKey};
use envoi_edge::{EdgeConfig, IpNet, TlsSettings};
use envoi_queue::policy::{AddDateHeader, AddMessageIdHeader, Forward, SplitByDomain};
use envoi_queue::{Backoff, Exponential, MemoryStore, PrequeuePolicy, Schedule, Storage};
use envoi_relay::{DaneSettings, HickoryResolver, PoolConfig, RelayConfig, RouteTable, SmtpRelay};
use envoi_spool::{Spool, SpoolOptions};
use envoi_store_postgres::PgStore;
use envoi_types::Address;

use crate::config::queue::{BackoffSection, PolicyName};
use crate::config::relay::parse_hop;
use crate::config::{Config, RelaySection, StorageKind};

/// The configured store, and the spool itself when it is one (the daemon watches it stop).
pub struct Store {
    /// What the queue stores into.
    pub storage: Arc<dyn Storage>,
    /// The spool behind `storage`, when the store is a spool.
    pub spool: Option<Spool>,
}

impl Store {
    /// What the start-up log says of the store: the spool's directory, the PostgreSQL node.
    pub fn describe(&self, config: &Config, hostname: &str) -> String {
        match config.storage.kind {
            StorageKind::Spool => config.storage.path.display().to_string(),
            StorageKind::Memory => "memory".into(),
            StorageKind::Postgres => format!(
                "postgres node {}",
                config.storage.postgres.node.as_deref().unwrap_or(hostname)
            ),
        }
    }

    /// Resolves when the store has stopped for good (a spool whose writer panicked or whose
    /// fsync failed), with the reason; never for a store that cannot stop.
    pub async fn stopped(&self) -> envoi_queue::StorageError {
        match &self.spool {
            Some(spool) => spool.stopped().await,
            None => std::future::pending().await,
        }
    }
}

/// Opens the configured store; the spool directory is created when missing. A PostgreSQL
/// store connects and brings its schema up to date; `hostname` is its node name by default.
pub async fn storage(config: &Config, hostname: &str) -> anyhow::Result<Store> {
    match config.storage.kind {
        StorageKind::Memory => Ok(Store {
            storage: Arc::new(MemoryStore::new()),
            spool: None,
        }),
        StorageKind::Spool => {
            let path = config.storage.path.clone();
            let options = SpoolOptions {
                create_dir: true,
                ..config.storage.spool.clone()
            };
            let spool = tokio::task::spawn_blocking(move || Spool::open(&path, options))
                .await
                .context("spool opening task failed")?
                .with_context(|| format!("cannot open spool {}", config.storage.path.display()))?;
            Ok(Store {
                storage: Arc::new(spool.clone()),
                spool: Some(spool),
            })
        }
        StorageKind::Postgres => {
            let options = config
                .storage
                .postgres
                .options(hostname)
                .map_err(anyhow::Error::msg)?;
            let node = options.node.clone();
            let store = PgStore::open(options)
                .await
                .with_context(|| format!("cannot open the PostgreSQL store as node {node}"))?;
            Ok(Store {
                storage: Arc::new(store),
                spool: None,
            })
        }
    }
}

/// The relay for the `[relay]` section.
pub fn relay(config: &Config, hostname: &str) -> anyhow::Result<SmtpRelay> {
    let section = &config.relay;
    let resolver = Arc::new(HickoryResolver::new(&name_servers(section)));
    let mut settings = relay_config(section, hostname)?;
    // Policies fetched survive restarts: kept beside the spool unless configured elsewhere.
    if settings.mta_sts.cache_dir.is_none() {
        settings.mta_sts.cache_dir = Some(config.storage.path.join("mta-sts"));
    }
    SmtpRelay::new(settings, resolver).context("cannot build the relay")
}

/// The relay's settings: those read from `[relay]`, plus the routes, TLS trust and EHLO name.
pub fn relay_config(section: &RelaySection, hostname: &str) -> anyhow::Result<RelayConfig> {
    let mut relay_config = RelayConfig {
        helo_name: section
            .helo_name
            .clone()
            .unwrap_or_else(|| hostname.to_owned()),
        routes: routes(section)?,
        timeouts: section.timeouts.clone(),
        pool: pool(section),
        mta_sts: section.mta_sts.clone(),
        ..section.settings.clone()
    };
    relay_config.tls.default_policy = section.tls;
    for (domain, policy) in &section.tls_domains {
        relay_config
            .tls
            .per_domain
            .insert(domain.to_lowercase(), *policy);
    }
    for path in &section.ca_files {
        relay_config.tls.extra_roots.extend(read_pem_certs(path)?);
    }
    relay_config.dane = dane_settings(section)?;
    Ok(relay_config)
}

/// Fails when the DANE settings are unusable (an unreadable or malformed trust anchor file),
/// naming the key: for `envoi config check`.
pub fn check_dane(section: &RelaySection) -> anyhow::Result<()> {
    envoi_relay::Dane::new(&dane_settings(section)?).context("relay.dnssec_trust_anchors")?;
    Ok(())
}

/// DANE's settings: the trust anchor files' text and the relay's name servers.
fn dane_settings(section: &RelaySection) -> anyhow::Result<DaneSettings> {
    let mut trust_anchors = String::new();
    for path in &section.dnssec_trust_anchors {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("relay.dnssec_trust_anchors: cannot read {}", path.display())
        })?;
        trust_anchors.push_str(&text);
        trust_anchors.push('\n');
    }
    Ok(DaneSettings {
        enabled: section.dane,
        trust_anchors,
        name_servers: name_servers(section),
    })
}

/// The smarthost (or MX) and the per-domain routes.
fn routes(section: &RelaySection) -> anyhow::Result<RouteTable> {
    let mut routes = match &section.smarthost {
        Some(text) => {
            let mut hop = parse_hop(text).map_err(anyhow::Error::msg)?;
            if let (Some(user), Some(password)) =
                (&section.smarthost_user, &section.smarthost_password)
            {
                hop = hop.with_auth(user, password);
            }
            RouteTable::fixed(vec![hop])
        }
        None => RouteTable::mx(),
    };
    for (domain, hops) in &section.routes {
        let hops = hops
            .iter()
            .map(|h| parse_hop(h).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        routes.add(domain, hops);
    }
    Ok(routes)
}

/// The pool settings; kept idle connections default to as many as may be open.
fn pool(section: &RelaySection) -> PoolConfig {
    PoolConfig {
        max_idle_per_destination: section
            .max_idle_per_destination
            .unwrap_or(section.pool.max_connections_per_destination),
        ..section.pool.clone()
    }
}

fn read_pem_certs(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(certs)
}

/// The name servers of /etc/resolv.conf (127.0.0.1:53 when it lists none).
/// The name servers of `relay.dns`, else the system's: the relay's and the edge's lookups.
pub fn name_servers(section: &RelaySection) -> Vec<std::net::SocketAddr> {
    if section.dns.is_empty() {
        system_name_servers()
    } else {
        section.dns.clone()
    }
}

fn system_name_servers() -> Vec<std::net::SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let servers: Vec<std::net::SocketAddr> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| std::net::SocketAddr::new(ip, 53))
        .collect();
    if servers.is_empty() {
        vec![std::net::SocketAddr::from(([127, 0, 0, 1], 53))]
    } else {
        servers
    }
}

/// The retry policy for `[queue.backoff]` (the queue bounds it by `queue.max_lifetime`).
pub fn backoff(config: &Config) -> Arc<dyn Backoff> {
    match &config.queue.backoff {
        None => Arc::new(Schedule::rfc5321()),
        Some(BackoffSection::Schedule { delays }) => Arc::new(Schedule {
            delays: delays.clone(),
        }),
        Some(BackoffSection::Exponential {
            first,
            factor,
            max_attempts,
            cap,
        }) => Arc::new(Exponential {
            first: *first,
            factor: *factor,
            cap: *cap,
            max_attempts: *max_attempts,
        }),
    }
}

/// The prequeue policies of `[queue]`, in order, then DKIM signing when `[dkim]` has keys:
/// last, so that it signs the headers the others added, once per stored copy.
///
/// # Errors
/// A bad alias, or a DKIM key file that is missing, unreadable or not a key of its algorithm.
pub fn policies(config: &Config, hostname: &str) -> anyhow::Result<Vec<Box<dyn PrequeuePolicy>>> {
    let mut policies = config
        .queue
        .policies
        .iter()
        .map(|name| -> anyhow::Result<Box<dyn PrequeuePolicy>> {
            Ok(match name {
                PolicyName::AddDate => Box::new(AddDateHeader),
                PolicyName::AddMessageId => Box::new(AddMessageIdHeader {
                    hostname: hostname.to_owned(),
                }),
                PolicyName::SplitByDomain => Box::new(SplitByDomain),
                PolicyName::Forward => Box::new(forward(config)?),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(signer) = dkim(config)? {
        policies.push(Box::new(signer));
    }
    Ok(policies)
}

/// The DKIM signer for `[dkim]`, its keys read now; `None` without keys.
///
/// # Errors
/// A key file is missing, unreadable or not a private key of its algorithm (the error names it).
pub fn dkim(config: &Config) -> anyhow::Result<Option<DkimSign>> {
    let specs = config.dkim.specs();
    if specs.is_empty() {
        return Ok(None);
    }
    let keys = specs
        .iter()
        .map(|spec| {
            let pem = std::fs::read(&spec.path)
                .with_context(|| format!("cannot read {}", spec.path.display()))
                .and_then(|pem| Ok(LoadedKey::from_pem(spec, &pem)?));
            pem.with_context(|| format!("dkim.key {} of {}", spec.selector, spec.domain))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let signer = config.dkim.routes.iter().fold(
        DkimSign::new(config.dkim.sign_by.clone(), keys),
        |signer, (recipients, signing)| signer.route_domain(recipients, signing),
    );
    Ok(Some(signer))
}

fn forward(config: &Config) -> anyhow::Result<Forward> {
    let mut policy = Forward::new();
    for (key, targets) in &config.queue.aliases {
        let targets = targets
            .iter()
            .map(|t| Address::parse(t).with_context(|| format!("queue.aliases.{key}: {t}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        policy = policy.alias(key, targets);
    }
    Ok(policy)
}

/// The edge configuration for `[smtp]`.
pub fn edge(config: &Config, hostname: &str) -> anyhow::Result<EdgeConfig> {
    let smtp = &config.smtp;
    let trusted_networks = smtp
        .trusted_networks
        .iter()
        .map(|n| {
            n.parse::<IpNet>()
                .map_err(|e| anyhow::anyhow!("smtp.trusted_networks {n:?}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let tls = match (&smtp.certificate, &smtp.key) {
        (Some(cert), Some(key)) => Some(tls_settings(cert, key)?),
        _ => None,
    };
    Ok(EdgeConfig {
        hostname: hostname.to_owned(),
        limits: smtp.limits.clone(),
        timeouts: smtp.timeouts.clone(),
        receiving_domains: smtp.receiving_domains.clone(),
        trusted_networks,
        tls,
        auth: smtp.auth.policy.clone(),
    })
}

fn tls_settings(cert: &Path, key: &Path) -> anyhow::Result<TlsSettings> {
    let cert_pem = std::fs::read(cert)
        .with_context(|| format!("cannot read smtp.certificate {}", cert.display()))?;
    let key_pem =
        std::fs::read(key).with_context(|| format!("cannot read smtp.key {}", key.display()))?;
    TlsSettings::from_pem(&cert_pem, &key_pem).with_context(|| {
        format!(
            "smtp.certificate {} / smtp.key {}",
            cert.display(),
            key.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text).unwrap()
    }

    #[test]
    fn mta_sts_is_on_by_default_and_its_table_is_read() {
        let relay = relay_config(&config("").relay, "mx.test").unwrap();
        assert!(relay.mta_sts.enabled);
        assert_eq!(relay.mta_sts.https_port, 443);
        let text = "[relay.mta_sts]\nenabled = false\nhttps_port = 8443\n\
                    fetch_timeout = \"5s\"\ncache_dir = \"/var/cache/sts\"\n";
        let relay = relay_config(&config(text).relay, "mx.test").unwrap();
        assert!(!relay.mta_sts.enabled);
        assert_eq!(relay.mta_sts.https_port, 8443);
        assert_eq!(
            relay.mta_sts.fetch_timeout,
            std::time::Duration::from_secs(5)
        );
        assert_eq!(
            relay.mta_sts.cache_dir.as_deref(),
            Some(Path::new("/var/cache/sts"))
        );
        assert!(Config::parse("[relay.mta_sts]\nfetch_timeout = \"0s\"\n").is_err());
    }

    #[test]
    fn idle_connections_default_to_the_connection_limit() {
        let relay = relay_config(
            &config("[relay]\nmax_connections_per_destination = 50\n").relay,
            "mx.test",
        )
        .unwrap();
        assert_eq!(relay.pool.max_idle_per_destination, 50);
        assert_eq!(relay.pool.max_connections_per_destination, 50);
        let text = "[relay]\nmax_connections_per_destination = 50\nmax_idle_per_destination = 7\n";
        let relay = relay_config(&config(text).relay, "mx.test").unwrap();
        assert_eq!(relay.pool.max_idle_per_destination, 7);
    }

    #[test]
    fn the_relay_gets_the_section_and_the_wiring() {
        let text = "[relay]\nmx_port = 2525\nidle_timeout = \"1m\"\ntls = \"none\"\n\
                    [relay.tls_domains]\n\"Bank.Example\" = \"required\"\n\
                    [relay.timeouts]\nrcpt = \"1m\"\n";
        let relay = relay_config(&config(text).relay, "mx.test").unwrap();
        assert_eq!(relay.helo_name, "mx.test");
        assert_eq!(relay.mx_port, 2525);
        assert_eq!(relay.pool.idle_timeout, std::time::Duration::from_secs(60));
        assert_eq!(relay.timeouts.rcpt, std::time::Duration::from_secs(60));
        assert_eq!(relay.tls.default_policy, envoi_relay::TlsPolicy::None);
        assert_eq!(
            relay.tls.per_domain.get("bank.example"),
            Some(&envoi_relay::TlsPolicy::Required)
        );
        let defaults = RelayConfig::default();
        assert_eq!(relay.max_reply_line, defaults.max_reply_line);
        assert_eq!(
            relay.max_parallel_next_hops,
            defaults.max_parallel_next_hops
        );
    }

    #[test]
    fn the_edge_gets_the_section() {
        let text =
            "[smtp]\nmax_errors = 3\ndata_timeout = \"1m\"\n[smtp.auth]\nallow_plaintext = true\n";
        let edge = edge(&config(text), "mx.test").unwrap();
        assert_eq!(edge.hostname, "mx.test");
        assert_eq!(edge.limits.max_errors, 3);
        assert_eq!(edge.timeouts.data, std::time::Duration::from_secs(60));
        assert!(edge.auth.allow_plaintext);
        assert_eq!(edge.trusted_networks.len(), 2);
        assert!(edge.tls.is_none());
    }
}
