//! Group commit: the writes of concurrent token requests are committed together, one transaction
//! per batch, each request inside its own savepoint. A request waits for exactly one commit, and
//! its reply is sent only after that commit returned, so what it was promised is durable.
//!
//! SQLite gets one writer thread (the only writer on the hot path, so no request ever sleeps in
//! SQLite's busy handler); PostgreSQL gets a few, each draining the shared queue into its own
//! batches on its own connection, so several WAL flushes overlap. A request whose writes the
//! database refuses (a replay key taken, a refresh token spent) or that fails is rolled back to its
//! savepoint alone; the rest of its batch commits.

use crate::blocking::OnBlockingThread;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tokio::sync::oneshot;

use super::authorization_codes::purge_old_authorization_codes;
use super::schema::{replay_keys as cache, token_families as families, tokens};
use super::sessions::purge_ended_sessions;
use super::sign_in_attempts::{
    count_attempt, purge_ended_windows, settle_attempt, AttemptSettlement, AttemptVerdict,
    SignInAttempt,
};
use super::transaction::{begin, finish, roll_back};
use super::writes::{
    apply_writes, apply_writes_together, only_new_rows, ApplyError, ExpiredKeys, WriteOp,
};
use super::{Backend, DbConnection, Store, StoreError};

/// Most requests one transaction carries; a larger backlog is split over several commits.
const MAX_BATCH: usize = 256;

/// How often the SQLite checkpointer copies the write-ahead log into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// Checkpoint rounds (a minute) the log may stay partly uncopied before the checkpointer says so.
const LOG_BEHIND_ROUNDS: u32 = 240;

enum Work {
    Request(Vec<WriteOp>),
    /// Deletes up to `limit` expired rows of each table (tokens, replay keys, sign-in counters,
    /// sessions, authorization codes).
    Purge {
        now: i64,
        limit: i64,
    },
    /// Counts a sign-in attempt (SQLite only: see `count_sign_in_attempt`).
    CountSignInAttempt(SignInAttempt),
    SettleSignInAttempt(AttemptSettlement),
}

/// What a job did.
#[derive(Debug, Clone)]
enum Done {
    Applied,
    Purged(usize),
    Counted(AttemptVerdict),
}

struct Job {
    work: Work,
    reply: Reply,
}

/// Where a job's outcome goes once its batch committed (or failed).
enum Reply {
    /// To a caller waiting for it.
    Waiting(oneshot::Sender<Result<Done, ApplyError>>),
    /// Into a function run on the writer's thread (`commit_then`).
    Then(Box<dyn FnOnce(Result<Done, ApplyError>) + Send>),
}

impl Reply {
    fn send(self, outcome: Result<Done, ApplyError>) {
        match self {
            Reply::Waiting(waiting) => {
                // A caller gone (past its deadline) leaves a commit nobody reads.
                let _ = waiting.send(outcome);
            }
            Reply::Then(then) => then(outcome),
        }
    }
}

/// Counters for operators and benchmarks: how well requests share commits.
#[derive(Debug, Default)]
pub struct CommitStats {
    pub batches: AtomicU64,
    pub jobs: AtomicU64,
    /// Time the writers spent running transactions, in microseconds (against wall time, how busy
    /// the write path is).
    pub busy_us: AtomicU64,
    /// CPU time the writer threads spent running transactions, in microseconds (the rest of
    /// `busy_us` is waiting: for the disk, or for PostgreSQL).
    pub cpu_us: AtomicU64,
    /// The writer threads, by kernel thread id: what they wrote is in `/proc`.
    writer_threads: Mutex<Vec<libc::pid_t>>,
}

/// Bytes of one WAL frame: its 24-byte header and a page of SQLite's default 4 KiB, which the
/// store never changes.
const WAL_FRAME_BYTES: u64 = 24 + 4096;

impl CommitStats {
    /// Bytes the writer threads handed to `write(2)` since they started (`wchar` of each thread
    /// in `/proc/self/task`); `None` where `/proc` cannot tell.
    fn written_bytes(&self) -> Option<u64> {
        let threads = self
            .writer_threads
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if threads.is_empty() {
            return None;
        }
        // A writer thread that is gone (the process stopping) no longer counts.
        let written = threads.iter().filter_map(|tid| {
            let io = std::fs::read_to_string(format!("/proc/self/task/{tid}/io")).ok()?;
            io.lines()
                .find_map(|line| line.strip_prefix("wchar:"))?
                .trim()
                .parse::<u64>()
                .ok()
        });
        Some(written.sum())
    }
}

/// The queue in front of the writer threads. Dropping it stops them once the queue is drained, and
/// waits for that (up to `STOP_WAIT`).
pub struct GroupCommitter {
    queue: Sender<Job>,
    /// Disconnected once every writer thread (and the checkpointer) has ended, its connections
    /// closed.
    writers_ended: Mutex<Receiver<()>>,
    stats: Arc<CommitStats>,
    /// For what runs beside the writers rather than through them (PostgreSQL's sign-in counts).
    store: Store,
    /// The checkpointer runs until this is dropped.
    stop_checkpointer: Option<Sender<()>>,
    /// For tests, which run checkpoint rounds of their own.
    #[cfg(test)]
    gate: WriterGate,
}

/// How long dropping the group commit waits for its writers to finish the queue and end.
const STOP_WAIT: Duration = Duration::from_secs(5);

impl Drop for GroupCommitter {
    /// The writers end with their connections closed before the process does: a PostgreSQL
    /// connection closed by a writer thread while `exit` runs OpenSSL's clean-up (libpq speaks
    /// TLS through it) freed the same memory twice, and a command-line run (`grantor user add`)
    /// died with "double free or corruption" in CI.
    fn drop(&mut self) {
        self.stop_checkpointer = None;
        let (closed, _) = std::sync::mpsc::channel();
        drop(std::mem::replace(&mut self.queue, closed));
        let ended = self
            .writers_ended
            .get_mut()
            .unwrap_or_else(|e| e.into_inner());
        // Nothing is ever sent: the channel disconnects when the last thread drops its end.
        if let Err(RecvTimeoutError::Timeout) = ended.recv_timeout(STOP_WAIT) {
            tracing::warn!(
                waited_ms = STOP_WAIT.as_millis() as u64,
                "the group commit's writers did not end in time; stopping without them"
            );
        }
    }
}

/// Held by the SQLite writer around each transaction, and by the checkpointer for the moment it
/// catches up with the writer (`checkpoint_round`).
type WriterGate = Arc<Mutex<()>>;

impl GroupCommitter {
    /// Starts the writers: one for SQLite, `postgres_writers` for PostgreSQL.
    pub fn start(store: &Store, postgres_writers: usize) -> Result<GroupCommitter, StoreError> {
        let writers = match store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => postgres_writers.max(1),
        };
        let (queue, receiver) = std::sync::mpsc::channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let stats = Arc::new(CommitStats::default());
        let gate = WriterGate::default();
        let (ended, writers_ended) = std::sync::mpsc::channel();
        for n in 0..writers {
            let (store, receiver, stats, gate, ended) = (
                store.clone(),
                receiver.clone(),
                stats.clone(),
                gate.clone(),
                ended.clone(),
            );
            std::thread::Builder::new()
                .name(format!("grantor-writer-{n}"))
                .spawn(move || {
                    run_writer(&store, &receiver, &stats, &gate);
                    // Its store last (it may hold the last handle on the connection pool), then
                    // the sign that it ended.
                    drop(store);
                    drop(ended);
                })
                .map_err(|e| StoreError::Config(format!("cannot start a writer thread: {e}")))?;
        }
        let mut stop_checkpointer = None;
        if store.backend() == Backend::Sqlite {
            let (stop, stopped) = std::sync::mpsc::channel();
            stop_checkpointer = Some(stop);
            let (store, gate) = (store.clone(), gate.clone());
            std::thread::Builder::new()
                .name("grantor-checkpoint".into())
                .spawn(move || {
                    run_checkpointer(&store, &stopped, &gate);
                    drop(store);
                    drop(ended);
                })
                .map_err(|e| StoreError::Config(format!("cannot start the checkpointer: {e}")))?;
        }
        Ok(GroupCommitter {
            queue,
            writers_ended: Mutex::new(writers_ended),
            stats,
            store: store.clone(),
            stop_checkpointer,
            #[cfg(test)]
            gate,
        })
    }

    /// Commits one request's writes together with other requests' and returns once they are
    /// durable (or refused, or failed: then none of them landed).
    pub async fn commit(&self, ops: Vec<WriteOp>) -> Result<(), ApplyError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.submit(Work::Request(ops)).await.map(|_| ())
    }

    /// `commit` without waiting: `then` gets the outcome on the writer's thread, where it must
    /// only hand it on (send it to whoever waits for it). The token work pool submits a request's
    /// writes so, and its caller wakes once, for the commit, rather than once for the pool's
    /// answer and again for the commit's.
    pub fn commit_then(
        &self,
        ops: Vec<WriteOp>,
        then: impl FnOnce(Result<(), ApplyError>) + Send + 'static,
    ) {
        if ops.is_empty() {
            return then(Ok(()));
        }
        let reply = Reply::Then(Box::new(move |outcome| then(outcome.map(|_| ()))));
        if let Err(std::sync::mpsc::SendError(job)) = self.queue.send(Job {
            work: Work::Request(ops),
            reply,
        }) {
            job.reply.send(Err(stopped()));
        }
    }

    /// Deletes up to `limit` expired tokens, replay keys, sign-in counters, ended or expired
    /// sessions and long-expired authorization codes (each) in one short write; returns how many
    /// rows went.
    pub async fn purge_expired(&self, now: i64, limit: i64) -> Result<usize, ApplyError> {
        match self.submit(Work::Purge { now, limit }).await? {
            Done::Purged(rows) => Ok(rows),
            _ => Ok(0),
        }
    }

    /// `commit` for synchronous callers: a blocking-pool thread (the refresh grant revoking a
    /// family) or a test. Never call it on an async runtime thread.
    pub fn commit_blocking(
        &self,
        _on: OnBlockingThread,
        ops: Vec<WriteOp>,
    ) -> Result<(), ApplyError> {
        self.submit_blocking(Work::Request(ops)).map(|_| ())
    }

    /// Counts a sign-in attempt before its password is checked (`sign_in_attempts.rs`), for a
    /// blocking-pool thread.
    ///
    /// Where it runs is chosen per backend. On SQLite it is a job of the writer, inside the
    /// batch's transaction: the writer is the only one on the token path that takes SQLite's write
    /// lock, so an attempt never sleeps in SQLite's busy handler behind it, and the count is
    /// durable with the batch. On PostgreSQL it runs beside the writers, in a short transaction of
    /// its own: the writers' batches are long transactions holding the locks of many rows in no
    /// common order, so a hot counter (one address guessing many users) taken inside them would
    /// make batches wait for each other, even deadlock; alone, an attempt holds at most three rows,
    /// taken in one order, for one round trip each.
    pub fn count_sign_in_attempt(
        &self,
        _on: OnBlockingThread,
        attempt: SignInAttempt,
    ) -> Result<AttemptVerdict, StoreError> {
        if self.store.backend() == Backend::Postgres {
            return self.store.count_sign_in_attempt_alone(&attempt);
        }
        match self.submit_blocking(Work::CountSignInAttempt(attempt)) {
            Ok(Done::Counted(verdict)) => Ok(verdict),
            Ok(_) => Err(StoreError::Commit("the writer answered another job".into())),
            Err(e) => Err(into_store_error(e)),
        }
    }

    /// Gives back or clears an admitted attempt's counts, where `count_sign_in_attempt` counted
    /// them.
    pub fn settle_sign_in_attempt(
        &self,
        _on: OnBlockingThread,
        settlement: AttemptSettlement,
    ) -> Result<(), StoreError> {
        if settlement.is_empty() {
            return Ok(());
        }
        if self.store.backend() == Backend::Postgres {
            return self.store.settle_sign_in_attempt_alone(&settlement);
        }
        self.submit_blocking(Work::SettleSignInAttempt(settlement))
            .map(|_| ())
            .map_err(into_store_error)
    }

    fn submit_blocking(&self, work: Work) -> Result<Done, ApplyError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job {
                work,
                reply: Reply::Waiting(reply),
            })
            .map_err(|_| stopped())?;
        answer.blocking_recv().map_err(|_| stopped())?
    }

    pub fn stats(&self) -> &CommitStats {
        &self.stats
    }

    /// Pages the SQLite writer has written to the write-ahead log since it started, each written
    /// and synced at its commit: what the writer wrote, in frames (the checkpointer's copies into
    /// the database file are its own thread's). `None` on PostgreSQL, whose writers write to
    /// sockets, or where `/proc` cannot tell.
    pub fn wal_frames(&self) -> Option<u64> {
        (self.store.backend() == Backend::Sqlite)
            .then(|| self.stats.written_bytes())
            .flatten()
            .map(|bytes| bytes / WAL_FRAME_BYTES)
    }

    async fn submit(&self, work: Work) -> Result<Done, ApplyError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job {
                work,
                reply: Reply::Waiting(reply),
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> ApplyError {
    ApplyError::Store(StoreError::Commit("the database writer has stopped".into()))
}

/// Counting and settling refuse nothing through `ApplyError::Refused`; a failure is the store's.
fn into_store_error(e: ApplyError) -> StoreError {
    match e {
        ApplyError::Store(e) => e,
        ApplyError::Refused(refusal) => {
            StoreError::Commit(format!("unexpected refusal: {refusal:?}"))
        }
    }
}

/// A writer keeps one connection for as long as it works: SQLite drops a connection's page
/// cache whenever another connection wrote since its last transaction, so a writer taking any
/// pooled connection per batch would re-read its indexes every time.
fn run_writer(
    store: &Store,
    receiver: &Mutex<Receiver<Job>>,
    stats: &CommitStats,
    gate: &Mutex<()>,
) {
    // What the thread writes is counted from /proc, Linux's alone.
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        stats
            .writer_threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tid);
    }
    let mut connection = None;
    while let Some(batch) = next_batch(receiver) {
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
        crate::metrics::metrics().write_batch(batch.len());
        let mut batch = batch;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let conn = match &mut connection {
                Some(conn) => conn,
                None => match store.conn() {
                    Ok(conn) => connection.insert(conn),
                    Err(e) => {
                        fail_batch(batch, &e);
                        break;
                    }
                },
            };
            // PostgreSQL's writers never wait for each other here.
            let _gate = (store.backend() == Backend::Sqlite)
                .then(|| gate.lock().unwrap_or_else(|e| e.into_inner()));
            let started = std::time::Instant::now();
            let cpu_started = thread_cpu_time();
            let outcome = commit_batch(conn, store.backend(), batch);
            let busy = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            stats.busy_us.fetch_add(busy, Ordering::Relaxed);
            let cpu = thread_cpu_time().saturating_sub(cpu_started);
            stats.cpu_us.fetch_add(
                u64::try_from(cpu.as_micros()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            match outcome {
                BatchOutcome::Committed => break,
                BatchOutcome::Failed => {
                    // Whatever went wrong, the next batch starts on a fresh connection.
                    connection = None;
                    break;
                }
                // A PostgreSQL connection kept through a database outage is found dead only when
                // used: its first statement fails, and the batch, of which nothing was sent, goes
                // to a fresh connection (the pool discards the dead one), so the first requests
                // after the database is back are not refused. A fresh one may have idled in the
                // pool through the outage too: a few attempts, each discarding one. (SQLite's
                // one connection is in process: nothing to find dead.)
                BatchOutcome::NotBegun(back, error) => {
                    connection = None;
                    let retry = store.backend() == Backend::Postgres && error.is_unavailable();
                    if !retry || attempts >= BEGIN_ATTEMPTS {
                        fail_batch(back, &error);
                        break;
                    }
                    batch = back;
                }
            }
        }
    }
}

/// Connections a batch tries when each fails at its first statement (see `run_writer`). Each dead
/// one fails at once; when the pool has no idle one left, taking a connection waits for a new one
/// and a database still down fails the batch there.
const BEGIN_ATTEMPTS: usize = 8;

/// How a batch went.
enum BatchOutcome {
    /// Committed, or refused and answered.
    Committed,
    /// Failed and answered.
    Failed,
    /// Its first statement failed: nothing of it reached the database, and it is not answered
    /// yet.
    NotBegun(Vec<Job>, StoreError),
}

/// Copies committed WAL frames into the SQLite database file on its own connection, so the
/// writer never pays for the bulk of a checkpoint inside a commit.
fn run_checkpointer(store: &Store, stop: &Receiver<()>, gate: &Mutex<()>) {
    let mut failing = false;
    // Rounds in a row that left part of the log uncopied (so it could not start again).
    let mut behind = 0u32;
    // Until the group commit is dropped (its sender with it), which ends the wait at once.
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_INTERVAL) {
        match checkpoint_round(store, gate) {
            Ok(round) => {
                failing = false;
                behind = match round {
                    Some(r) if !r.caught_up() => behind + 1,
                    _ => 0,
                };
                if behind == LOG_BEHIND_ROUNDS {
                    tracing::warn!(
                        frames = round.map_or(0, |r| r.frames),
                        limit_bytes = super::connection::WAL_SIZE_LIMIT,
                        "the write-ahead log has not been copied whole for a minute, so it keeps \
                         growing: a long read (a backup?) holds it; once it starts again it is cut \
                         back to limit_bytes"
                    );
                }
            }
            Err(e) if !failing => {
                tracing::warn!("WAL checkpoint failed: {e}");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// What `PRAGMA wal_checkpoint` answers: frames in the log when it started, and how many of them
/// are in the database file now (both -1 when it could not run: another checkpoint was running,
/// or the log is being recovered).
#[derive(Debug, Clone, Copy, QueryableByName)]
struct Checkpointed {
    #[diesel(sql_type = diesel::sql_types::Integer, column_name = log)]
    frames: i32,
    #[diesel(sql_type = diesel::sql_types::Integer, column_name = checkpointed)]
    copied: i32,
}

impl Checkpointed {
    fn caught_up(&self) -> bool {
        self.frames >= 0 && self.copied == self.frames
    }
}

/// Frames a checkpoint beside the writer may copy for the next one to run with the writer held.
/// Its time is about that copy and one sync, so the writer appended little meanwhile, and the
/// held one copies just that: counted in frames, the bound holds whatever the disk's speed.
const FEW_FRAMES: i32 = 256;

/// Checkpoints beside the writer per round; each copies what was appended during the one before,
/// so under steady load they get shorter.
const CHECKPOINTS_BESIDE: usize = 4;

/// One round of the checkpointer. A PASSIVE checkpoint copies the log beside the writer and
/// blocks no one; but under steady load the writer has always appended more by the time it ends,
/// and SQLite starts the log again from its beginning only when a write transaction begins with
/// every frame copied. So the log would only grow: every commit then extends the file (the kernel
/// zeroes and allocates each new page, and each sync also commits the file system's journal),
/// and the disk fills. So once a checkpoint beside the writer copied few frames, one more copies
/// what the writer appended during it (and syncs the log and the database file) with the writer
/// held between two transactions; the writer's next transaction then rewrites the log from its
/// start.
/// If none copied few (a large backlog: after a backup, a `VACUUM`), or a reader still reads
/// older frames, the round leaves the log as it is and the next one tries again.
fn checkpoint_round(store: &Store, gate: &Mutex<()>) -> Result<Option<Checkpointed>, StoreError> {
    let mut conn = store.conn()?;
    let DbConnection::Sqlite(conn) = &mut *conn else {
        return Ok(None);
    };
    let checkpoint = |conn: &mut diesel::SqliteConnection| {
        diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result::<Checkpointed>(conn)
    };
    // How much the first one copied is unknown (what was copied before it is not known), so it
    // never counts as few.
    let mut last: Option<Checkpointed> = None;
    for _ in 0..CHECKPOINTS_BESIDE {
        let beside = checkpoint(conn)?;
        if beside.frames < 0 {
            // Another checkpoint is running: it copies the log instead.
            return Ok(Some(beside));
        }
        if last.is_some_and(|before| beside.copied - before.copied <= FEW_FRAMES) {
            let _writer_held = gate.lock().unwrap_or_else(|e| e.into_inner());
            return Ok(Some(checkpoint(conn)?));
        }
        last = Some(beside);
    }
    Ok(last)
}

/// CPU time this thread has used.
fn thread_cpu_time() -> std::time::Duration {
    let mut spent = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut spent) };
    std::time::Duration::new(
        u64::try_from(spent.tv_sec).unwrap_or(0),
        u32::try_from(spent.tv_nsec).unwrap_or(0),
    )
}

/// Blocks for the first job, then takes whatever else is already queued. `None` once the queue
/// is closed and empty.
fn next_batch(receiver: &Mutex<Receiver<Job>>) -> Option<Vec<Job>> {
    // A writer that panicked while holding the lock left the receiver intact: keep using it.
    let receiver = receiver.lock().unwrap_or_else(|e| e.into_inner());
    let first = receiver.recv().ok()?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match receiver.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Commits a batch and answers its jobs, unless it could not begin.
fn commit_batch(conn: &mut DbConnection, backend: Backend, batch: Vec<Job>) -> BatchOutcome {
    match run_transaction(conn, backend, &batch) {
        Ok(outcomes) => {
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                job.reply.send(outcome);
            }
            BatchOutcome::Committed
        }
        Err(BatchError::NotBegun(e)) => BatchOutcome::NotBegun(batch, e),
        Err(BatchError::Failed(e)) => {
            fail_batch(batch, &e);
            BatchOutcome::Failed
        }
    }
}

/// Where a batch's transaction failed.
enum BatchError {
    /// At its first statement: nothing was sent.
    NotBegun(StoreError),
    Failed(StoreError),
}

impl From<StoreError> for BatchError {
    fn from(e: StoreError) -> Self {
        BatchError::Failed(e)
    }
}

fn fail_batch(batch: Vec<Job>, error: &StoreError) {
    let reason = error.to_string();
    let unavailable = error.is_unavailable();
    if unavailable {
        static OUTAGES: super::outage_log::OutageLog =
            super::outage_log::OutageLog::new("group commit");
        OUTAGES.failed(error);
    } else {
        tracing::error!(requests = batch.len(), "group commit failed: {error}");
    }
    for job in batch {
        let failure = if unavailable {
            StoreError::Unavailable(reason.clone())
        } else {
            StoreError::Commit(reason.clone())
        };
        job.reply.send(Err(ApplyError::Store(failure)));
    }
}

/// One transaction for the whole batch. Almost every batch commits whole, so it first runs
/// without savepoints; only when a job fails (a replay, a spent refresh token, an error) is the
/// batch rolled back and run again with a savepoint per job, so the failure takes only its own
/// writes with it. `Err` means nothing committed.
///
/// On PostgreSQL a batch that only adds rows (a jwt-bearer exchange's writes) first goes as one
/// statement with no transaction around it: atomic on its own, committed by the server before it
/// answers, and one round trip where `BEGIN`, three inserts and `COMMIT` were five. If it fails,
/// nothing of it stayed, and the batch goes one by one as above; on a connection that died, that
/// pass's `BEGIN` fails at once and the batch goes to a fresh connection (`NotBegun`). The one
/// case this cannot tell apart: the server committed and the connection broke before its answer
/// arrived. The batch then runs again on a fresh connection, finds its own rows, and its requests
/// are refused or fail, as they would have failed at a `COMMIT` whose answer was lost; none is
/// answered as issued twice.
fn run_transaction(
    conn: &mut DbConnection,
    backend: Backend,
    batch: &[Job],
) -> Result<Vec<Result<Done, ApplyError>>, BatchError> {
    let requests = requests_only(batch);
    match requests {
        Some(requests)
            if backend == Backend::Postgres && requests.iter().all(|ops| only_new_rows(ops)) =>
        {
            if apply_writes_together(conn, requests.into_iter()).is_ok() {
                return Ok(batch.iter().map(|_| Ok(Done::Applied)).collect());
            }
            begin(conn, backend).map_err(BatchError::NotBegun)?;
        }
        requests => {
            begin(conn, backend).map_err(BatchError::NotBegun)?;
            if let Some(done) = run_whole(conn, backend, batch, requests)? {
                return Ok(done.into_iter().map(Ok).collect());
            }
            begin(conn, backend)?;
        }
    }
    let outcomes = batch
        .iter()
        .map(|job| run_in_savepoint(conn, &job.work))
        .collect::<Result<Vec<_>, StoreError>>();
    Ok(finish(conn, outcomes)?)
}

/// Each job's writes when every job is a request's (not a purge or a sign-in count).
fn requests_only(batch: &[Job]) -> Option<Vec<&[WriteOp]>> {
    batch
        .iter()
        .map(|job| match &job.work {
            Work::Request(ops) => Some(ops.as_slice()),
            _ => None,
        })
        .collect()
}

/// The batch in one go, in the transaction begun; `None` (rolled back) when anything failed. On
/// PostgreSQL the rows go in one statement, since every statement is a round trip to the server;
/// SQLite runs in process, where its cached one-row statements beat a multi-row statement
/// prepared anew for each batch size (measured: 7,500 against 5,500 exchanges/s).
fn run_whole(
    conn: &mut DbConnection,
    backend: Backend,
    batch: &[Job],
    requests: Option<Vec<&[WriteOp]>>,
) -> Result<Option<Vec<Done>>, StoreError> {
    let applied = match (backend, requests) {
        (Backend::Postgres, Some(requests)) => apply_writes_together(conn, requests.into_iter())
            .map(|()| vec![Done::Applied; batch.len()]),
        _ => batch
            .iter()
            .map(|job| run_work(conn, &job.work, ExpiredKeys::InsertOnly))
            .collect(),
    };
    match applied {
        Ok(done) => finish(conn, Ok(done)).map(Some),
        Err(_) => {
            roll_back(conn)?;
            Ok(None)
        }
    }
}

fn run_work(
    conn: &mut DbConnection,
    work: &Work,
    expired_keys: ExpiredKeys,
) -> Result<Done, ApplyError> {
    match work {
        Work::Request(ops) => apply_writes(conn, ops, expired_keys).map(|()| Done::Applied),
        Work::Purge { now, limit } => purge_expired(conn, *now, *limit).map(Done::Purged),
        // A refused attempt is an answer, not a failure: it rolls back its own savepoint and
        // leaves the batch alone.
        Work::CountSignInAttempt(attempt) => Ok(Done::Counted(count_attempt(conn, attempt)?)),
        Work::SettleSignInAttempt(settlement) => {
            settle_attempt(conn, settlement)?;
            Ok(Done::Applied)
        }
    }
}

/// The job's outcome, or `Err` when the savepoint itself could not be handled (then the whole
/// transaction is abandoned).
fn run_in_savepoint(
    conn: &mut DbConnection,
    work: &Work,
) -> Result<Result<Done, ApplyError>, StoreError> {
    conn.batch_execute("SAVEPOINT request")?;
    let outcome = run_work(conn, work, ExpiredKeys::Replace);
    if outcome.is_err() {
        conn.batch_execute("ROLLBACK TO SAVEPOINT request")?;
    }
    conn.batch_execute("RELEASE SAVEPOINT request")?;
    Ok(outcome)
}

/// At most about `limit` rows of each table per call (rows sharing the cut-off second go
/// together), oldest first, so a purge never holds the writer for long.
fn purge_expired(conn: &mut DbConnection, now: i64, limit: i64) -> Result<usize, ApplyError> {
    let offset = limit.max(1) - 1;
    let token_cutoff: Option<i64> = tokens::table
        .filter(tokens::expires_at.le(now))
        .select(tokens::expires_at)
        .order(tokens::expires_at)
        .offset(offset)
        .first(conn)
        .optional()?;
    let tokens_gone = diesel::delete(
        tokens::table.filter(tokens::expires_at.le(token_cutoff.unwrap_or(now).min(now))),
    )
    .execute(conn)?;
    let key_cutoff: Option<i64> = cache::table
        .filter(cache::expires_at.lt(now))
        .select(cache::expires_at)
        .order(cache::expires_at)
        .offset(offset)
        .first(conn)
        .optional()?;
    let keys_gone = match key_cutoff {
        Some(cutoff) => {
            diesel::delete(cache::table.filter(cache::expires_at.le(cutoff))).execute(conn)?
        }
        None => diesel::delete(cache::table.filter(cache::expires_at.lt(now))).execute(conn)?,
    };
    // An expired family can issue nothing more; its last access tokens keep their own expiry.
    let family_cutoff: Option<i64> = families::table
        .filter(families::expires_at.le(now))
        .select(families::expires_at)
        .order(families::expires_at)
        .offset(offset)
        .first(conn)
        .optional()?;
    let families_gone = diesel::delete(
        families::table.filter(families::expires_at.le(family_cutoff.unwrap_or(now).min(now))),
    )
    .execute(conn)?;
    let counters_gone = purge_ended_windows(conn, now, limit)?;
    let sessions_gone = purge_ended_sessions(conn, now, limit)?;
    // Codes are kept a day past their expiry (see `CODE_RETENTION_SECONDS`), so that a replay of
    // a recently consumed one still finds the family to revoke.
    let codes_gone = purge_old_authorization_codes(conn, now, limit)?;
    Ok(tokens_gone + keys_gone + families_gone + counters_gone + sessions_gone + codes_gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::test_thread as here;
    use crate::store::test_support::for_each_backend;
    use crate::store::{NewToken, WriteRefusal, KIND_ACCESS, KIND_REFRESH};

    const T: &str = "carbon.super";

    fn replay_key(tenant: &str, issuer: &str, jti: &str, expires_at: i64, now: i64) -> WriteOp {
        WriteOp::RecordReplayKey {
            key: crate::store::ReplayKey {
                tenant_domain: tenant.into(),
                kind: crate::store::ReplayKind::GrantAssertion {
                    issuer: issuer.into(),
                },
                jti: jti.into(),
                expires_at,
            },
            now,
        }
    }

    /// The token `token`, stored as its key says.
    fn token(token: &str, kind: &'static str, expires_at: i64) -> WriteOp {
        WriteOp::InsertToken(NewToken {
            key: crate::token_ids::TokenKey::of(token),
            kind,
            tenant_domain: T.into(),
            client_id: "cid-1".into(),
            subject: Some("alice".into()),
            scope: "read".into(),
            issued_at: 100,
            expires_at,
            family_id: None,
            claims: None,
            paired: None,
        })
    }

    fn with_client(store: &Store) -> GroupCommitter {
        let client = crate::store::clients::tests::sample(T, "app", "cid-1");
        store.add_client(&client, 1).unwrap();
        GroupCommitter::start(store, 3).unwrap()
    }

    #[test]
    fn dropping_the_group_commit_returns_once_its_threads_have_let_go_of_the_store() {
        for_each_backend(|store| {
            let handles = || Arc::strong_count(&store.read_cache);
            let before = handles();
            let writer = with_client(store);
            writer
                .commit_blocking(
                    here(),
                    vec![replay_key(T, "https://idp", "j-1", 1_000, 100)],
                )
                .unwrap();
            assert!(handles() > before, "the writers hold the store");
            drop(writer);
            // Nothing of the store is left on a thread that could still be closing connections
            // when the process exits.
            assert_eq!(handles(), before);
        });
    }

    fn is_replay(outcome: &Result<(), ApplyError>) -> bool {
        matches!(
            outcome,
            Err(ApplyError::Refused(WriteRefusal::ReplayKeyTaken { .. }))
        )
    }

    fn token_exists(store: &Store, token: &str) -> bool {
        store
            .find_active_token(T, &crate::token_ids::TokenKey::of(token), 101)
            .unwrap()
            .is_some()
    }

    /// Under writes without a pause, a checkpoint beside the writer never finds the whole log
    /// copied when the writer begins its next transaction; the caught-up round must.
    #[test]
    fn the_write_ahead_log_starts_again_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = Store::open(&url, &Default::default(), T).unwrap();
        let committer = with_client(&store);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let restarted = std::thread::scope(|s| {
            // Enough submitters that the writer always has a batch waiting, as under load.
            for submitter in 0..8 {
                let (stop, committer) = (&stop, &committer);
                s.spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let ops = (0..32)
                            .map(|i| {
                                token(
                                    &format!("steady-{submitter}-{n}-{i}"),
                                    KIND_ACCESS,
                                    i64::MAX,
                                )
                            })
                            .collect();
                        committer.commit_blocking(here(), ops).unwrap();
                    }
                });
            }
            // And readers, as the token path's lookups: each reads the log up to where it began.
            for _ in 0..2 {
                let (stop, store) = (&stop, &store);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        token_exists(store, "steady-0-1-0");
                    }
                });
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let mut longest = 0;
            let mut restarted = false;
            while !restarted && std::time::Instant::now() < deadline {
                let round = checkpoint_round(&store, &committer.gate).unwrap().unwrap();
                // -1: the checkpointer thread's round ran at the same time.
                restarted = (0..longest).contains(&round.frames);
                longest = longest.max(round.frames);
                // As the checkpointer between its rounds: the writer goes on meanwhile.
                let batches = committer.stats().batches.load(Ordering::Relaxed);
                while committer.stats().batches.load(Ordering::Relaxed) < batches + 20
                    && std::time::Instant::now() < deadline
                {
                    std::thread::yield_now();
                }
            }
            stop.store(true, Ordering::Relaxed);
            restarted
        });
        assert!(restarted, "the log never started again");
    }

    /// A restart of PostgreSQL or a network cut between two batches: the writer's kept connection
    /// (and the pool's idle ones) are dead, which only their next statement finds.
    #[test]
    fn a_writers_connection_lost_between_batches_fails_no_request() {
        for_each_backend(|store| {
            if store.backend() != Backend::Postgres {
                return;
            }
            let client = crate::store::clients::tests::sample(T, "app", "cid-1");
            store.add_client(&client, 1).unwrap();
            // One writer, so the connection it keeps is the one cut below.
            let writer = GroupCommitter::start(store, 1).unwrap();
            let commit = |op| writer.commit_blocking(here(), vec![op]);
            commit(replay_key(T, "iss", "before", 200, 100)).unwrap();
            let mut conn = store.conn().unwrap();
            let cut: Vec<Terminated> = diesel::sql_query(
                "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .load(&mut conn)
            .unwrap();
            assert!(
                cut.iter().any(|c| c.terminated),
                "the writer's session was cut"
            );
            drop(conn);
            commit(replay_key(T, "iss", "after", 200, 100)).unwrap();
            assert!(is_replay(&commit(replay_key(T, "iss", "after", 200, 100))));
        });
    }

    #[derive(QueryableByName)]
    struct Terminated {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        terminated: bool,
    }

    #[test]
    fn a_replay_key_is_taken_once_per_tenant_and_issuer_until_it_expires() {
        for_each_backend(|store| {
            store.ensure_tenant("acme", 0).unwrap();
            let writer = with_client(store);
            let commit = |op| writer.commit_blocking(here(), vec![op]);
            commit(replay_key(T, "iss", "a", 200, 100)).unwrap();
            assert!(is_replay(&commit(replay_key(T, "iss", "a", 300, 150))));
            // Another issuer or tenant has its own namespace.
            commit(replay_key(T, "iss2", "a", 200, 100)).unwrap();
            commit(replay_key("acme", "iss", "a", 200, 100)).unwrap();
            // Once the first assertion has expired, its id no longer blocks.
            commit(replay_key(T, "iss", "a", 400, 201)).unwrap();
            assert!(is_replay(&commit(replay_key(T, "iss", "a", 400, 202))));
        });
    }

    #[test]
    fn commit_then_answers_on_the_writers_thread_once_the_writes_are_durable_or_refused() {
        for_each_backend(|store| {
            let writer = with_client(store);
            let commit_then = |ops: Vec<WriteOp>| {
                let (answer, answered) = std::sync::mpsc::channel();
                writer.commit_then(ops, move |outcome| {
                    let thread = std::thread::current().name().map(str::to_owned);
                    answer.send((outcome, thread)).unwrap();
                });
                answered.recv().unwrap()
            };
            let (outcome, thread) = commit_then(vec![
                replay_key(T, "iss", "then", 999, 1),
                token("sha256:then-1", KIND_ACCESS, 999),
            ]);
            outcome.unwrap();
            assert!(thread.unwrap().starts_with("grantor-writer"));
            // Answered once the writes landed: they are there for every reader.
            assert!(token_exists(store, "sha256:then-1"));
            let (outcome, _) = commit_then(vec![
                replay_key(T, "iss", "then", 999, 1),
                token("sha256:then-2", KIND_ACCESS, 999),
            ]);
            assert!(is_replay(&outcome), "{outcome:?}");
            assert!(!token_exists(store, "sha256:then-2"));
            // Nothing to write: answered at once, on the caller's thread.
            let (outcome, thread) = commit_then(Vec::new());
            outcome.unwrap();
            assert_eq!(thread, std::thread::current().name().map(str::to_owned));
        });
    }

    #[test]
    fn racing_requests_with_one_replay_key_have_one_winner() {
        for_each_backend(|store| {
            let writer = with_client(store);
            let outcomes: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..16)
                    .map(|n| {
                        let writer = &writer;
                        s.spawn(move || {
                            writer.commit_blocking(
                                here(),
                                vec![
                                    replay_key(T, "iss", "race", 999, 1),
                                    token(&format!("sha256:race-{n}"), KIND_ACCESS, 999),
                                ],
                            )
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
            assert_eq!(outcomes.iter().filter(|o| is_replay(o)).count(), 15);
            // Only the winner's token exists: a loser's writes went with its savepoint.
            let issued = (0..16)
                .filter(|n| token_exists(store, &format!("sha256:race-{n}")))
                .count();
            assert_eq!(issued, 1);
        });
    }

    #[test]
    fn a_failure_between_the_writes_of_a_request_leaves_none_of_them() {
        for_each_backend(|store| {
            let writer = with_client(store);
            writer
                .commit_blocking(here(), vec![token("sha256:existing", KIND_ACCESS, 999)])
                .unwrap();
            // The third write fails (its hash is taken): the replay key and the first token, written
            // before it, must not remain.
            let failed = writer.commit_blocking(
                here(),
                vec![
                    replay_key(T, "iss", "half", 999, 1),
                    token("sha256:new-access", KIND_ACCESS, 999),
                    token("sha256:existing", KIND_REFRESH, 999),
                ],
            );
            assert!(matches!(failed, Err(ApplyError::Store(_))), "{failed:?}");
            assert!(!token_exists(store, "sha256:new-access"));
            // The replay key was not kept: the same jti is accepted now.
            writer
                .commit_blocking(here(), vec![replay_key(T, "iss", "half", 999, 1)])
                .unwrap();
        });
    }

    #[test]
    fn one_batch_commits_its_good_requests_beside_a_refused_one() {
        for_each_backend(|store| {
            let writer = with_client(store);
            writer
                .commit_blocking(here(), vec![replay_key(T, "iss", "used", 999, 1)])
                .unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            // Submitted together, so they can share a batch.
            let outcomes = runtime.block_on(async {
                let good = (0..20).map(|n| {
                    writer.commit(vec![
                        replay_key(T, "iss", &format!("j{n}"), 999, 1),
                        token(&format!("sha256:t{n}"), KIND_ACCESS, 999),
                    ])
                });
                let bad = writer.commit(vec![
                    replay_key(T, "iss", "used", 999, 1),
                    token("sha256:bad", KIND_ACCESS, 999),
                ]);
                let (good, bad) = tokio::join!(futures_util::future::join_all(good), bad);
                (good, bad)
            });
            assert!(outcomes.0.iter().all(|o| o.is_ok()));
            assert!(is_replay(&outcomes.1));
            assert!((0..20).all(|n| token_exists(store, &format!("sha256:t{n}"))));
            assert!(!token_exists(store, "sha256:bad"));
        });
    }

    #[test]
    fn purges_take_expired_rows_in_bounded_batches() {
        for_each_backend(|store| {
            let writer = with_client(store);
            for n in 0..5 {
                writer
                    .commit_blocking(
                        here(),
                        vec![
                            token(&format!("sha256:p{n}"), KIND_ACCESS, 100 + n),
                            replay_key(T, "iss", &format!("p{n}"), 100 + n, 1),
                        ],
                    )
                    .unwrap();
            }
            writer
                .commit_blocking(here(), vec![token("sha256:live", KIND_ACCESS, 10_000)])
                .unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let purge = |limit| {
                runtime
                    .block_on(writer.purge_expired(1_000, limit))
                    .unwrap()
            };
            // Two tokens and two keys per call, then the rest; the live token stays.
            assert_eq!(purge(2), 4);
            assert_eq!(purge(2), 4);
            assert_eq!(purge(2), 2);
            assert_eq!(purge(2), 0);
            assert!(token_exists(store, "sha256:live"));
        });
    }

    #[test]
    fn purges_take_ended_sessions_and_codes_a_day_past_their_expiry() {
        use crate::store::{hash_session_id, NewAuthorizationCode, NewSession};
        const NOW: i64 = 200_000;
        const KEPT_AFTER: i64 = NOW - 86_400;
        for_each_backend(|store| {
            let writer = with_client(store);
            for (id, expires_at) in [("expired", 1_000), ("ended", 300_000), ("live", 300_000)] {
                store
                    .create_session(&NewSession {
                        id_hash: hash_session_id(id),
                        tenant_domain: T.into(),
                        subject: "alice".into(),
                        auth_time: 1,
                        created_at: 1,
                        expires_at,
                    })
                    .unwrap();
            }
            assert!(store
                .end_session(T, &hash_session_id("ended"), 150_000)
                .unwrap());
            let codes = [
                ("old", 1_000, None),
                ("old-consumed", 1_060, Some(1_010)),
                ("at-the-edge", KEPT_AFTER, None),
                ("past-the-edge", KEPT_AFTER + 1, None),
                ("recently-consumed", 150_000, Some(149_990)),
                ("live", NOW + 30, None),
            ];
            for (name, expires_at, consumed_at) in codes {
                let code_hash = format!("sha256:{name}");
                store
                    .insert_authorization_code(&NewAuthorizationCode {
                        code_hash: code_hash.clone(),
                        tenant_domain: T.into(),
                        client_id: "cid-1".into(),
                        redirect_uri: "https://app.example/cb".into(),
                        code_challenge: "challenge".into(),
                        nonce: None,
                        session_id_hash: None,
                        subject: "alice".into(),
                        scope: "openid".into(),
                        auth_time: 1,
                        claims: None,
                        issued_at: expires_at - 60,
                        expires_at,
                    })
                    .unwrap();
                if let Some(now) = consumed_at {
                    let consume = WriteOp::ConsumeAuthorizationCode {
                        code_hash,
                        client_id: "cid-1".into(),
                        family_id: Some(format!("fam-{name}")),
                        now,
                    };
                    writer.commit_blocking(here(), vec![consume]).unwrap();
                }
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let purge = || runtime.block_on(writer.purge_expired(NOW, 1)).unwrap();
            // One session and one code per call, oldest first.
            assert_eq!(purge(), 2);
            assert_eq!(purge(), 2);
            assert_eq!(purge(), 1);
            assert_eq!(purge(), 0);
            let session = |id| {
                store
                    .find_session(T, &hash_session_id(id), NOW, 1_000_000)
                    .unwrap()
            };
            assert!(session("live").is_some());
            let left: i64 = store
                .with_conn(|conn| {
                    Ok(crate::store::schema::sessions::table
                        .count()
                        .get_result(conn)?)
                })
                .unwrap();
            assert_eq!(left, 1);
            let kept = |name: &str| {
                store
                    .find_authorization_code(T, &format!("sha256:{name}"))
                    .unwrap()
                    .is_some()
            };
            for (name, _, _) in codes {
                let expected = ["past-the-edge", "recently-consumed", "live"].contains(&name);
                assert_eq!(kept(name), expected, "{name}");
            }
            // A recently consumed code still names the family its exchange started.
            let replay = writer.commit_blocking(
                here(),
                vec![WriteOp::ConsumeAuthorizationCode {
                    code_hash: "sha256:recently-consumed".into(),
                    client_id: "cid-1".into(),
                    family_id: None,
                    now: NOW,
                }],
            );
            assert!(
                matches!(
                    &replay,
                    Err(ApplyError::Refused(WriteRefusal::AuthorizationCodeSpent {
                        family_id: Some(f)
                    })) if f == "fam-recently-consumed"
                ),
                "{replay:?}"
            );
        });
    }
}
