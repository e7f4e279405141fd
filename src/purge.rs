//! The background purge: every `interval`, one bounded pass over dead rows
//! (`Store::purge`); while a pass reports a backlog (`PurgeReport::behind`: a
//! batch came back full), the next one follows after [`BEHIND_PAUSE`]: about
//! one batch per table every tenth of a second plus the pass's own time, in
//! batches that never hold the write lock for long. Revocation never depends
//! on it (validity is decided on use); it only keeps the tables small. Several processes may purge the same
//! database at once: every pass deletes only rows that are dead for good.

use std::time::Duration;

use grantor_store::{PurgePlan, Store};

use crate::Clock;

/// Batches of a changed stream's waiting messages (`Store::sweep_outbox`)
/// each pass moves.
const SWEEP_BATCHES: usize = 10;

/// The pause between passes while the purge is behind.
pub const BEHIND_PAUSE: Duration = Duration::from_millis(100);

/// How fast the purge goes (CLI flags `--purge-*`, `--log-retention-days`).
#[derive(Debug, Clone)]
pub struct PurgeConfig {
    /// Pause between passes; `None` turns the purge off.
    pub interval: Option<Duration>,
    /// Rows one pass looks at per table.
    pub batch_size: i64,
    /// Audit events are kept this many days.
    pub log_retention_days: i64,
}

impl Default for PurgeConfig {
    fn default() -> Self {
        Self {
            interval: Some(Duration::from_secs(10)),
            batch_size: 500,
            log_retention_days: 30,
        }
    }
}

/// Starts the purge loop; it runs until the returned task is aborted.
pub fn spawn(
    store: Store,
    clock: Clock,
    config: PurgeConfig,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) -> Option<tokio::task::JoinHandle<()>> {
    let interval = config.interval?;
    Some(tokio::spawn(async move {
        let mut families_after = String::new();
        let mut sessions_after = String::new();
        let mut swept_after = String::new();
        let mut pause = interval;
        loop {
            tokio::time::sleep(pause).await;
            pause = interval;
            let now = clock.now();
            let plan = PurgePlan {
                batch_size: config.batch_size,
                logs_before: now.plus_seconds(-config.log_retention_days * 24 * 60 * 60),
                families_after: std::mem::take(&mut families_after),
                sessions_after: std::mem::take(&mut sessions_after),
            };
            match store.purge(&plan, now).await {
                Ok(report) => {
                    if report.total() > 0 {
                        tracing::debug!(?report, "purge pass");
                    }
                    let behind = report.behind(config.batch_size);
                    metrics.purge_pass(&report, behind);
                    if behind {
                        pause = BEHIND_PAUSE.min(interval);
                    }
                    families_after = report.families_after;
                    sessions_after = report.sessions_after;
                }
                Err(e) => {
                    metrics.purge_failed();
                    tracing::warn!(error = %e, "purge pass failed; trying again later");
                }
            }
            // What stream changes left for the sweep goes on with delivery
            // off too (the delivery worker sweeps as well, more often).
            match store
                .sweep_outbox(None, &swept_after, SWEEP_BATCHES, now)
                .await
            {
                Ok((_, last)) => swept_after = last,
                Err(e) => {
                    tracing::warn!(error = %e, "purge: moving a changed stream's events failed; trying again later");
                }
            }
        }
    }))
}
