//! `envoi queue ...`, `envoi config ...`, `envoi dkim ...`, `envoi spool ...` and the generated
//! documentation: one file per command group.

pub mod bulk;
pub mod config;
pub mod dkim;
pub mod docs;
pub mod queue;
pub mod reload;
pub mod spool;
