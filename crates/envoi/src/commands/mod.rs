//! `envoi queue ...` and `envoi config ...`: one file per command group.

pub mod config;
pub mod queue;
