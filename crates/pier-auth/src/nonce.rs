//! Replay protection: remembers which (AccessKeyId, nonce) pairs were accepted recently.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use md5::{Digest, Md5};
use parking_lot::Mutex;
use time::OffsetDateTime;

/// Entries kept at most; beyond this the oldest are forgotten early, trading replay protection
/// for bounded memory (tens of MB) under a flood of validly signed requests.
pub(crate) const MAX_ENTRIES: usize = 1_000_000;

/// A fixed-size fingerprint of (key id, nonce): nonces are client-chosen and unbounded in
/// length, so storing a 128-bit digest instead keeps each entry small.
type Fingerprint = [u8; 16];

/// The set of recently accepted nonces, each remembered until its expiry.
pub(crate) struct NonceCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    /// Fingerprint → expiry of the remembered use.
    seen: HashMap<Fingerprint, OffsetDateTime>,
    /// Insertion order, for expiry and for evicting the oldest entries when full.
    order: VecDeque<(Fingerprint, OffsetDateTime)>,
}

impl NonceCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    /// Records that `key_id` used `nonce`, remembered until `expires`. Returns `false` (and
    /// records nothing) if the pair is already remembered, i.e. the request is a replay.
    pub(crate) fn check_and_record(
        &self,
        key_id: &str,
        nonce: &str,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> bool {
        let fingerprint = fingerprint(key_id, nonce);
        let mut inner = self.inner.lock();
        // Expiries only roughly follow insertion order (they derive from the clients' Date), so
        // an unexpired head can keep expired entries a little longer: safe, just not minimal.
        while inner
            .order
            .front()
            .is_some_and(|&(_, expiry)| expiry <= now)
        {
            inner.pop_oldest();
        }
        if inner
            .seen
            .get(&fingerprint)
            .is_some_and(|&expiry| expiry > now)
        {
            return false;
        }
        // `order` can hold stale duplicates of re-used fingerprints, so it is what bounds memory.
        while inner.order.len() >= self.capacity {
            inner.pop_oldest();
        }
        inner.seen.insert(fingerprint, expires);
        inner.order.push_back((fingerprint, expires));
        true
    }

    /// How many uses are currently remembered.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().seen.len()
    }
}

impl fmt::Debug for NonceCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceCache")
            .field("remembered", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Inner {
    /// Forgets the oldest entry.
    fn pop_oldest(&mut self) {
        if let Some((fingerprint, expiry)) = self.order.pop_front()
            // The map may hold a newer use of the same fingerprint; only drop this one.
            && self.seen.get(&fingerprint) == Some(&expiry)
        {
            self.seen.remove(&fingerprint);
        }
    }
}

fn fingerprint(key_id: &str, nonce: &str) -> Fingerprint {
    // Length-prefixing the key id keeps the concatenation unambiguous whatever the key ids
    // contain (an ACS `Credential=` or `AccessKeyId` may hold a ':').
    let mut hasher = Md5::new();
    hasher.update((key_id.len() as u64).to_le_bytes());
    hasher.update(key_id.as_bytes());
    hasher.update(nonce.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::SignedDuration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2019-02-25 10:09:57 UTC);

    fn mins(n: i64) -> SignedDuration {
        SignedDuration::minutes(n)
    }

    #[test]
    fn rejects_reuse_until_expiry() {
        let cache = NonceCache::new(10);
        let expires = T0 + mins(15);
        assert!(cache.check_and_record("ak", "n1", expires, T0));
        assert!(!cache.check_and_record("ak", "n1", expires, T0 + mins(14)));
        // Same nonce, different key: a different pair.
        assert!(cache.check_and_record("other", "n1", expires, T0));
        // After expiry the pair is forgotten and may be accepted again.
        assert!(cache.check_and_record("ak", "n1", T0 + mins(31), T0 + mins(16)));
        assert!(!cache.check_and_record("ak", "n1", T0 + mins(31), T0 + mins(17)));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn fingerprint_separates_key_and_nonce() {
        assert_ne!(fingerprint("a", "bc"), fingerprint("ab", "c"));
        assert_ne!(fingerprint("a:b", "c"), fingerprint("a", "b:c"));
    }

    #[test]
    fn capacity_bounds_memory_by_evicting_oldest() {
        let cache = NonceCache::new(3);
        let expires = T0 + mins(15);
        for nonce in ["a", "b", "c", "d"] {
            assert!(cache.check_and_record("ak", nonce, expires, T0));
        }
        assert_eq!(cache.len(), 3);
        // "a" was evicted to make room, so it is (wrongly but boundedly) accepted again...
        assert!(cache.check_and_record("ak", "a", expires, T0));
        // ...while the newest ones are still remembered.
        assert!(!cache.check_and_record("ak", "d", expires, T0));
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn evicting_a_stale_duplicate_keeps_the_newer_use() {
        let cache = NonceCache::new(4);
        assert!(cache.check_and_record("ak", "long", T0 + mins(30), T0));
        assert!(cache.check_and_record("ak", "n", T0 + mins(1), T0));
        // "n" expired, but its entry stays queued behind the longer-lived head.
        assert!(cache.check_and_record("ak", "n", T0 + mins(20), T0 + mins(2)));
        // Filling up evicts "long", leaving the stale first use of "n" at the head...
        assert!(cache.check_and_record("ak", "x", T0 + mins(20), T0 + mins(2)));
        assert!(cache.check_and_record("ak", "y", T0 + mins(20), T0 + mins(2)));
        // ...whose expiry must not forget the second use.
        assert!(!cache.check_and_record("ak", "n", T0 + mins(20), T0 + mins(3)));
    }
}
