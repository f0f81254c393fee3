//! Runnable examples of envoi used as a library. The code is in the example targets:
//!
//! - `smarthost.rs`: an SMTP edge, a queue on the spool and a smarthost relay
//!   (`cargo run -p envoi-examples --example smarthost -- 127.0.0.1:2526`).
//! - `webhook.rs`: a custom [`envoi_queue::Relay`] that POSTs each message to an HTTP URL
//!   (`cargo run -p envoi-examples --example webhook -- http://127.0.0.1:8080/mail`).
//!
//! `tests/webhook.rs` runs the webhook relay against a loopback HTTP listener.
