//! The sans-IO protocol core: bytes in, events out.
//!
//! Nothing here touches a socket, a clock or a task: the session loop hands these parsers the
//! bytes it read and acts on what they report. That keeps every rule about hostile input in
//! plain functions that unit tests and the fuzzer drive directly.
//!
//! # Layout
//! - [`line`](mod@line): splits the input into command lines (CRLF only, bounded length).
//! - [`command`]: parses one command line into a [`Command`].
//! - [`data`]: reads a DATA body up to `<CRLF>.<CRLF>`, undoing dot-stuffing, bounded by size.
//! - [`text`]: DATA's line rules over BDAT content, piece by piece.
//! - [`check`]: invariant checks over these parsers, driven by the fuzz targets and the
//!   corpus replay test.

pub mod check;
pub mod command;
pub mod data;
pub mod line;
pub mod text;

pub use command::{Command, CommandError, Param};
pub use data::{DataProblem, DataReader};
pub use line::{LineEvent, LineReader};
