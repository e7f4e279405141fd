//! Brute-force and guessing counters (`attempt_counters`).
//!
//! An attempt is *reserved* before the password or user code is checked: one
//! conditional upsert per counter adds one and returns the new count, or
//! returns nothing when the counter is already full in its window. Because the
//! check and the increment are one statement (PostgreSQL locks the row for
//! `ON CONFLICT DO UPDATE` and re-evaluates its `WHERE`; SQLite has one
//! writer), N parallel guesses take N places in the counter, exactly as N
//! sequential ones would. A failed check leaves its reservation as the
//! failure; a successful one gives it back (`release_attempts`).

use grantor_domain::Timestamp;

use super::Backend;
use crate::{AttemptCounter, AttemptReservation, LogEvent, StoreResult};

const RESERVE: &str = "INSERT INTO attempt_counters (counter_key, kind, identifier_hash, ip, window_start, attempts) \
     VALUES ($1, $2, $3, $4, $5, 1) \
     ON CONFLICT (counter_key) DO UPDATE SET \
     attempts = CASE WHEN attempt_counters.window_start > $6 THEN attempt_counters.attempts + 1 ELSE 1 END, \
     window_start = CASE WHEN attempt_counters.window_start > $6 THEN attempt_counters.window_start ELSE $5 END \
     WHERE attempt_counters.window_start <= $6 OR attempt_counters.attempts < $7 \
     RETURNING attempts";

impl Backend {
    pub async fn reserve_attempts(
        &self,
        counters: &[AttemptCounter],
        now: Timestamp,
    ) -> StoreResult<AttemptReservation> {
        let mut tx = self.begin_write().await?;
        for (index, counter) in counters.iter().enumerate() {
            let window_floor = now.plus_seconds(-counter.window_seconds).0;
            let key = counter.key();
            let taken: Option<i64> = sqlx::query_scalar(RESERVE)
                .bind(&key)
                .bind(counter.kind)
                .bind(&counter.identifier_hash)
                .bind(&counter.ip)
                .bind(now.0)
                .bind(window_floor)
                .bind(counter.limit)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_none() {
                let window_start: i64 = sqlx::query_scalar(
                    "SELECT window_start FROM attempt_counters WHERE counter_key = $1",
                )
                .bind(&key)
                .fetch_one(&mut *tx)
                .await?;
                // Dropping the transaction rolls back the counters taken so far.
                drop(tx);
                let ends_in_ms = window_start + counter.window_seconds * 1000 - now.0;
                return Ok(AttemptReservation::Refused {
                    counter: index,
                    retry_after_seconds: (ends_in_ms + 999).div_euclid(1000).max(1),
                });
            }
        }
        tx.commit().await?;
        Ok(AttemptReservation::Reserved)
    }

    pub async fn release_attempts(
        &self,
        release: &[AttemptCounter],
        reset: &[AttemptCounter],
    ) -> StoreResult<()> {
        if release.is_empty() && reset.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for counter in release {
            sqlx::query(
                "UPDATE attempt_counters SET attempts = attempts - 1 WHERE counter_key = $1 AND attempts > 0",
            )
            .bind(counter.key())
            .execute(&mut *tx)
            .await?;
        }
        for counter in reset {
            sqlx::query("DELETE FROM attempt_counters WHERE counter_key = $1")
                .bind(counter.key())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn attempt_count(
        &self,
        counter: &AttemptCounter,
        now: Timestamp,
    ) -> StoreResult<i64> {
        let window_floor = now.plus_seconds(-counter.window_seconds).0;
        let attempts: Option<i64> = sqlx::query_scalar(
            "SELECT attempts FROM attempt_counters WHERE counter_key = $1 AND window_start > $2",
        )
        .bind(counter.key())
        .bind(window_floor)
        .fetch_optional(&self.pool)
        .await?;
        Ok(attempts.unwrap_or(0))
    }

    pub async fn blocked_ips(
        &self,
        kind: &str,
        identifier_hash: &str,
        limit: i64,
        window_seconds: i64,
        now: Timestamp,
    ) -> StoreResult<Vec<String>> {
        let window_floor = now.plus_seconds(-window_seconds).0;
        let ips: Vec<String> = sqlx::query_scalar(
            "SELECT ip FROM attempt_counters WHERE kind = $1 AND identifier_hash = $2 AND attempts >= $3 AND window_start > $4 ORDER BY ip",
        )
        .bind(kind)
        .bind(identifier_hash)
        .bind(limit)
        .bind(window_floor)
        .fetch_all(&self.pool)
        .await?;
        Ok(ips)
    }

    pub async fn clear_attempts(
        &self,
        kind: &str,
        identifier_hash: &str,
        event: Option<&LogEvent>,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let deleted =
            sqlx::query("DELETE FROM attempt_counters WHERE kind = $1 AND identifier_hash = $2")
                .bind(kind)
                .bind(identifier_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if let Some(event) = event {
            super::logs::insert_event_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}
