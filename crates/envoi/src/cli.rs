//! Command-line interface: `envoi serve`, `envoi queue ...`, `envoi config ...`,
//! `envoi spool ...`, and the
//! generators of completions and man pages from these definitions.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// envoi: a mail transfer agent with a durable delivery queue.
#[derive(Debug, Parser)]
#[command(name = "envoi", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: SMTP on 127.0.0.1:2525, spool ./envoi-spool, delivery by MX, admin API
    /// on 127.0.0.1:8025 (flags and --config change these).
    Serve(ServeArgs),
    /// Inspect and manage the running daemon's queue through its admin API.
    Queue(QueueArgs),
    /// Make the running daemon re-read its configuration file (as SIGHUP does) and say which
    /// changed keys are in effect and which need a restart.
    Reload(AdminArgs),
    /// Check a configuration file, show the effective configuration, or hash a password.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// DKIM keys: generate a key pair and print the DNS record to publish.
    #[command(subcommand)]
    Dkim(DkimCommand),
    /// Offline maintenance of the spool directory (stop the daemon first).
    #[command(subcommand)]
    Spool(SpoolCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write man pages (envoi.1 and one per subcommand) into a directory.
    Manpages {
        /// The directory (created when missing).
        dir: PathBuf,
    },
}

/// `envoi serve` flags; each overrides the configuration file.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); examples/envoi.toml lists every key.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SMTP listen address (replaces the configured listeners).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Relay everything to this smarthost: smtp://HOST:PORT (or lmtp://HOST:PORT).
    #[arg(long, value_name = "URL")]
    pub relay: Option<String>,
    /// Spool directory (created when missing).
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// Admin API listen address.
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
    /// Host name for the banner, Received headers and bounces.
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
}

/// How to reach the daemon's admin API.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The daemon's admin API.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:8025",
        env = "ENVOI_ADMIN_URL"
    )]
    pub admin: String,
    /// Bearer token for the admin API.
    #[arg(long, value_name = "TOKEN", env = "ENVOI_ADMIN_TOKEN")]
    pub token: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `envoi queue` and its connection options.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// The daemon's admin API.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        default_value = "http://127.0.0.1:8025",
        env = "ENVOI_ADMIN_URL"
    )]
    pub admin: String,
    /// Bearer token for the admin API.
    #[arg(long, global = true, value_name = "TOKEN", env = "ENVOI_ADMIN_TOKEN")]
    pub token: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// The queue command.
    #[command(subcommand)]
    pub command: QueueCommand,
}

/// `envoi queue shape --by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShapeByArg {
    /// Recipient domain.
    Domain,
    /// Last reply.
    Reply,
    /// Sender domain.
    Sender,
}

/// Which messages an action concerns: queue ids (`-` reads more from standard input, one per
/// line), or the listing's filters, or `--all`.
#[derive(Debug, Clone, Default, Args)]
pub struct BulkArgs {
    /// Queue ids; `-` reads ids from standard input.
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Or every message these filters select.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Or every message in the queue.
    #[arg(long)]
    pub all: bool,
    /// Confirms `delete` or `bounce` by filter or `--all`.
    #[arg(long)]
    pub yes: bool,
}

/// Filters shared by `list`, `flush` and the actions.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only messages in this state: active, deferred, held.
    #[arg(long)]
    pub state: Option<String>,
    /// Only senders containing this text.
    #[arg(long)]
    pub sender: Option<String>,
    /// Only messages with a recipient containing this text.
    #[arg(long)]
    pub recipient: Option<String>,
    /// Only messages with a recipient in this domain.
    #[arg(long)]
    pub domain: Option<String>,
    /// Only messages at least this old ("30m", "2h", "1d").
    #[arg(long, value_name = "AGE")]
    pub min_age: Option<String>,
}

/// `envoi queue ...`.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Counts by state and by destination domain.
    Summary,
    /// Where mail waits and for how long (Postfix's qshape): messages per recipient domain,
    /// last reply or sender domain, by age in minutes.
    Shape {
        /// Group by: domain (recipient domain, the default), reply (last reply, addresses
        /// removed) or sender (sender domain).
        #[arg(long, value_enum, default_value_t = ShapeByArg::Domain)]
        by: ShapeByArg,
        /// Group by sender domain (the same as --by sender).
        #[arg(long, conflicts_with = "by")]
        sender: bool,
        /// Rows shown, the largest first (1 to 1000).
        #[arg(long, default_value_t = 20, value_parser = page_limit)]
        top: usize,
    },
    /// Queued messages, oldest first.
    List {
        /// Filters.
        #[command(flatten)]
        filter: FilterArgs,
        /// Start after this queue id (the last of the previous page).
        #[arg(long, value_name = "ID")]
        after: Option<String>,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 100, value_parser = page_limit)]
        limit: usize,
        /// Add a REASON column: the last reply of the first pending recipient.
        #[arg(long)]
        long: bool,
    },
    /// One message: envelope, per-recipient status, attempts, next attempt, last reply.
    Show {
        /// Queue id.
        id: String,
        /// Print the stored message itself (as it will be relayed) instead of its status.
        #[arg(long)]
        body: bool,
    },
    /// Make deferred messages due now (all, or those matching the filters).
    Flush {
        /// Filters.
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Attempt messages now (their attempt count is unchanged).
    Retry(BulkArgs),
    /// Hold messages: no attempt until released (they still expire).
    Hold(BulkArgs),
    /// Release held messages.
    Release(BulkArgs),
    /// Delete messages without a bounce.
    Delete(BulkArgs),
    /// Fail messages now: bounce them to their senders and remove them.
    Bounce(BulkArgs),
    /// Destinations (route, smarthost or MX domain): queued, in flight, oldest, connection
    /// failures, back-off, suspension, last error.
    Destinations,
    /// Stop delivery to a destination (its mail is kept, and still expires).
    Suspend {
        /// A domain or a route name, as `destinations` shows it.
        destination: String,
        /// For how long ("30m", "2h", "1d"); default: until resumed.
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
        /// Why, shown with the destination.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Resume delivery to a suspended destination.
    Resume {
        /// A domain or a route name.
        destination: String,
    },
}

/// `envoi spool ...`.
#[derive(Debug, Subcommand)]
pub enum SpoolCommand {
    /// Compact the spool's database so that the file gives back the space of removed
    /// messages, and print its size before and after. Refused while a daemon (or anything
    /// else) has the spool open; body files are not touched.
    Compact(SpoolArgs),
}

/// Which spool directory: `--spool`, else the configuration file's `storage.path`, else
/// `./envoi-spool` (as `envoi serve`).
#[derive(Debug, Clone, Default, Args)]
pub struct SpoolArgs {
    /// Configuration file whose `storage.path` names the spool.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Spool directory (overrides the configuration file).
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
}

/// `envoi config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file without starting.
    Check {
        /// The file.
        file: PathBuf,
    },
    /// Print the effective configuration as TOML: the file (or, without one, nothing) with
    /// every default filled in; secrets (tokens, passwords, password hashes) are shown as
    /// "<redacted>".
    Show {
        /// The file; without it, the defaults.
        file: Option<PathBuf>,
    },
    /// Print the Argon2 hash of a password for `[[smtp.auth.user]] password_hash`; the password
    /// is asked twice without echo on a terminal, or read as the first line of standard input.
    HashPassword,
}

/// `envoi dkim ...`.
#[derive(Debug, Subcommand)]
pub enum DkimCommand {
    /// Write a new private key (PEM, mode 0600; an existing file is never overwritten) and print
    /// the TXT record to publish at SELECTOR._domainkey.DOMAIN.
    Keygen {
        /// The signing domain (d=).
        #[arg(long, value_name = "DOMAIN")]
        domain: String,
        /// The selector (s=).
        #[arg(long, value_name = "SELECTOR")]
        selector: String,
        /// The algorithm: ed25519 (RFC 8463) or rsa (2048 bits).
        #[arg(long, value_enum, default_value = "ed25519")]
        algorithm: KeyAlgorithmArg,
        /// Where to write the private key.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// `envoi dkim keygen --algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyAlgorithmArg {
    /// ed25519-sha256.
    Ed25519,
    /// rsa-sha256, 2048 bits.
    Rsa,
}

/// `--limit` and `--top`: a count the admin API serves, refused (not capped) outside its range.
fn page_limit(text: &str) -> Result<usize, String> {
    let limit: usize = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (1..=envoi_admin::api::MAX_PAGE_SIZE).contains(&limit) {
        Ok(limit)
    } else {
        Err(format!(
            "{limit} is out of range: a page holds 1 to {} messages (page on with --after)",
            envoi_admin::api::MAX_PAGE_SIZE
        ))
    }
}
