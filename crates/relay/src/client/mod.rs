//! The tokio side of the SMTP/LMTP client: it owns the socket and every timeout.
//!
//! # Layout
//! - [`stream`]: TCP / TLS / unix stream enum.
//! - [`conn`]: a connection: send bytes, read replies, each under a stage timeout.
//! - [`session`]: opening a session: connect, greeting, EHLO→HELO / LHLO, STARTTLS, AUTH.
//! - [`payload`]: the message data: encoded in memory, or read and encoded while sent.
//! - [`transaction`]: the IO loop of one message, around `crate::proto::transaction`.

pub mod conn;
pub mod payload;
pub mod session;
pub mod stream;
pub mod transaction;
