//! DNSSEC-validated lookups with three outcomes (RFC 4033 §5): secure, provably insecure,
//! or bogus (which includes a lookup that failed: neither can be told apart from an attack).
//!
//! A lookup follows the answer's CNAME chain from the name asked and checks each link's
//! RRset (anything else in the answer is ignored); an empty answer needs a signed NSEC or
//! NSEC3 denial. Unsigned data is insecure only when the walk down from the trust anchor
//! finds a delegation proven to have no DS above it.

use std::future::Future;
use std::pin::Pin;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::chain::{rrset, Chain, Signed};
use super::denial;
use super::nsec3::{self, Proof};

/// CNAME links followed at most, in one answer and across re-asked targets.
const MAX_LINKS: usize = 8;

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

/// The records of type `kind` at `name` (after CNAMEs), validated.
pub(crate) fn lookup<'s>(
    chain: &'s mut Chain<'_>,
    name: &'s Name,
    kind: RecordType,
    depth: usize,
) -> Pin<Box<dyn Future<Output = Security<Vec<Record>>> + Send + 's>> {
    Box::pin(async move {
        let answer = match chain.ask(name, kind).await {
            Ok(answer) => answer,
            Err(e) => return Security::Bogus(format!("{name} {kind}: {e}")),
        };
        if answer.answers().is_empty() {
            return denial_of(chain, &answer, name, kind).await.map_into();
        }
        let section = answer.answers();
        let mut owner = name.clone();
        for _ in 0..MAX_LINKS.saturating_sub(depth) {
            let (records, sigs) = rrset(section, &owner, kind);
            if !records.is_empty() {
                return match check(chain, &owner, kind, &records, &sigs).await {
                    Security::Secure(()) => Security::Secure(records),
                    other => other.map_into(),
                };
            }
            let (links, sigs) = rrset(section, &owner, RecordType::CNAME);
            let Some(target) = links.first().and_then(cname_target) else {
                // The chain ends without the records: ask the last name on its own.
                let depth = depth.saturating_add(1);
                if owner == *name || depth >= MAX_LINKS {
                    return Security::Bogus(format!("{name} {kind}: unusable answer"));
                }
                return lookup(chain, &owner, kind, depth).await;
            };
            match check(chain, &owner, RecordType::CNAME, &links, &sigs).await {
                Security::Secure(()) => owner = target,
                other => return other.map_into(),
            }
        }
        Security::Bogus(format!("{name} {kind}: CNAME chain too long"))
    })
}

/// One RRset's signatures: valid, or unsigned in a provably unsigned zone.
async fn check(
    chain: &mut Chain<'_>,
    owner: &Name,
    kind: RecordType,
    records: &[Record],
    sigs: &[hickory_proto::rr::dnssec::rdata::RRSIG],
) -> Security<()> {
    match chain.verify(owner, kind, records, sigs).await {
        Signed::Valid => Security::Secure(()),
        Signed::Invalid(e) => Security::Bogus(e),
        Signed::Unsigned => match zone_security(chain, owner).await {
            Security::Secure(()) => {
                Security::Bogus(format!("unsigned {owner} {kind} in a signed zone"))
            }
            other => other,
        },
    }
}

/// The denial in an empty answer: `Secure` when proven, `Insecure` for an unsigned zone or an
/// opt-out span.
async fn denial_of(
    chain: &mut Chain<'_>,
    answer: &Message,
    name: &Name,
    kind: RecordType,
) -> Security<()> {
    let section = answer.name_servers();
    let mut signed = false;
    for denial_kind in [RecordType::NSEC, RecordType::NSEC3] {
        for owner in owners(section, denial_kind) {
            let (records, sigs) = rrset(section, &owner, denial_kind);
            match chain.verify(&owner, denial_kind, &records, &sigs).await {
                Signed::Valid => signed = true,
                Signed::Unsigned => {}
                Signed::Invalid(e) => return Security::Bogus(e),
            }
        }
    }
    if !signed {
        return match zone_security(chain, name).await {
            Security::Secure(()) => {
                Security::Bogus(format!("{name} {kind}: unsigned denial in a signed zone"))
            }
            other => other,
        };
    }
    let nxdomain = answer.response_code() == ResponseCode::NXDomain;
    let nsecs = denial::nsecs(section);
    let nsec_proof = if nxdomain {
        denial::proves_nxdomain(&nsecs, name)
    } else {
        denial::proves_nodata(&nsecs, name, kind)
    };
    if nsec_proof {
        return Security::Secure(());
    }
    let hashed = nsec3::Chain::of(section);
    if hashed.proves_nodata(name, kind) {
        return Security::Secure(());
    }
    match hashed.prove(name) {
        Proof::NxDomain if nxdomain => Security::Secure(()),
        // RFC 5155 §9.2: a name in an opt-out span may be in an unsigned delegation.
        Proof::OptOut => Security::Insecure,
        _ => Security::Bogus(format!("{name} {kind}: the denial proves nothing")),
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
        match delegation(chain, &cut).await {
            Step::Descend => {}
            Step::Stop(security) => return security,
        }
    }
    Security::Secure(())
}

/// One step of the walk.
enum Step {
    /// `cut` is inside the zone, or a secure delegation: on to the next label.
    Descend,
    /// The walk ends here.
    Stop(Security<()>),
}

/// What the DS question at `cut` says.
async fn delegation(chain: &mut Chain<'_>, cut: &Name) -> Step {
    let answer = match chain.ask(cut, RecordType::DS).await {
        Ok(answer) => answer,
        Err(e) => return Step::Stop(Security::Bogus(format!("{cut} DS: {e}"))),
    };
    let (records, sigs) = rrset(answer.answers(), cut, RecordType::DS);
    if records.is_empty() {
        return denial_of_ds(chain, &answer, cut)
            .await
            .unwrap_or_else(|e| Step::Stop(Security::Bogus(e)));
    }
    // A secure delegation: the DS must verify and the child's keys chain to it.
    match chain.verify(cut, RecordType::DS, &records, &sigs).await {
        Signed::Valid => {}
        Signed::Unsigned => {
            return Step::Stop(Security::Bogus(format!("unsigned DS for {cut}")));
        }
        Signed::Invalid(e) => return Step::Stop(Security::Bogus(e)),
    }
    match chain.zone_keys(cut.clone()).await {
        Ok(_) => Step::Descend,
        Err(e) => Step::Stop(Security::Bogus(e)),
    }
}

/// The denial of a DS at `cut`: a delegation without DS ends the walk as insecure, a name
/// inside the zone goes on, a name that does not exist ends it as secure (the lookup's own
/// denial then speaks).
///
/// # Errors
/// Why the denial is bogus.
async fn denial_of_ds(chain: &mut Chain<'_>, answer: &Message, cut: &Name) -> Result<Step, String> {
    let section = answer.name_servers();
    let mut signed = false;
    for kind in [RecordType::NSEC, RecordType::NSEC3] {
        for owner in owners(section, kind) {
            let (records, sigs) = rrset(section, &owner, kind);
            match chain.verify(&owner, kind, &records, &sigs).await {
                Signed::Valid => signed = true,
                Signed::Unsigned => {
                    return Err(format!("unsigned {owner} {kind} in a signed zone"))
                }
                Signed::Invalid(e) => return Err(e),
            }
        }
    }
    if !signed {
        return Err(format!("{cut} DS: unsigned denial in a signed zone"));
    }
    let nxdomain = answer.response_code() == ResponseCode::NXDomain;
    let nsecs = denial::nsecs(section);
    if nxdomain && denial::proves_nxdomain(&nsecs, cut) {
        return Ok(Step::Stop(Security::Secure(())));
    }
    if let Some(nsec) = denial::at(&nsecs, cut) {
        return Ok(step_at(nsec.type_bit_maps()));
    }
    if !nxdomain && denial::proves_nodata(&nsecs, cut, RecordType::DS) {
        return Ok(Step::Descend);
    }
    let hashed = nsec3::Chain::of(section);
    if let Some(nsec3) = hashed.matching(cut) {
        return Ok(step_at(nsec3.type_bit_maps()));
    }
    match hashed.prove(cut) {
        // RFC 5155 §8.6: no DS proven by an opt-out span is an insecure delegation.
        Proof::OptOut => Ok(Step::Stop(Security::Insecure)),
        Proof::NxDomain if nxdomain => Ok(Step::Stop(Security::Secure(()))),
        _ => Err(format!("{cut} DS: the denial proves nothing")),
    }
}

/// The types at an existing `cut` without DS: a delegation (NS, not an apex) is insecure,
/// anything else is inside the zone.
fn step_at(types: &[RecordType]) -> Step {
    if types.contains(&RecordType::DS) {
        return Step::Stop(Security::Bogus(
            "DS in the bitmap but not in the answer".into(),
        ));
    }
    if types.contains(&RecordType::NS) && !types.contains(&RecordType::SOA) {
        Step::Stop(Security::Insecure)
    } else {
        Step::Descend
    }
}

/// The distinct owners of `kind` records in a section.
fn owners(section: &[Record], kind: RecordType) -> Vec<Name> {
    let mut out: Vec<Name> = Vec::new();
    for record in section.iter().filter(|r| r.record_type() == kind) {
        if !out.contains(record.name()) {
            out.push(record.name().clone());
        }
    }
    out
}

fn cname_target(record: &Record) -> Option<Name> {
    match record.data() {
        Some(RData::CNAME(CNAME(target))) => Some(target.clone()),
        _ => None,
    }
}

impl Security<()> {
    /// The same verdict about records (`Secure` carrying none).
    fn map_into(self) -> Security<Vec<Record>> {
        match self {
            Self::Secure(()) => Security::Secure(Vec::new()),
            Self::Insecure => Security::Insecure,
            Self::Bogus(e) => Security::Bogus(e),
        }
    }
}
