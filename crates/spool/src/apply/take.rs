//! Taking a message's rows out in one B-tree walk each, for a removal or a delivery.

// redb's error is large; it only ever ends a whole commit (a rare, slow path), so it is passed
// as is rather than boxed at every `?`.
#![allow(clippy::result_large_err)]

use envoi_types::QueueId;

use super::Tables;
use crate::packs;
use crate::schema::{id_key, Location, MetaRecord};

/// What [`take`] removed.
// Returned once per op and matched at once, never stored: boxing the record would only add
// an allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum Taken {
    Missing,
    /// The record, and where its body is packed.
    Record(MetaRecord, Option<Location>),
    /// The raw rows (to put back if the op is refused) and why they do not decode.
    Undecodable(RawRows, String),
}

/// A message's rows as stored: its metadata row, and its state row when it has one.
pub(super) struct RawRows {
    meta: Vec<u8>,
    state: Option<Vec<u8>>,
}

impl RawRows {
    /// Stores the rows again under `id`.
    pub(super) fn put_back(self, t: &mut Tables<'_>, id: QueueId) -> Result<(), redb::Error> {
        let key = id_key(id);
        t.meta.insert(key.as_slice(), self.meta.as_slice())?;
        if let Some(state) = self.state {
            t.state.insert(key.as_slice(), state.as_slice())?;
        }
        Ok(())
    }
}

/// Removes the metadata and state rows of `id` and decodes them, in one B-tree walk each.
pub(super) fn take(t: &mut Tables<'_>, id: QueueId) -> Result<Taken, redb::Error> {
    let key = id_key(id);
    let Some(row) = t.meta.remove(key.as_slice())? else {
        return Ok(Taken::Missing);
    };
    let state = t.state.remove(key.as_slice())?;
    let state = state.as_ref().map(|s| s.value());
    let row = row.value();
    Ok(match MetaRecord::decode_rows(row, state) {
        Ok((record, _)) => {
            let at = packs::location_in(&record, row);
            Taken::Record(record, at)
        }
        Err(detail) => {
            let rows = RawRows {
                meta: row.to_vec(),
                state: state.map(<[u8]>::to_vec),
            };
            Taken::Undecodable(rows, detail)
        }
    })
}
