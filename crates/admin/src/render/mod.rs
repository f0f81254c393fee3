//! Human-readable text for the API types: what `envoi queue ...` prints without `--json`.
//!
//! Every function returns a `String` ending in a newline; those that show ages or due times
//! take `now` so that their output is reproducible (the CLI passes `SystemTime::now()`).
//!
//! # Layout
//! - [`table`]: left-aligned columns.
//! - [`human`]: short durations, relative times, sizes.
//! - `summary`: [`summary`].
//! - `destinations`: [`destinations`], [`suspension`], [`resumed`].
//! - `messages`: [`list`], [`list_long`] and [`show`].
//! - `shape`: [`shape`], qshape's table.
//! - `results`: [`action`], [`bulk`], [`reload`], [`flush`], [`injected`], [`quarantine`], [`health`].

mod destinations;
pub mod human;
mod messages;
mod results;
mod shape;
mod summary;
pub mod table;

pub use destinations::{destinations, resumed, suspension};
pub use messages::{list, list_long, show};
pub use results::{action, bulk, flush, health, injected, quarantine, reload};
pub use shape::shape;
pub use summary::summary;
