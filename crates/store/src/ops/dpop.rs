//! DPoP proof ids seen (`dpop_proofs`): replay detection shared by every
//! process on the database (RFC 9449 §11.1).

use grantor_domain::{Timestamp, TokenHash};

use super::Backend;
use crate::StoreResult;

impl Backend {
    /// Records a proof by its key (the hash of its key thumbprint and
    /// `jti`) until `expires_at`; false when it was already recorded, that
    /// is, the proof is a replay. One insert.
    pub async fn record_dpop_proof(
        &self,
        proof_key: &TokenHash,
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO dpop_proofs (proof_key, expires_at) VALUES ($1, $2) ON CONFLICT (proof_key) DO NOTHING",
        )
        .bind(proof_key.as_str())
        .bind(expires_at.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
