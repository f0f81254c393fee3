//! Authenticated denial with NSEC (RFC 4035 §5.4): the name has no records of the type
//! (NODATA), or does not exist (NXDOMAIN).
//!
//! NSEC3 is `nsec3`'s. The NSEC records passed in must already be validated.

use hickory_proto::rr::dnssec::rdata::{DNSSECRData, NSEC};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The NSEC records of `section`, with their owners.
pub(crate) fn nsecs(section: &[Record]) -> Vec<(Name, NSEC)> {
    section
        .iter()
        .filter_map(|r| match r.data() {
            Some(RData::DNSSEC(DNSSECRData::NSEC(nsec))) => Some((r.name().clone(), nsec.clone())),
            _ => None,
        })
        .collect()
}

/// The NSEC at exactly `name`, if any.
pub(crate) fn at<'n>(nsecs: &'n [(Name, NSEC)], name: &Name) -> Option<&'n NSEC> {
    nsecs
        .iter()
        .find(|(owner, _)| owner == name)
        .map(|(_, n)| n)
}

/// True when the NSECs prove that `name` exists without records of `kind` (nor a CNAME):
/// an NSEC at the name, or — for an empty non-terminal — one covering it whose next name is
/// below it.
pub(crate) fn proves_nodata(nsecs: &[(Name, NSEC)], name: &Name, kind: RecordType) -> bool {
    if let Some(nsec) = at(nsecs, name) {
        let types = nsec.type_bit_maps();
        return !types.contains(&kind) && !types.contains(&RecordType::CNAME);
    }
    nsecs.iter().any(|(owner, nsec)| {
        owner < name && name < nsec.next_domain_name() && name.zone_of(nsec.next_domain_name())
    })
}

/// True when the NSECs prove that `name` does not exist: one covers it, and one covers the
/// wildcard at its closest encloser (RFC 4035 §5.4), so no wildcard could have answered.
pub(crate) fn proves_nxdomain(nsecs: &[(Name, NSEC)], name: &Name) -> bool {
    let Some((owner, nsec)) = nsecs.iter().find(|(o, n)| covers(o, n, name)) else {
        return false;
    };
    let near_owner = common_ancestor(name, owner);
    let near_next = common_ancestor(name, nsec.next_domain_name());
    let encloser = if near_owner.num_labels() >= near_next.num_labels() {
        near_owner
    } else {
        near_next
    };
    let Ok(wildcard) = Name::from_ascii("*").and_then(|w| w.append_name(&encloser)) else {
        return false;
    };
    nsecs.iter().any(|(o, n)| covers(o, n, &wildcard))
}

/// True when an NSEC covers `name`: it does not exist (a wildcard may still have answered).
pub(crate) fn covered(nsecs: &[(Name, NSEC)], name: &Name) -> bool {
    nsecs.iter().any(|(owner, nsec)| covers(owner, nsec, name))
}

/// The NSEC's owner sorts before `name` and its next name after (or the chain wraps to the
/// apex). An NSEC at a delegation proves nothing below it: those names are the child zone's.
fn covers(owner: &Name, nsec: &NSEC, name: &Name) -> bool {
    let next = nsec.next_domain_name();
    let inside = if owner < next {
        owner < name && name < next
    } else {
        owner < name && next.zone_of(name)
    };
    let types = nsec.type_bit_maps();
    let below_cut =
        owner.zone_of(name) && types.contains(&RecordType::NS) && !types.contains(&RecordType::SOA);
    inside && !below_cut
}

/// The longest name that is an ancestor of (or equal to) both.
fn common_ancestor(a: &Name, b: &Name) -> Name {
    let most = a.num_labels().min(b.num_labels());
    (0..=usize::from(most))
        .rev()
        .map(|labels| a.trim_to(labels))
        .find(|candidate| candidate.zone_of(b))
        .unwrap_or_else(Name::root)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn nsec(owner: &str, next: &str, types: &[RecordType]) -> (Name, NSEC) {
        (name(owner), NSEC::new(name(next), types.to_vec()))
    }

    #[test]
    fn nodata_and_nxdomain() {
        let chain = [
            nsec("z.test.", "a.z.test.", &[RecordType::SOA, RecordType::NS]),
            nsec("a.z.test.", "m.z.test.", &[RecordType::A]),
            nsec("x.y.z.test.", "z.test.", &[RecordType::A]),
        ];
        assert!(proves_nodata(&chain, &name("a.z.test."), RecordType::TLSA));
        assert!(!proves_nodata(&chain, &name("a.z.test."), RecordType::A));
        assert!(proves_nxdomain(&chain, &name("b.z.test.")));
        assert!(proves_nxdomain(&chain, &name("zz.z.test.")));
        assert!(!proves_nxdomain(&chain, &name("a.z.test.")));
        // y.z.test. is an empty non-terminal: x.y.z.test. follows it.
        let ent = [nsec("m.z.test.", "x.y.z.test.", &[RecordType::A])];
        assert!(proves_nodata(&ent, &name("y.z.test."), RecordType::TLSA));
        // Below a delegation the parent's NSEC proves nothing.
        let cut = [nsec("c.z.test.", "d.z.test.", &[RecordType::NS])];
        assert!(!proves_nxdomain(&cut, &name("x.c.z.test.")));
        // Without the NSEC that covers the wildcard, a covered name is not proven absent.
        let no_wildcard = [nsec("a.z.test.", "m.z.test.", &[RecordType::A])];
        assert!(covered(&no_wildcard, &name("b.z.test.")));
        assert!(!proves_nxdomain(&no_wildcard, &name("b.z.test.")));
    }
}
