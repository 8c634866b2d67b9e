//! FNV-1a (64 bits) over an explicit encoding: the fingerprints and signatures the engine stores
//! beside its rows, equal in every backend and every build (unlike `std`'s hashers, whose output
//! may change between Rust releases). Pure.

/// An FNV-1a hash in progress, started with a domain string so that fingerprints of different
/// kinds never compare equal by accident.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new(domain: &[u8]) -> Fnv {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.bytes(domain);
        h
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// A string, length first, so that consecutive strings cannot run into each other.
    pub(crate) fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.bytes(s.as_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    pub(crate) fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}
