//! The route table: recipient domain → ordered next hops, checked before the fallback.
//!
//! # Layout
//! - [`RouteTable`]: the table and its lookup.
//! - [`Fallback`]: what a domain without a route gets (MX or fixed hosts such as a smarthost).
//! - [`Route`]: the result of a lookup; its [`Route::key`] groups recipients by next hop.

use std::collections::HashMap;

use crate::hop::NextHop;

/// Where domains without a route of their own go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// Look up the domain's MX records.
    Mx,
    /// Fixed next hops, tried in order (a smarthost, or LMTP targets).
    Hosts(Vec<NextHop>),
}

/// Domain → ordered next hops, with a fallback.
///
/// Lookup tries the exact domain (lower case), then each parent written as `.parent`
/// (so `.example.org` matches `a.example.org` but not `example.org`), then the fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    by_domain: HashMap<String, Vec<NextHop>>,
    fallback: Fallback,
}

/// The next hops chosen for one recipient domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Resolve the domain's MX.
    Mx {
        /// The recipient domain, lower case.
        domain: String,
    },
    /// These hosts, in order.
    Hosts {
        /// The table key that matched (`*` for the fallback): recipients sharing it share the
        /// next hops.
        key: String,
        /// The hosts, in order.
        hops: Vec<NextHop>,
    },
}

impl Route {
    /// A key equal for recipients that go to the same next hops.
    pub fn key(&self) -> String {
        match self {
            Self::Mx { domain } => format!("mx:{domain}"),
            Self::Hosts { key, .. } => format!("route:{key}"),
        }
    }

    /// True when the keys are equal, without building them (asked per recipient of every
    /// delivery).
    pub fn same_next_hops(&self, other: &Route) -> bool {
        match (self, other) {
            (Self::Mx { domain: a }, Self::Mx { domain: b }) => a == b,
            (Self::Hosts { key: a, .. }, Self::Hosts { key: b, .. }) => a == b,
            _ => false,
        }
    }
}

impl RouteTable {
    /// No routes; everything by MX.
    pub fn mx() -> Self {
        Self {
            by_domain: HashMap::new(),
            fallback: Fallback::Mx,
        }
    }

    /// No routes; everything to these hosts in order.
    pub fn fixed(hops: Vec<NextHop>) -> Self {
        Self {
            by_domain: HashMap::new(),
            fallback: Fallback::Hosts(hops),
        }
    }

    /// Adds (or replaces) the route for `domain` (`example.org`, or `.example.org` for its
    /// subdomains).
    pub fn add(&mut self, domain: &str, hops: Vec<NextHop>) -> &mut Self {
        self.by_domain.insert(domain.to_lowercase(), hops);
        self
    }

    /// The same table with a route added.
    pub fn with(mut self, domain: &str, hops: Vec<NextHop>) -> Self {
        self.add(domain, hops);
        self
    }

    /// The fallback.
    pub fn fallback(&self) -> &Fallback {
        &self.fallback
    }

    /// The next hops for a recipient domain.
    pub fn lookup(&self, domain: &str) -> Route {
        let domain = domain.to_lowercase();
        if let Some(hops) = self.by_domain.get(&domain) {
            return Route::Hosts {
                key: domain.clone(),
                hops: hops.clone(),
            };
        }
        let mut rest = domain.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            let key = format!(".{parent}");
            if let Some(hops) = self.by_domain.get(&key) {
                return Route::Hosts {
                    key,
                    hops: hops.clone(),
                };
            }
            rest = parent;
        }
        match &self.fallback {
            Fallback::Mx => Route::Mx { domain },
            Fallback::Hosts(hops) => Route::Hosts {
                key: "*".to_owned(),
                hops: hops.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_parent_then_fallback() {
        let table = RouteTable::mx()
            .with("Example.org", vec![NextHop::smtp("a", 25)])
            .with(".corp.net", vec![NextHop::smtp("b", 25)]);
        assert!(
            matches!(table.lookup("example.ORG"), Route::Hosts { ref key, .. } if key == "example.org")
        );
        assert!(
            matches!(table.lookup("x.y.corp.net"), Route::Hosts { ref key, .. } if key == ".corp.net")
        );
        assert_eq!(
            table.lookup("corp.net"),
            Route::Mx {
                domain: "corp.net".into()
            }
        );
        let fixed = RouteTable::fixed(vec![NextHop::smtp("smart", 587)]);
        assert_eq!(fixed.lookup("any.org").key(), "route:*");
        assert!(fixed
            .lookup("any.org")
            .same_next_hops(&fixed.lookup("other.net")));
        let mx = RouteTable::mx();
        assert!(mx.lookup("a.org").same_next_hops(&mx.lookup("a.org")));
        assert!(!mx.lookup("a.org").same_next_hops(&mx.lookup("b.org")));
        assert!(!mx.lookup("a.org").same_next_hops(&fixed.lookup("a.org")));
    }
}
