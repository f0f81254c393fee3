//! Core mail types shared by every part of envoi.
//!
//! Nothing here does I/O; every type is plain data with serde support, so storage
//! backends can persist it and the admin API can show it.
//!
//! # Layout
//! - [`address`]: mailbox addresses and the reverse path ([`Sender`], with the null sender `<>`).
//! - [`mailbox`]: the RFC 5321 grammar addresses follow, and source routes.
//! - [`message`]: the raw message bytes with cheap header access.
//! - [`spooled`]: the part of a large message kept in a file.
//! - [`envelope`]: sender, recipients, message, client info (with what the client declared:
//!   SMTPUTF8, `BODY=`, TLS, AUTH) and arrival time.
//! - [`dsn`]: what the sender asked of delivery status notifications (RFC 3461).
//! - [`xtext`]: the encoding of DSN parameter values.
//! - [`reply`]: SMTP replies with enhanced status codes.
//! - [`queue_id`]: time-ordered unique message ids.
//! - [`status`]: per-recipient delivery status.
//! - `duration` (feature `serde-duration`): "30s", "5m" durations for configuration files.

pub mod address;
pub mod dsn;
#[cfg(feature = "serde-duration")]
pub mod duration;
pub mod envelope;
pub mod mailbox;
pub mod message;
pub mod queue_id;
pub mod reply;
pub mod spooled;
pub mod status;
pub mod xtext;

pub use address::{Address, AddressError, Sender};
pub use dsn::{DsnRequest, Notify, OriginalRecipient, RecipientDsn, Ret};
pub use envelope::{BodyType, ClientInfo, Envelope, TlsInfo};
pub use message::{HeaderError, Message};
pub use queue_id::{ParseQueueIdError, QueueId};
pub use reply::{EnhancedCode, Reply, ReplyClass, ReplyLine, ReplyParseError};
pub use spooled::{BodyGuard, SpooledBody};
pub use status::{AppliedTls, RecipientState, RecipientStatus, TlsReport};
