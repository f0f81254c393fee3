//! Rows of the `chunks` table: the leading part of an inline body of at least one chunk, cut
//! into chunks of [`CHUNK_LEN`] octets, keyed by (id, index).
//!
//! Why: redb (2.x) gives a leaf holding one value larger than a page a page of the next power
//! of two, so a 64 KiB body inside its metadata row took a 128 KiB page, and a 4 KiB one an
//! 8 KiB page. A chunk is sized so that a leaf holding it alone is exactly one 4 KiB page
//! (4-octet leaf header, 4-octet key end, 4-octet value end, 20-octet key, value), and redb
//! puts each such value in a leaf of its own rather than splitting: chunks fill their pages.
//! The rest of the body (shorter than a chunk) stays at the end of the metadata row.
//!
//! Key: the message's id (16 bytes) then the chunk's index (u32 big-endian, 4): a message's
//! chunks are adjacent and in order. Value: exactly [`CHUNK_LEN`] octets of the body.

use envoi_types::QueueId;
use redb::TableDefinition;

/// Chunks of inline bodies: (id, index) → [`CHUNK_LEN`] octets.
pub(crate) const CHUNKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("chunks");

/// redb's page size: the default of redb's `Builder`, which the spool keeps.
const PAGE: usize = 4096;
/// Length of a chunk key: id (16) and index (4).
const KEY_LEN: usize = 20;
/// Octets of body in a chunk: a leaf holding one chunk fills one page exactly.
pub(crate) const CHUNK_LEN: usize = PAGE - 4 - 4 - 4 - KEY_LEN;

/// The key of chunk `index` of message `id`.
pub(crate) fn chunk_key(id: QueueId, index: u32) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    key[..16].copy_from_slice(&id.to_bytes());
    key[16..].copy_from_slice(&index.to_be_bytes());
    key
}

/// How many whole chunks a body of `len` octets stored inline is cut into (its rest stays in
/// the metadata row); `None` when there would be more than a `u32` counts.
pub(crate) fn chunks_for(len: usize) -> Option<u32> {
    u32::try_from(len / CHUNK_LEN).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_fills_one_page_and_keys_keep_a_message_in_order() {
        assert_eq!(CHUNK_LEN + KEY_LEN + 12, PAGE);
        let id = QueueId::new();
        assert!(chunk_key(id, 1) < chunk_key(id, 2));
        assert!(chunk_key(id, u32::MAX) < chunk_key(QueueId::new(), 0));
        assert_eq!(&chunk_key(id, 0x0102)[16..], &[0, 0, 1, 2]);
        assert_eq!(chunks_for(CHUNK_LEN - 1), Some(0));
        assert_eq!(chunks_for(2 * CHUNK_LEN + 5), Some(2));
    }
}
