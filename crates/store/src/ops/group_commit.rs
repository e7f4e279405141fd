//! Group commit for a single-writer engine (SQLite): concurrent write
//! transactions of this process share one database transaction, and so one
//! durable commit (one WAL `fsync` under `synchronous=FULL`).
//!
//! Each write runs inside its own `SAVEPOINT` on the one writer connection,
//! so it stays atomic on its own: an error or an early return rolls back only
//! its savepoint. A write that finished queues for the batch's commit and
//! waits; it is answered only after `COMMIT` returned, so nothing is reported
//! that is not on disk, and a failed `COMMIT` fails every write of the batch.
//! A committer task takes the writer connection after the writes already
//! queued for it (the lock is FIFO), so one commit covers every write that
//! arrived while the previous one was flushing.
//!
//! Every statement costs a trip to the connection's own thread (sqlx runs
//! each SQLite connection on one), so the bookkeeping rides along with the
//! next statement that has to run anyway: a finished write's `RELEASE` (or
//! an abandoned one's `ROLLBACK TO`) is sent with the next write's
//! `SAVEPOINT`, or with the batch's `COMMIT`. A write then costs one trip
//! of its own plus its statements.

use std::sync::{Arc, Weak};

use tokio::sync::{oneshot, Mutex, Notify, OwnedMutexGuard};

use super::{Conn, Db};

/// The writer connection and the state of its open batch.
pub(crate) struct WriterConn {
    /// `None` once the store is closed.
    conn: Option<Conn>,
    /// `BEGIN IMMEDIATE` ran and no `COMMIT` yet.
    open: bool,
    /// The savepoint the last write left behind, settled by the next trip.
    savepoint: Savepoint,
    /// The writes in the open batch, answered after its commit.
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
}

/// Where the savepoint `w` stands between trips to the connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Savepoint {
    /// None is open.
    Settled,
    /// A write is running inside it.
    InUse,
    /// Its write finished: to be released into the batch.
    Finished,
    /// Its write was dropped or failed: to be rolled back.
    Abandoned,
}

impl Savepoint {
    /// The statements that settle it, to send ahead of the next ones.
    fn settle_sql(self) -> &'static str {
        match self {
            Savepoint::Settled => "",
            Savepoint::Finished => "RELEASE w; ",
            // `InUse` is never seen here (it lasts only while its write holds
            // the connection); were it, rolling back is the safe answer.
            Savepoint::Abandoned | Savepoint::InUse => "ROLLBACK TO w; RELEASE w; ",
        }
    }
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
                savepoint: Savepoint::Settled,
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
        // One trip: settle the previous write's savepoint, open the batch if
        // needed, and open this write's savepoint.
        let sql = format!(
            "{}{}SAVEPOINT w",
            conn.savepoint.settle_sql(),
            if conn.open { "" } else { "BEGIN IMMEDIATE; " }
        );
        // sqlx stops a multi-statement call at the first statement that
        // fails: no `SAVEPOINT` runs after a failed settle.
        if let Err(e) = execute(conn.sql(), &sql).await {
            if !conn.open {
                // `BEGIN IMMEDIATE` itself failed (another process held the
                // write lock past the busy timeout): nothing to abort.
                return Err(e);
            }
            // Settling failed (the engine had already rolled the batch back,
            // as SQLite does on some errors): the batch is lost. Fail its
            // writes, then try this one afresh.
            conn.abort_batch(&e).await;
            execute(conn.sql(), "BEGIN IMMEDIATE; SAVEPOINT w").await?;
        }
        conn.open = true;
        conn.savepoint = Savepoint::InUse;
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

/// Runs `sql`, one or more statements without parameters, in one trip,
/// stopping at the first that fails. Prepared once per connection (a few
/// distinct texts).
async fn execute(conn: &mut Conn, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::query::<Db>(sql).execute(conn).await.map(|_| ())
}

impl WriterConn {
    /// The connection of a live writer (checked by `open_write`; nothing
    /// runs on a closed one).
    fn sql(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("the writer connection is open")
    }

    /// Commits the open batch, with the last write's savepoint settled in
    /// the same trip, and answers its writes.
    async fn finish_batch(&mut self) {
        if self.conn.is_none() {
            return;
        }
        if !self.open {
            self.savepoint = Savepoint::Settled;
            return;
        }
        let sql = format!("{}COMMIT", self.savepoint.settle_sql());
        match execute(self.sql(), &sql).await {
            Ok(()) => {
                self.open = false;
                self.savepoint = Savepoint::Settled;
                self.answer(Ok(()));
            }
            Err(e) => self.abort_batch(&e).await,
        }
    }

    /// Rolls the open batch back (whatever state a failed statement left)
    /// and fails its writes.
    async fn abort_batch(&mut self, cause: &sqlx::Error) {
        let _ = execute(self.sql(), "ROLLBACK").await;
        self.open = false;
        self.savepoint = Savepoint::Settled;
        self.answer(Err(format!("the write batch was rolled back: {cause}")));
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

    /// Hands the write to the batch and waits for the batch's durable
    /// commit. Its savepoint is released by the next trip to the connection
    /// (the next write's, or the commit itself); until then it stays open,
    /// so a batch that fails takes this write with it and answers it so.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        let mut conn = self.conn.take().expect("live write");
        conn.savepoint = Savepoint::Finished;
        let (sender, receiver) = oneshot::channel();
        conn.waiters.push(sender);
        drop(conn);
        self.writer.committer.notify_one();
        match receiver.await {
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
            conn.savepoint = Savepoint::Abandoned;
            drop(conn);
            self.writer.committer.notify_one();
        }
    }
}
