//! Rows of the `suspensions` table: destination name (UTF-8 key) → end and reason.
//!
//! Value: end flag (1: `0` none, `1` an end follows), end seconds since the epoch (u64
//! big-endian, 8) and nanoseconds (u32 big-endian, 4), both zero without an end, then the
//! reason as UTF-8 (the rest of the value, possibly empty).

use std::time::{Duration, UNIX_EPOCH};

use envoi_queue::Suspension;

/// Length of the fixed part of a value: flag (1), seconds (8), nanoseconds (4).
pub(crate) const FIXED_LEN: usize = 13;

/// The value of `suspension`'s row.
pub(crate) fn encode(suspension: &Suspension) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIXED_LEN + suspension.reason.len());
    let end = suspension
        .until
        .map(|until| until.duration_since(UNIX_EPOCH).unwrap_or_default());
    out.push(u8::from(end.is_some()));
    let end = end.unwrap_or_default();
    out.extend_from_slice(&end.as_secs().to_be_bytes());
    out.extend_from_slice(&end.subsec_nanos().to_be_bytes());
    out.extend_from_slice(suspension.reason.as_bytes());
    out
}

/// The suspension of `destination` from its row's value; the error says why it is not one.
pub(crate) fn decode(destination: &str, value: &[u8]) -> Result<Suspension, String> {
    let (fixed, reason) = value
        .split_first_chunk::<FIXED_LEN>()
        .ok_or_else(|| format!("suspension of {destination} truncated"))?;
    let (flag, rest) = fixed.split_at(1);
    let (secs, nanos) = rest.split_at(8);
    let secs = u64::from_be_bytes(secs.try_into().map_err(|_| "bad seconds".to_owned())?);
    let nanos = u32::from_be_bytes(nanos.try_into().map_err(|_| "bad nanoseconds".to_owned())?);
    let until = match flag {
        [0] => None,
        [1] => Some(
            UNIX_EPOCH
                .checked_add(Duration::new(secs, nanos))
                .ok_or_else(|| format!("suspension of {destination} ends out of range"))?,
        ),
        _ => return Err(format!("suspension of {destination}: bad end flag")),
    };
    let reason = String::from_utf8(reason.to_vec())
        .map_err(|_| format!("suspension of {destination}: reason is not UTF-8"))?;
    Ok(Suspension {
        destination: destination.to_owned(),
        until,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn rows_are_byte_exact_and_read_back() {
        let timed = Suspension {
            destination: "example.com".into(),
            until: Some(at(0x0102, 5)),
            reason: "maintenance".into(),
        };
        let bytes = encode(&timed);
        let mut expected = vec![1, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 5];
        expected.extend_from_slice(b"maintenance");
        assert_eq!(bytes, expected);
        assert_eq!(decode("example.com", &bytes).unwrap(), timed);
        let open = Suspension {
            destination: "*".into(),
            until: None,
            reason: String::new(),
        };
        assert_eq!(encode(&open), vec![0; FIXED_LEN]);
        assert_eq!(decode("*", &encode(&open)).unwrap(), open);
        assert!(decode("x", &[1, 0]).is_err());
        assert!(decode("x", &[2; FIXED_LEN]).is_err());
    }
}
