//! `GET /v1/shape`: where the queue's mail is stuck and for how long, as Postfix's qshape
//! shows it: one row per recipient domain, last reply or sender domain, one column per age.

use serde::{Deserialize, Serialize};

/// The upper bounds of the age columns, in minutes (qshape's); the last column holds older mail.
pub const AGE_COLUMNS_MINUTES: [u64; 9] = [5, 10, 20, 40, 80, 160, 320, 640, 1280];

/// What the rows group by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeBy {
    /// The domains of pending recipients (a message counts once per domain).
    #[default]
    Domain,
    /// The last reply of pending recipients: code, enhanced code and text with addresses
    /// replaced by `<address>` (a message counts once per distinct reply).
    Reply,
    /// The sender's domain (`<>` for the null sender).
    Sender,
}

/// `?by=domain|reply|sender&top=N`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeQuery {
    /// Rows group by this (default: recipient domain).
    #[serde(default)]
    pub by: ShapeBy,
    /// At most this many rows, the largest first (default 20, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<usize>,
}

/// The queue's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// What the rows group by.
    pub by: ShapeBy,
    /// The column labels after the total: `5`, `10`, ... `1280`, `1280+` (minutes).
    pub columns: Vec<String>,
    /// Every message, by age.
    pub total: ShapeRow,
    /// The largest groups, largest first.
    pub rows: Vec<ShapeRow>,
    /// Groups not shown because of `top`.
    pub more_rows: u64,
    /// False when the queue was too large to read whole; the counts cover its oldest part.
    pub complete: bool,
}

/// One group's messages by age.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeRow {
    /// The domain, reply or sender domain (`TOTAL` for the total row).
    pub key: String,
    /// Messages in the group.
    pub total: u64,
    /// Messages per age column, as [`Shape::columns`] names them.
    pub by_age: Vec<u64>,
}
