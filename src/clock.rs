//! The source of `now`. Flows take a `Timestamp`; only the edges ask the clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use grantor_domain::Timestamp;

/// Wall-clock time, or a manual clock that tests set and advance.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<AtomicI64>),
}

impl Clock {
    pub fn manual(start: Timestamp) -> Self {
        Clock::Manual(Arc::new(AtomicI64::new(start.0)))
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => {
                let since_epoch = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Timestamp(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
            }
            Clock::Manual(ms) => Timestamp(ms.load(Ordering::SeqCst)),
        }
    }

    /// Moves a manual clock forward; does nothing to the system clock.
    pub fn advance_seconds(&self, seconds: i64) {
        if let Clock::Manual(ms) = self {
            ms.fetch_add(seconds * 1000, Ordering::SeqCst);
        }
    }
}
