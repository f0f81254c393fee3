//! The sans-IO side of the client: bytes in, replies out; messages in, wire bytes out.
//!
//! # Layout
//! - [`reader`]: splits a byte stream into [`envoi_types::Reply`]s, bounded in size.
//! - [`caps`]: the EHLO/LHLO capability list.
//! - [`data`]: message bytes to DATA wire form (CRLF, dot-stuffing, final dot).
//! - [`command`]: command lines (MAIL, RCPT, AUTH PLAIN) as bytes.
//! - [`transaction`]: one message's MAIL…final reply exchange as a state machine.

pub mod caps;
pub mod command;
pub mod data;
pub mod reader;
pub mod transaction;
