//! Instants as milliseconds since the Unix epoch: the one time type every layer shares.
//!
//! Both databases store it as a 64-bit integer, so SQLite and PostgreSQL compare
//! and order instants identically.

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub fn millis(self) -> i64 {
        self.0
    }
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds.saturating_mul(1000)))
    }
}
