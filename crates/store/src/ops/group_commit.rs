//! Group commit for a single-writer engine (SQLite): concurrent write
//! transactions of this process share one database transaction, and so one
//! durable commit (one WAL `fsync` under `synchronous=FULL`).
//!
//! Each write runs inside its own `SAVEPOINT` on the one writer connection,
//! so it stays atomic on its own: an error or an early return rolls back only
//! its savepoint. A write that finished releases its savepoint, queues for
//! the batch's commit and waits; it is answered only after `COMMIT` returned,
//! so nothing is reported that is not on disk, and a failed `COMMIT` fails
//! every write of the batch. A committer task takes the writer connection
//! after the writes already queued for it (the lock is FIFO), so one commit
//! covers every write that arrived while the previous one was flushing.

use std::sync::{Arc, Weak};

use tokio::sync::{oneshot, Mutex, Notify, OwnedMutexGuard};

use super::{Conn, Db};

/// The writer connection and the state of its open batch.
pub(crate) struct WriterConn {
    /// `None` once the store is closed.
    conn: Option<Conn>,
    /// `BEGIN IMMEDIATE` ran and no `COMMIT` yet.
    open: bool,
    /// A write was dropped inside its savepoint; roll it back first.
    dirty: bool,
    /// The writes in the open batch, answered after its commit.
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
}

pub(crate) struct GroupCommit {
    conn: Arc<Mutex<WriterConn>>,
    committer: Arc<Notify>,
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        // Lets the committer task see that its writer is gone and end.
        self.committer.notify_one();
    }
}

impl GroupCommit {
    /// Takes `conn` as the writer connection and starts its committer task.
    #[allow(dead_code)] // PostgreSQL's mount of `ops` never starts one.
    pub(crate) fn start(conn: Conn) -> Arc<Self> {
        let writer = Arc::new(Self {
            conn: Arc::new(Mutex::new(WriterConn {
                conn: Some(conn),
                open: false,
                dirty: false,
                waiters: Vec::new(),
            })),
            committer: Arc::new(Notify::new()),
        });
        let weak: Weak<Self> = Arc::downgrade(&writer);
        let notify = writer.committer.clone();
        tokio::spawn(async move {
            loop {
                notify.notified().await;
                let Some(writer) = weak.upgrade() else { return };
                let mut conn = writer.conn.clone().lock_owned().await;
                drop(writer);
                conn.finish_batch().await;
            }
        });
        writer
    }

    /// Starts one write: the writer connection, inside a fresh savepoint of
    /// the open batch (opening the batch if none is).
    ///
    /// Opening runs in its own task, so a caller dropped meanwhile cannot
    /// leave the connection in a state this module does not know: the task
    /// finishes, and a write nobody took is rolled back like any dropped one.
    pub(crate) async fn begin(self: &Arc<Self>) -> Result<BatchedTx, sqlx::Error> {
        let writer = self.clone();
        tokio::spawn(async move { writer.open_write().await })
            .await
            .map_err(|e| sqlx::Error::Protocol(format!("opening a write: {e}")))?
    }

    async fn open_write(self: Arc<Self>) -> Result<BatchedTx, sqlx::Error> {
        let mut conn = self.conn.clone().lock_owned().await;
        if conn.conn.is_none() {
            return Err(sqlx::Error::PoolClosed);
        }
        conn.clean().await;
        if !conn.open {
            execute(conn.sql(), "BEGIN IMMEDIATE").await?;
            conn.open = true;
        }
        if let Err(e) = execute(conn.sql(), "SAVEPOINT w").await {
            drop(conn);
            self.committer.notify_one();
            return Err(e);
        }
        Ok(BatchedTx {
            conn: Some(conn),
            writer: self,
        })
    }

    /// Commits whatever batch is open and closes the writer connection
    /// (with the pool, on `Store::close`); later writes fail.
    pub(crate) async fn close(&self) {
        let mut conn = self.conn.lock().await;
        conn.finish_batch().await;
        if let Some(c) = conn.conn.take() {
            let _ = sqlx::Connection::close(c).await;
        }
    }
}

async fn execute(conn: &mut Conn, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::query::<Db>(sql).execute(conn).await.map(|_| ())
}

impl WriterConn {
    /// The connection of a live writer (checked by `open_write`; nothing
    /// runs on a closed one).
    fn sql(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("the writer connection is open")
    }

    /// Rolls back a savepoint a dropped write left open. If that fails the
    /// engine has already rolled the whole transaction back (SQLite does on
    /// some errors), so the batch is lost and its writes are failed.
    async fn clean(&mut self) {
        if !self.dirty || self.conn.is_none() {
            return;
        }
        self.dirty = false;
        let rolled_back = execute(self.sql(), "ROLLBACK TO w").await.is_ok()
            && execute(self.sql(), "RELEASE w").await.is_ok();
        if !rolled_back && self.open {
            let _ = execute(self.sql(), "ROLLBACK").await;
            self.open = false;
            self.answer(Err("the write batch was rolled back".to_owned()));
        }
    }

    /// Commits the open batch and answers its writes.
    async fn finish_batch(&mut self) {
        self.clean().await;
        if !self.open || self.conn.is_none() {
            return;
        }
        let result = execute(self.sql(), "COMMIT")
            .await
            .map_err(|e| e.to_string());
        if result.is_err() {
            // Whatever state the failed COMMIT left, start the next batch clean.
            let _ = execute(self.sql(), "ROLLBACK").await;
        }
        self.open = false;
        self.answer(result);
    }

    fn answer(&mut self, result: Result<(), String>) {
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(result.clone());
        }
    }
}

/// One write of a batch. `commit` waits for the batch's durable commit;
/// dropping it (an error, an early return) rolls back its savepoint only.
pub(crate) struct BatchedTx {
    conn: Option<OwnedMutexGuard<WriterConn>>,
    writer: Arc<GroupCommit>,
}

impl BatchedTx {
    pub(crate) fn conn(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("live write").sql()
    }

    pub(crate) fn conn_ref(&self) -> &Conn {
        let writer = self.conn.as_ref().expect("live write");
        writer.conn.as_ref().expect("the writer connection is open")
    }

    /// Releases the savepoint and waits for the batch's durable commit. The
    /// release runs in its own task, so a caller dropped meanwhile leaves the
    /// write either released into the batch or rolled back, never half-way.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        let conn = self.conn.take().expect("live write");
        let writer = self.writer.clone();
        let queued = tokio::spawn(async move {
            let mut conn = conn;
            if let Err(e) = execute(conn.sql(), "RELEASE w").await {
                conn.dirty = true;
                drop(conn);
                writer.committer.notify_one();
                return Err(e);
            }
            let (sender, receiver) = oneshot::channel();
            conn.waiters.push(sender);
            drop(conn);
            writer.committer.notify_one();
            Ok(receiver)
        })
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("committing a write: {e}")))??;
        match queued.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(sqlx::Error::Protocol(format!(
                "group commit failed: {message}"
            ))),
            Err(_) => Err(sqlx::Error::Protocol("group commit abandoned".to_owned())),
        }
    }

    /// Rolls back this write's savepoint (done by whoever takes the writer
    /// connection next, before anything else).
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        drop(self);
        Ok(())
    }
}

impl Drop for BatchedTx {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.dirty = true;
            drop(conn);
            self.writer.committer.notify_one();
        }
    }
}
