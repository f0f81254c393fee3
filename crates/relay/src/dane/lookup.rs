//! DNSSEC-validated lookups with three outcomes (RFC 4033 §5): secure, provably insecure,
//! or bogus (which includes a lookup that failed: neither can be told apart from an attack).
//!
//! A lookup asks the question, checks every RRset of the answer (or of the denial); an
//! answer without signatures is insecure only when the walk down from the trust anchor
//! finds a delegation without DS (NSEC-proven) above the name.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};

use super::chain::{rrset, Chain, Signed};
use super::denial;

/// What a validated lookup established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security<T> {
    /// Signed and verified up to a trust anchor (an empty answer: securely denied).
    Secure(T),
    /// Provably unsigned: below an insecure delegation, or under no trust anchor.
    Insecure,
    /// Signatures that do not verify, a denial that proves nothing, or a failed lookup.
    Bogus(String),
}

/// The records of type `kind` at `name`, validated.
pub(crate) async fn lookup(
    chain: &mut Chain<'_>,
    name: &Name,
    kind: RecordType,
) -> Security<Vec<Record>> {
    let answer = match chain.ask(name, kind).await {
        Ok(answer) => answer,
        Err(e) => return Security::Bogus(format!("{name} {kind}: {e}")),
    };
    let nxdomain = answer.response_code() == ResponseCode::NXDomain;
    let section = if answer.answers().is_empty() {
        answer.name_servers()
    } else {
        answer.answers()
    };
    let mut unsigned: Option<Name> = None;
    for (owner, owner_kind) in rrsets(section) {
        let (records, sigs) = rrset(section, &owner, owner_kind);
        match chain.verify(&owner, owner_kind, &records, &sigs).await {
            Signed::Valid => {}
            Signed::Unsigned => unsigned = Some(owner.clone()),
            Signed::Invalid(e) => return Security::Bogus(e),
        }
    }
    if answer.answers().is_empty() && !has_sigs(section) {
        unsigned = Some(name.clone());
    }
    if let Some(owner) = unsigned {
        return match zone_security(chain, &owner).await {
            Security::Insecure => Security::Insecure,
            Security::Secure(()) => {
                Security::Bogus(format!("unsigned answer for {owner} in a signed zone"))
            }
            Security::Bogus(e) => Security::Bogus(e),
        };
    }
    if !answer.answers().is_empty() {
        let records = answer
            .answers()
            .iter()
            .filter(|r| r.record_type() == kind)
            .cloned()
            .collect();
        return Security::Secure(records);
    }
    let nsecs = denial::nsecs(section);
    let proven = if nxdomain {
        denial::proves_nxdomain(&nsecs, name)
    } else {
        denial::proves_nodata(&nsecs, name, kind)
    };
    if proven {
        Security::Secure(Vec::new())
    } else {
        Security::Bogus(format!(
            "{name} {kind}: the denial is not proven (NSEC3 is not supported)"
        ))
    }
}

/// Whether `name` lies in a signed zone: the walk from the closest trust anchor down, one
/// label at a time, following secure delegations (DS) until one is proven to have no DS.
pub(crate) async fn zone_security(chain: &mut Chain<'_>, name: &Name) -> Security<()> {
    let Some(anchor) = chain.anchors().closest(name).cloned() else {
        return Security::Insecure;
    };
    if let Err(e) = chain.zone_keys(anchor.clone()).await {
        return Security::Bogus(e);
    }
    let top = usize::from(anchor.num_labels());
    for labels in top.saturating_add(1)..=usize::from(name.num_labels()) {
        let cut = name.trim_to(labels);
        let answer = match chain.ask(&cut, RecordType::DS).await {
            Ok(answer) => answer,
            Err(e) => return Security::Bogus(format!("{cut} DS: {e}")),
        };
        let (records, sigs) = rrset(answer.answers(), &cut, RecordType::DS);
        if !records.is_empty() {
            // A secure delegation: its keys must validate, and the walk goes on below it.
            if let Signed::Invalid(e) = chain
                .verify(&cut, RecordType::DS, &records, &sigs)
                .await
                .with_reason(&cut)
            {
                return Security::Bogus(e);
            }
            if let Err(e) = chain.zone_keys(cut.clone()).await {
                return Security::Bogus(e);
            }
            continue;
        }
        let section = answer.name_servers();
        for (owner, kind) in rrsets(section) {
            let (records, sigs) = rrset(section, &owner, kind);
            if let Signed::Invalid(e) = chain
                .verify(&owner, kind, &records, &sigs)
                .await
                .with_reason(&owner)
            {
                return Security::Bogus(e);
            }
        }
        let nsecs = denial::nsecs(section);
        if answer.response_code() == ResponseCode::NXDomain {
            return if denial::proves_nxdomain(&nsecs, &cut) {
                // Nothing exists below: the lookup's own denial is signed by this zone.
                Security::Secure(())
            } else {
                Security::Bogus(format!("{cut}: NXDOMAIN not proven"))
            };
        }
        match denial::at(&nsecs, &cut) {
            Some(nsec)
                if nsec.type_bit_maps().contains(&RecordType::NS)
                    && !nsec.type_bit_maps().contains(&RecordType::DS) =>
            {
                return Security::Insecure;
            }
            Some(_) => {}
            None if denial::proves_nodata(&nsecs, &cut, RecordType::DS) => {}
            None => {
                return Security::Bogus(format!("{cut} DS: no NSEC proof (NSEC3 is not supported)"))
            }
        }
    }
    Security::Secure(())
}

/// `Unsigned` carries no reason; give it one naming the RRset.
trait WithReason {
    fn with_reason(self, owner: &Name) -> Signed;
}

impl WithReason for Signed {
    fn with_reason(self, owner: &Name) -> Signed {
        match self {
            Signed::Unsigned => {
                Signed::Invalid(format!("unsigned records at {owner} in a signed zone"))
            }
            other => other,
        }
    }
}

/// The distinct (owner, type) pairs of a section, signatures and the OPT record left out.
fn rrsets(section: &[Record]) -> Vec<(Name, RecordType)> {
    let mut out: Vec<(Name, RecordType)> = Vec::new();
    for record in section {
        let kind = record.record_type();
        if kind == RecordType::RRSIG || kind == RecordType::OPT {
            continue;
        }
        let key = (record.name().clone(), kind);
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

fn has_sigs(section: &[Record]) -> bool {
    section.iter().any(|r| r.record_type() == RecordType::RRSIG)
}
