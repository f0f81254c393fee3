//! Durations written as "30s", "5m", "4h", "5d": the helper shared with the library crates'
//! settings, so every key reads and reports durations the same way.

pub use envoi_types::duration::{
    deserialize, list, option, parse, serialize, serialize_list, serialize_option,
};
