//! The chain of trust: an RRset's signatures checked against its zone's DNSKEYs, those keys
//! against the parent's DS (itself checked the same way) up to a configured trust anchor
//! (RFC 4035 §5).
//!
//! Validated key sets are remembered for the life of one [`Chain`] (one host's lookups);
//! the number of questions it asks is bounded.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use hickory_proto::op::Message;
use hickory_proto::rr::dnssec::rdata::{DNSSECRData, DNSKEY, DS, RRSIG};
use hickory_proto::rr::dnssec::Verifier;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::anchors::TrustAnchors;
use super::query::Client;

/// Questions one chain may ask at most: enough for a few delegations per lookup.
const QUESTION_BUDGET: u32 = 64;

/// What the signatures of one RRset say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Signed {
    /// A signature verifies with a key chained to an anchor.
    Valid,
    /// No signature at all: secure only if the zone proves to be unsigned.
    Unsigned,
    /// Signatures present, none verifies (or the keys do not chain up).
    Invalid(String),
}

/// One host's validation state.
pub(crate) struct Chain<'a> {
    client: &'a Client,
    anchors: &'a TrustAnchors,
    keys: HashMap<Name, Result<Vec<DNSKEY>, String>>,
    questions: u32,
    now: u32,
}

type Boxed<'s, T> = Pin<Box<dyn Future<Output = T> + Send + 's>>;

impl<'a> Chain<'a> {
    /// A chain over this client and these anchors, checking signature times against `now`
    /// (seconds since the epoch, modulo 2^32 as RRSIG times are).
    pub(crate) fn new(client: &'a Client, anchors: &'a TrustAnchors, now: u32) -> Self {
        Self {
            client,
            anchors,
            keys: HashMap::new(),
            questions: 0,
            now,
        }
    }

    /// The anchors this chain trusts.
    pub(crate) fn anchors(&self) -> &TrustAnchors {
        self.anchors
    }

    /// Asks one question, within the budget.
    pub(crate) async fn ask(&mut self, name: &Name, kind: RecordType) -> Result<Message, String> {
        self.questions = self.questions.saturating_add(1);
        if self.questions > QUESTION_BUDGET {
            return Err("too many DNS questions for one validation".into());
        }
        self.client.ask(name, kind).await
    }

    /// Checks the signatures over `records` (one RRset: owner `name`, type `kind`).
    pub(crate) fn verify<'s>(
        &'s mut self,
        name: &'s Name,
        kind: RecordType,
        records: &'s [Record],
        sigs: &'s [RRSIG],
    ) -> Boxed<'s, Signed> {
        Box::pin(async move {
            let mut why = "no RRSIG".to_owned();
            let mut any = false;
            for sig in sigs.iter().filter(|s| s.type_covered() == kind) {
                any = true;
                let signer = sig.signer_name();
                // A DS is its parent's record: the child signing it would chain to itself.
                let own_ds = kind == RecordType::DS && signer == name;
                if !signer.zone_of(name) || own_ds || sig.num_labels() > name.num_labels() {
                    why = format!("RRSIG signer {signer} does not cover {name} {kind}");
                    continue;
                }
                if !self.current(sig) {
                    why = format!("RRSIG over {name} {kind} is outside its validity period");
                    continue;
                }
                let keys = match self.zone_keys(signer.clone()).await {
                    Ok(keys) => keys,
                    Err(e) => {
                        why = e;
                        continue;
                    }
                };
                if keys.iter().any(|k| signs(k, name, sig, records)) {
                    return Signed::Valid;
                }
                why = format!("no DNSKEY of {signer} verifies the RRSIG over {name} {kind}");
            }
            if any {
                Signed::Invalid(why)
            } else {
                Signed::Unsigned
            }
        })
    }

    /// Inception ≤ now ≤ expiration in serial number arithmetic (RFC 4034 §3.1.5).
    fn current(&self, sig: &RRSIG) -> bool {
        let since = self.now.wrapping_sub(sig.sig_inception());
        let until = sig.sig_expiration().wrapping_sub(self.now);
        since < 1 << 31 && until < 1 << 31
    }

    /// The validated DNSKEY set of `zone`.
    pub(crate) fn zone_keys(&mut self, zone: Name) -> Boxed<'_, Result<Vec<DNSKEY>, String>> {
        Box::pin(async move {
            if let Some(known) = self.keys.get(&zone) {
                return known.clone();
            }
            let keys = self.fetch_keys(&zone).await;
            self.keys.insert(zone, keys.clone());
            keys
        })
    }

    async fn fetch_keys(&mut self, zone: &Name) -> Result<Vec<DNSKEY>, String> {
        let answer = self.ask(zone, RecordType::DNSKEY).await?;
        let (records, sigs) = rrset(answer.answers(), zone, RecordType::DNSKEY);
        let keys: Vec<DNSKEY> = records.iter().filter_map(dnskey).collect();
        if keys.is_empty() {
            return Err(format!("no DNSKEY at {zone}"));
        }
        let trusted: Vec<&DNSKEY> = if self.anchors.has_zone(zone) {
            keys.iter()
                .filter(|k| self.anchors.trusts(zone, k))
                .collect()
        } else {
            let digests = self.delegation(zone).await?;
            keys.iter()
                .filter(|k| {
                    digests.iter().any(|ds| {
                        ds.algorithm() == k.algorithm() && ds.covers(zone, k).unwrap_or(false)
                    })
                })
                .collect()
        };
        let self_signed = sigs
            .iter()
            .filter(|s| s.type_covered() == RecordType::DNSKEY && self.current(s))
            .any(|sig| trusted.iter().any(|k| signs(k, zone, sig, &records)));
        if self_signed {
            Ok(keys)
        } else {
            Err(format!(
                "the DNSKEY set of {zone} is not signed by a trusted key"
            ))
        }
    }

    /// The validated DS set of `zone`, from its parent.
    async fn delegation(&mut self, zone: &Name) -> Result<Vec<DS>, String> {
        if zone.is_root() {
            return Err("no trust anchor for the root".into());
        }
        let answer = self.ask(zone, RecordType::DS).await?;
        let (records, sigs) = rrset(answer.answers(), zone, RecordType::DS);
        let digests: Vec<DS> = records.iter().filter_map(ds).collect();
        if digests.is_empty() {
            return Err(format!("no DS for {zone}"));
        }
        match self.verify(zone, RecordType::DS, &records, &sigs).await {
            Signed::Valid => Ok(digests),
            Signed::Unsigned => Err(format!("unsigned DS for {zone}")),
            Signed::Invalid(e) => Err(e),
        }
    }
}

/// True when `key` (a zone key, not revoked) made `sig` over `records`.
fn signs(key: &DNSKEY, name: &Name, sig: &RRSIG, records: &[Record]) -> bool {
    key.zone_key()
        && !key.revoke()
        && key.algorithm() == sig.algorithm()
        && key.calculate_key_tag().ok() == Some(sig.key_tag())
        && key.verify_rrsig(name, DNSClass::IN, sig, records).is_ok()
}

/// The records of `name`/`kind` in `section`, and the RRSIGs over them.
pub(crate) fn rrset(
    section: &[Record],
    name: &Name,
    kind: RecordType,
) -> (Vec<Record>, Vec<RRSIG>) {
    let records = section
        .iter()
        .filter(|r| r.record_type() == kind && r.name() == name)
        .cloned()
        .collect();
    let sigs = section
        .iter()
        .filter(|r| r.name() == name)
        .filter_map(|r| match r.data() {
            Some(RData::DNSSEC(DNSSECRData::RRSIG(sig))) if sig.type_covered() == kind => {
                Some(sig.clone())
            }
            _ => None,
        })
        .collect();
    (records, sigs)
}

fn dnskey(record: &Record) -> Option<DNSKEY> {
    match record.data() {
        Some(RData::DNSSEC(DNSSECRData::DNSKEY(key))) => Some(key.clone()),
        _ => None,
    }
}

fn ds(record: &Record) -> Option<DS> {
    match record.data() {
        Some(RData::DNSSEC(DNSSECRData::DS(ds))) => Some(ds.clone()),
        _ => None,
    }
}
