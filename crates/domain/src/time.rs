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

    /// ISO 8601 in UTC with milliseconds and `Z` (`2024-05-01T13:00:30.038Z`),
    /// the form Auth0 writes dates in, in its API and in the `updated_at`
    /// claim; empty for an instant beyond the year ±9999.
    pub fn to_iso8601(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|dt| {
                dt.format(time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                ))
                .ok()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_has_milliseconds_and_z() {
        assert_eq!(
            Timestamp(1_714_568_430_038).to_iso8601(),
            "2024-05-01T13:00:30.038Z"
        );
        assert_eq!(Timestamp(0).to_iso8601(), "1970-01-01T00:00:00.000Z");
    }
}
