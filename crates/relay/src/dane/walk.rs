//! Whether a name lies in a signed zone (RFC 4035 §5.2): the walk down from the closest
//! trust anchor, one label at a time, asking for the DS at each; a delegation proven to have
//! none (NSEC, NSEC3, or an NSEC3 opt-out span) makes everything below it insecure.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use super::chain::{rrset, Chain, Signed};
use super::denial;
use super::lookup::{owners, Security};
use super::nsec3::{self, Proof};

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
