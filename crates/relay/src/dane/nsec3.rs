//! Authenticated denial with NSEC3 (RFC 5155 §8): the hashed owner names of a zone's NSEC3
//! chain prove that a name has no records of a type, or does not exist (closest encloser
//! proof), and an opt-out span that an unsigned delegation may exist.
//!
//! The records passed in must already be validated. More than [`MAX_ITERATIONS`] hash iterations make the
//! zone read as insecure (RFC 9276 §3.2).

use hickory_proto::rr::dnssec::rdata::{DNSSECRData, NSEC3};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Hash iterations beyond which a zone's denials are not computed (RFC 9276 §3.2 lets a
/// validator treat them as insecure).
pub(crate) const MAX_ITERATIONS: u16 = 150;

/// What an NSEC3 chain proves about a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// The name exists; the bitmap of its NSEC3 says which types.
    Exists,
    /// The name does not exist (closest encloser proven, next closer name and the wildcard at
    /// the closest encloser covered).
    NxDomain,
    /// The next closer name falls in an opt-out span: an unsigned delegation may be there.
    OptOut,
    /// Nothing proven (or too many iterations to compute).
    Nothing,
}

/// The NSEC3 records of one answer, with their decoded owner hashes.
pub(crate) struct Chain {
    records: Vec<(Vec<u8>, Name, NSEC3)>,
}

impl Chain {
    /// The NSEC3 records of `section`.
    pub(crate) fn of(section: &[Record]) -> Self {
        let records = section
            .iter()
            .filter_map(|r| match r.data() {
                Some(RData::DNSSEC(DNSSECRData::NSEC3(nsec3))) => {
                    let label = r.name().iter().next()?;
                    Some((base32hex(label)?, r.name().base_name(), nsec3.clone()))
                }
                _ => None,
            })
            .collect();
        Self { records }
    }

    /// The hash of `name` under the parameters of `nsec3`, when computable.
    fn hash(name: &Name, nsec3: &NSEC3) -> Option<Vec<u8>> {
        if nsec3.iterations() > MAX_ITERATIONS {
            return None;
        }
        nsec3
            .hash_algorithm()
            .hash(nsec3.salt(), name, nsec3.iterations())
            .ok()
            .map(|d| d.as_ref().to_vec())
    }

    /// The NSEC3 whose owner is the hash of `name`.
    pub(crate) fn matching(&self, name: &Name) -> Option<&NSEC3> {
        self.records.iter().find_map(|(owner, zone, nsec3)| {
            (zone.zone_of(name) && Self::hash(name, nsec3).as_deref() == Some(owner))
                .then_some(nsec3)
        })
    }

    /// The NSEC3 whose span (owner hash, next hash) holds the hash of `name`.
    fn covering(&self, name: &Name) -> Option<&NSEC3> {
        self.records.iter().find_map(|(owner, zone, nsec3)| {
            if !zone.zone_of(name) {
                return None;
            }
            let hash = Self::hash(name, nsec3)?;
            let next = nsec3.next_hashed_owner_name();
            let inside = if owner.as_slice() < next {
                owner.as_slice() < hash.as_slice() && hash.as_slice() < next
            } else {
                // The last NSEC3 of the chain wraps around to the first.
                owner.as_slice() < hash.as_slice() || hash.as_slice() < next
            };
            inside.then_some(nsec3)
        })
    }

    /// True when an NSEC3 span holds the hash of `name`: it does not exist.
    pub(crate) fn covers(&self, name: &Name) -> bool {
        self.covering(name).is_some()
    }

    /// What the chain proves about `name`.
    pub(crate) fn prove(&self, name: &Name) -> Proof {
        if self
            .records
            .iter()
            .any(|(_, _, n)| n.iterations() > MAX_ITERATIONS)
        {
            return Proof::Nothing;
        }
        if self.matching(name).is_some() {
            return Proof::Exists;
        }
        // Closest encloser: the longest existing ancestor; the next closer name (one label
        // longer, towards `name`) must be covered.
        let labels = usize::from(name.num_labels());
        for closer in (1..labels).rev() {
            let encloser = name.trim_to(closer);
            if self.matching(&encloser).is_none() {
                continue;
            }
            let wildcard = Name::from_ascii("*").and_then(|w| w.append_name(&encloser));
            let no_wildcard = wildcard.is_ok_and(|w| self.covers(&w));
            return match self.covering(&name.trim_to(closer.saturating_add(1))) {
                Some(span) if span.opt_out() => Proof::OptOut,
                Some(_) if no_wildcard => Proof::NxDomain,
                _ => Proof::Nothing,
            };
        }
        Proof::Nothing
    }

    /// True when `name` provably has no `kind` records (nor a CNAME).
    pub(crate) fn proves_nodata(&self, name: &Name, kind: RecordType) -> bool {
        self.matching(name).is_some_and(|n| {
            let types = n.type_bit_maps();
            !types.contains(&kind) && !types.contains(&RecordType::CNAME)
        })
    }
}

/// Decodes an NSEC3 owner label (base32 with the extended hex alphabet, RFC 4648 §7).
fn base32hex(label: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(label.len() * 5 / 8);
    let mut bits: u32 = 0;
    let mut count = 0u32;
    for c in label {
        let value = match c.to_ascii_lowercase() {
            d @ b'0'..=b'9' => d - b'0',
            l @ b'a'..=b'v' => l - b'a' + 10,
            _ => return None,
        };
        bits = (bits << 5) | u32::from(value);
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from((bits >> count) & 0xff).ok()?);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hickory_proto::rr::dnssec::Nsec3HashAlgorithm;

    fn encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuv";
        let mut out = String::new();
        let (mut bits, mut count) = (0u32, 0u32);
        for b in bytes {
            bits = (bits << 8) | u32::from(*b);
            count += 8;
            while count >= 5 {
                count -= 5;
                out.push(char::from(ALPHABET[((bits >> count) & 31) as usize]));
            }
        }
        if count > 0 {
            out.push(char::from(ALPHABET[((bits << (5 - count)) & 31) as usize]));
        }
        out
    }

    /// The NSEC3 chain of zone `z.test.` holding the apex and `a.z.test.`.
    fn zone(opt_out: bool) -> Chain {
        let names = [
            ("z.test.", vec![RecordType::SOA, RecordType::NS]),
            ("a.z.test.", vec![RecordType::A]),
        ];
        let mut hashed: Vec<(Vec<u8>, Vec<RecordType>)> = names
            .iter()
            .map(|(n, types)| {
                let name = Name::from_ascii(n).unwrap();
                let hash = Nsec3HashAlgorithm::SHA1.hash(b"\x01", &name, 2).unwrap();
                (hash.as_ref().to_vec(), types.clone())
            })
            .collect();
        hashed.sort();
        let records: Vec<Record> = (0..hashed.len())
            .map(|i| {
                let (hash, types) = &hashed[i];
                let next = hashed[(i + 1) % hashed.len()].0.clone();
                let nsec3 = NSEC3::new(
                    Nsec3HashAlgorithm::SHA1,
                    opt_out,
                    2,
                    vec![1],
                    next,
                    types.clone(),
                );
                let owner = Name::from_ascii(format!("{}.z.test.", encode(hash))).unwrap();
                Record::from_rdata(owner, 300, RData::DNSSEC(DNSSECRData::NSEC3(nsec3)))
            })
            .collect();
        Chain::of(&records)
    }

    #[test]
    fn proves_existence_absence_and_opt_out() {
        let name = |n: &str| Name::from_ascii(n).unwrap();
        let plain = zone(false);
        assert_eq!(plain.prove(&name("a.z.test.")), Proof::Exists);
        assert!(plain.proves_nodata(&name("a.z.test."), RecordType::TLSA));
        assert!(!plain.proves_nodata(&name("a.z.test."), RecordType::A));
        assert_eq!(plain.prove(&name("_25._tcp.a.z.test.")), Proof::NxDomain);
        assert_eq!(plain.prove(&name("child.z.test.")), Proof::NxDomain);
        assert_eq!(zone(true).prove(&name("child.z.test.")), Proof::OptOut);
        // Another zone's names are not proven by this chain.
        assert_eq!(plain.prove(&name("x.other.test.")), Proof::Nothing);
    }

    #[test]
    fn decodes_base32hex() {
        // RFC 4648 §10 test vectors, extended hex alphabet.
        assert_eq!(base32hex(b"cpnmu"), Some(b"foo".to_vec()));
        assert_eq!(base32hex(b"CPNMUOG"), Some(b"foob".to_vec()));
        assert_eq!(base32hex(b"cpnmuoj1e8"), Some(b"foobar".to_vec()));
        assert_eq!(base32hex(b"w"), None);
    }
}
