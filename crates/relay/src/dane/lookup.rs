//! DNSSEC-validated lookups with three outcomes (RFC 4033 §5): secure, provably insecure,
//! or bogus (which includes a lookup that failed: neither can be told apart from an attack).
//!
//! A lookup follows the answer's CNAME chain from the name asked and checks each link's
//! RRset (anything else in the answer is ignored); an empty answer needs a signed NSEC or
//! NSEC3 denial. Unsigned data is insecure only when the walk down from the trust anchor
//! (`walk`) finds a delegation proven to have no DS above it.

use std::future::Future;
use std::pin::Pin;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::dnssec::rdata::RRSIG;
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::chain::{rrset, Chain, Signed};
use super::denial;
use super::nsec3::{self, Proof};
use super::walk::zone_security;

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
                return match check(chain, &owner, kind, &records, &sigs, answer.name_servers())
                    .await
                {
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
            match check(
                chain,
                &owner,
                RecordType::CNAME,
                &links,
                &sigs,
                answer.name_servers(),
            )
            .await
            {
                Security::Secure(()) => owner = target,
                other => return other.map_into(),
            }
        }
        Security::Bogus(format!("{name} {kind}: CNAME chain too long"))
    })
}

/// One RRset's signatures: valid, or unsigned in a provably unsigned zone. An RRset
/// synthesised from a wildcard also needs the answer's `authority` to prove that no closer
/// name exists (RFC 4035 §5.3.4, RFC 5155 §8.8).
async fn check(
    chain: &mut Chain<'_>,
    owner: &Name,
    kind: RecordType,
    records: &[Record],
    sigs: &[RRSIG],
    authority: &[Record],
) -> Security<()> {
    match chain.verify(owner, kind, records, sigs).await {
        Signed::Valid => {}
        Signed::Invalid(e) => return Security::Bogus(e),
        Signed::Unsigned => {
            return match zone_security(chain, owner).await {
                Security::Secure(()) => {
                    Security::Bogus(format!("unsigned {owner} {kind} in a signed zone"))
                }
                other => other,
            };
        }
    }
    // Any signature that says "wildcard" asks for the proof: the one that verified might be it.
    let labels = sigs
        .iter()
        .filter(|s| s.type_covered() == kind)
        .map(|s| s.num_labels())
        .min()
        .unwrap_or(0);
    if labels >= owner.num_labels() {
        return Security::Secure(());
    }
    if wildcard_proven(chain, authority, owner, labels).await {
        Security::Secure(())
    } else {
        Security::Bogus(format!(
            "{owner} {kind}: wildcard answer without proof that {owner} does not exist"
        ))
    }
}

/// True when validated NSEC or NSEC3 records in `authority` prove that no name closer than
/// the wildcard's (`labels` long) matches `owner`.
async fn wildcard_proven(
    chain: &mut Chain<'_>,
    authority: &[Record],
    owner: &Name,
    labels: u8,
) -> bool {
    for kind in [RecordType::NSEC, RecordType::NSEC3] {
        for denier in owners(authority, kind) {
            let (records, sigs) = rrset(authority, &denier, kind);
            if chain.verify(&denier, kind, &records, &sigs).await != Signed::Valid {
                return false;
            }
        }
    }
    let next_closer = owner.trim_to(usize::from(labels).saturating_add(1));
    denial::covered(&denial::nsecs(authority), owner)
        || nsec3::Chain::of(authority).covers(&next_closer)
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

/// The distinct owners of `kind` records in a section.
pub(super) fn owners(section: &[Record], kind: RecordType) -> Vec<Name> {
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
