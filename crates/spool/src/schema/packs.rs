//! Rows of the `packs` and `pack_counts` tables: small inline bodies stored end to end in
//! page-sized values, so that they fill redb's pages (layout 5).
//!
//! Why: a metadata row of about 1.1 KiB (a 1 KiB body) shares its 4 KiB leaf with one other,
//! because a full leaf splits in half by bytes and increasing ids never fill the left half
//! again. Bodies appended to a pack fill its values completely, and the metadata row left
//! behind is small (about 130 octets), so its half-full leaves cost little.
//!
//! `packs` key: the pack's number (u64 big-endian, 8) then the value's index (u32 big-endian,
//! 4). Value: exactly [`VALUE_LEN`] octets, the pack's bytes from `index` × [`VALUE_LEN`]; the
//! last value of a pack is padded with zeros. A leaf holding one value is exactly one 4 KiB
//! page (4-octet header, 4-octet key end, 4-octet value end, 12-octet key, value), and redb
//! gives each such value a leaf of its own, as it does a chunk.
//!
//! `pack_counts` key: the pack's number (u64). Value ([`COUNT_LEN`] octets): the messages whose
//! body is in the pack (u32 big-endian: live and quarantined ones), then the octets used
//! (u32 big-endian). The highest pack is the open one: new bodies are appended to it until the
//! next one would pass [`PACK_LEN`]; then a new pack gets the number the `format` table records
//! under [`NEXT_PACK_KEY`], which goes up by one.
//!
//! A message's metadata row names its body's place: its record says `Packed` and the row ends
//! with [`LOCATION_LEN`] octets, the pack (u64 big-endian) and the offset in it (u32
//! big-endian); the length is the record's `body_len`. The field has a fixed width so that the
//! row is encoded off the writer thread with it blank and the writer fills it in.

use redb::TableDefinition;

/// Pack values: (pack, index) → [`VALUE_LEN`] octets.
pub(crate) const PACKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("packs");
/// Per pack: messages in it and octets used ([`encode_count`]).
pub(crate) const PACK_COUNTS: TableDefinition<u64, &[u8]> = TableDefinition::new("pack_counts");

/// The key, in the `format` table, of the number the next new pack gets: numbers are never
/// given twice.
pub(crate) const NEXT_PACK_KEY: &str = "next_pack";

/// redb's page size: the default of redb's `Builder`, which the spool keeps.
const PAGE: usize = 4096;
/// Length of a pack value's key: pack (8) and index (4).
const KEY_LEN: usize = 12;
/// Octets in a pack value: a leaf holding one value fills one page exactly.
pub(crate) const VALUE_LEN: usize = PAGE - 4 - 4 - 4 - KEY_LEN;
/// Values in a full pack. Small, because one long-lived message keeps its whole pack (about
/// 64 KiB) on disk; large enough that the space lost when a pack closes (the rest of its last
/// value, less than one body) stays around 1 %.
pub(crate) const PACK_VALUES: u32 = 16;
/// Octets a pack holds at most.
pub(crate) const PACK_LEN: usize = VALUE_LEN * PACK_VALUES as usize;
/// Length of a `pack_counts` value.
pub(crate) const COUNT_LEN: usize = 8;
/// Length of a body's location at the end of its metadata row.
pub(crate) const LOCATION_LEN: usize = 12;

/// The key of value `index` of pack `pack`.
pub(crate) fn pack_key(pack: u64, index: u32) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    key[..8].copy_from_slice(&pack.to_be_bytes());
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

/// The pack a value's key names, if it has the right length.
pub(crate) fn key_pack(key: &[u8]) -> Option<u64> {
    let (pack, _) = key.split_first_chunk::<8>()?;
    (key.len() == KEY_LEN).then(|| u64::from_be_bytes(*pack))
}

/// A `pack_counts` value: `count` messages, `used` octets.
pub(crate) fn encode_count(count: u32, used: u32) -> [u8; COUNT_LEN] {
    let mut value = [0u8; COUNT_LEN];
    value[..4].copy_from_slice(&count.to_be_bytes());
    value[4..].copy_from_slice(&used.to_be_bytes());
    value
}

/// The (count, used) of a `pack_counts` value; `None` when it has the wrong length.
pub(crate) fn decode_count(value: &[u8]) -> Option<(u32, u32)> {
    let value: [u8; COUNT_LEN] = value.try_into().ok()?;
    let (count, used) = value.split_at(4);
    Some((
        u32::from_be_bytes(count.try_into().ok()?),
        u32::from_be_bytes(used.try_into().ok()?),
    ))
}

/// Where a packed body is: its pack and its offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    pub pack: u64,
    pub offset: u32,
}

impl Location {
    /// The row's fixed-width field.
    pub(crate) fn encode(self) -> [u8; LOCATION_LEN] {
        let mut out = [0u8; LOCATION_LEN];
        out[..8].copy_from_slice(&self.pack.to_be_bytes());
        out[8..].copy_from_slice(&self.offset.to_be_bytes());
        out
    }

    /// The location a row's tail names; `None` unless it is [`LOCATION_LEN`] octets.
    pub(crate) fn decode(tail: &[u8]) -> Option<Self> {
        let tail: &[u8; LOCATION_LEN] = tail.try_into().ok()?;
        let (pack, offset) = tail.split_at(8);
        Some(Self {
            pack: u64::from_be_bytes(pack.try_into().ok()?),
            offset: u32::from_be_bytes(offset.try_into().ok()?),
        })
    }

    /// Whether a body of `len` octets at this location fits in a pack.
    pub(crate) fn fits(self, len: u64) -> bool {
        u64::from(self.offset)
            .checked_add(len)
            .is_some_and(|end| len > 0 && end <= PACK_LEN as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_fills_one_page_and_fields_round_trip() {
        assert_eq!(VALUE_LEN + KEY_LEN + 12, PAGE);
        assert!(pack_key(1, 2) < pack_key(1, 3));
        assert!(pack_key(1, u32::MAX) < pack_key(2, 0));
        assert_eq!(key_pack(&pack_key(7, 3)), Some(7));
        assert_eq!(key_pack(&[0; 8]), None);
        assert_eq!(decode_count(&encode_count(3, 4000)), Some((3, 4000)));
        assert_eq!(decode_count(&[0; 7]), None);
        let at = Location {
            pack: 9,
            offset: 77,
        };
        assert_eq!(Location::decode(&at.encode()), Some(at));
        assert_eq!(Location::decode(&[0; 11]), None);
        assert!(at.fits(1) && !at.fits(0) && !at.fits(PACK_LEN as u64));
    }
}
