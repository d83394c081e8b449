//! A pool of threads for the token endpoint's work, as many as there are cores, that keeps its
//! threads busy rather than many threads each half asleep.
//!
//! The runtime's blocking pool gives each task to an idle thread, waking it, and grows a thread
//! whenever none is idle: at 32 connections the token work spread over dozens of threads that each
//! slept and woke for every request, and the wakes, the context switches and the pool's contended
//! lock cost as much CPU as the work's own code (together half the server's CPU per request,
//! `perf`). Here a task waits in a queue for one of a few threads, which take the next one without
//! sleeping while there is any, and requests reach the group commit together: about three
//! quarters of the CPU per request, and twice the writer's batch (BENCHMARKS.md).
//!
//! Work here may still block (a JWKS fetch, a database slow to answer, a plugin that hangs past
//! its deadline). A pool whose every thread is held so would stop every token request, so when
//! tasks waited a whole `STALL` and none finished, a watcher adds a thread for each waiting task,
//! up to `MAX_EXTRA`; a thread beyond the pool's size leaves when it finds the queue empty.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Duration;

use super::OnBlockingThread;

/// How long tasks may wait while no thread finishes one before a thread is added.
const STALL: Duration = Duration::from_millis(50);
/// Threads added beyond the pool's size at most (each one held by work that blocks).
const MAX_EXTRA: usize = 512;

type Task = Box<dyn FnOnce(OnBlockingThread) + Send>;

/// Why a task gave no result.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("the task panicked")]
    Panicked,
    #[error(
        "the task ended without an answer: the pool, or what it handed its answer to, shut down"
    )]
    Closed,
}

/// Where a task's result goes: to the caller waiting in `run_answering`, from the pool's thread
/// or from wherever the task handed it.
pub struct Answer<T>(Option<tokio::sync::oneshot::Sender<Result<T, PoolError>>>);

impl<T> Answer<T> {
    pub fn send(mut self, value: T) {
        if let Some(sender) = self.0.take() {
            // A caller gone (past its deadline) needs no answer.
            let _ = sender.send(Ok(value));
        }
    }

    /// The caller has gone.
    pub fn is_closed(&self) -> bool {
        self.0.as_ref().is_none_or(|sender| sender.is_closed())
    }
}

impl<T> Drop for Answer<T> {
    fn drop(&mut self) {
        if let Some(sender) = self.0.take() {
            if std::thread::panicking() {
                let _ = sender.send(Err(PoolError::Panicked));
            }
        }
    }
}

/// The pool; its threads leave when it is dropped and its queue is empty.
pub struct WorkPool {
    shared: Arc<Shared>,
}

struct Shared {
    size: usize,
    /// How long tasks may wait while none finishes before threads are added (`STALL`).
    stall: Duration,
    state: Mutex<State>,
    work: Condvar,
    /// Tasks finished so far: the watcher's sign of progress.
    finished: AtomicU64,
    /// The runtime the threads enter (work on them may wait on its timers) and the watcher runs
    /// on: the one of the first task's caller.
    runtime: OnceLock<tokio::runtime::Handle>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Task>,
    threads: usize,
    idle: usize,
    closed: bool,
}

impl WorkPool {
    /// A pool of `size` threads (at least one), started with its first task.
    pub fn new(size: usize) -> WorkPool {
        WorkPool::with_stall(size, STALL)
    }

    fn with_stall(size: usize, stall: Duration) -> WorkPool {
        WorkPool {
            shared: Arc::new(Shared {
                size: size.max(1),
                stall,
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                finished: AtomicU64::new(0),
                runtime: OnceLock::new(),
            }),
        }
    }

    /// As many threads as the machine has cores.
    pub fn per_core() -> WorkPool {
        WorkPool::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// Runs `work` on one of the pool's threads. Dropping the future before the work starts takes
    /// it off the queue unrun (a request past its deadline costs no CPU); once started, it runs
    /// to its end.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(OnBlockingThread) -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        self.run_answering(move |on, answer| answer.send(work(on)))
            .await
    }

    /// `run` for work that may hand its answer on (to the group commit, to answer once the writes
    /// it submitted are durable): the caller is woken once, by the answer, wherever it is sent
    /// from. An answer dropped unsent by a panic is `Panicked`; otherwise `Closed`.
    pub async fn run_answering<T: Send + 'static>(
        &self,
        work: impl FnOnce(OnBlockingThread, Answer<T>) + Send + 'static,
    ) -> Result<T, PoolError> {
        let (sender, answered) = tokio::sync::oneshot::channel();
        let answer = Answer(Some(sender));
        let task: Task = Box::new(move |on| {
            if answer.is_closed() {
                return;
            }
            // A panic drops the answer while unwinding, which tells the caller (`Answer`'s drop).
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| work(on, answer)));
        });
        self.submit(task)?;
        answered.await.map_err(|_| PoolError::Closed)?
    }

    fn submit(&self, task: Task) -> Result<(), PoolError> {
        let shared = &self.shared;
        if shared.runtime.get().is_none() {
            let runtime = tokio::runtime::Handle::current();
            if shared.runtime.set(runtime.clone()).is_ok() {
                runtime.spawn(watch(Arc::downgrade(shared)));
            }
        }
        let mut state = shared.lock();
        if state.closed {
            return Err(PoolError::Closed);
        }
        state.queue.push_back(task);
        if state.idle > 0 {
            shared.work.notify_one();
        }
        // A woken thread counts as idle until it takes the lock again: a burst of tasks must not
        // all wait for that one.
        let start = state.queue.len() > state.idle && state.threads < shared.size;
        if start {
            state.threads += 1;
        }
        drop(state);
        if start {
            start_thread(shared);
        }
        Ok(())
    }

    /// Threads now.
    #[cfg(test)]
    fn threads(&self) -> usize {
        self.shared.lock().threads
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic never happens under this lock (tasks run outside it); recover all the same.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for WorkPool {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        self.shared.work.notify_all();
    }
}

/// Starts a thread the caller counted in `threads` already (under the lock, released since: a
/// thread takes a while to start); uncounts it if the system refuses one.
fn start_thread(shared: &Arc<Shared>) {
    let for_thread = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("grantor-work".into())
        .spawn(move || serve(&for_thread));
    if let Err(e) = spawned {
        // Not fatal while another thread serves the queue; the next task or tick tries again.
        tracing::error!(error = %e, "cannot start a token work thread");
        shared.lock().threads -= 1;
    }
}

/// Uncounts a thread that ends by a panic outside its task's (a result's `Drop`, say).
struct Counted<'a>(&'a Shared);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().threads -= 1;
        }
    }
}

/// A thread's life: the next task while there is one; a thread beyond the pool's size leaves
/// when the queue is empty, the others wait for work.
fn serve(shared: &Shared) {
    let _runtime = shared.runtime.get().map(|r| r.enter());
    let _counted = Counted(shared);
    loop {
        let task = {
            let mut state = shared.lock();
            loop {
                if let Some(task) = state.queue.pop_front() {
                    break task;
                }
                if state.closed || state.threads > shared.size {
                    state.threads -= 1;
                    return;
                }
                state.idle += 1;
                state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner());
                state.idle -= 1;
            }
        };
        task(OnBlockingThread(()));
        shared.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// Adds threads when tasks waited a whole `STALL` and none finished: every thread is held by work
/// that blocks. Ends with the pool.
async fn watch(pool: Weak<Shared>) {
    let Some(stall) = pool.upgrade().map(|shared| shared.stall) else {
        return;
    };
    let mut ticks = tokio::time::interval(stall);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = None;
    loop {
        ticks.tick().await;
        let Some(shared) = pool.upgrade() else {
            return;
        };
        let finished = shared.finished.load(Ordering::Relaxed);
        let mut state = shared.lock();
        if state.closed {
            return;
        }
        let stalled = seen == Some(finished) && !state.queue.is_empty() && state.idle == 0;
        seen = Some(finished);
        if !stalled {
            continue;
        }
        // A thread for each waiting task: what holds the threads (a slow JWKS endpoint, a
        // database gone) may hold the next ones too, and other tenants' requests wait behind.
        let room = (shared.size + MAX_EXTRA).saturating_sub(state.threads);
        let added = state.queue.len().min(room);
        state.threads += added;
        drop(state);
        tracing::debug!(added, "token work stalled: threads added");
        for _ in 0..added {
            start_thread(&shared);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls `done` until it holds, for at most ten seconds (a wait, not a timing assertion).
    fn wait_for(what: &str, done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "waited too long for {what}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tasks_run_on_at_most_the_pools_threads_and_answer() {
        // No thread added however slowly the machine runs the test.
        let pool = WorkPool::with_stall(2, Duration::from_secs(3600));
        let names: Vec<_> = (0..50)
            .map(|i| {
                pool.run(move |_| {
                    (
                        i * 2,
                        std::thread::current().name().map(str::to_owned),
                        tokio::runtime::Handle::try_current().is_ok(),
                    )
                })
            })
            .collect();
        let answers = futures_util::future::join_all(names).await;
        for (i, answer) in answers.into_iter().enumerate() {
            let (doubled, name, in_runtime) = answer.unwrap();
            assert_eq!(doubled, i * 2);
            assert_eq!(name.as_deref(), Some("grantor-work"));
            // Work that waits on the runtime's timers can.
            assert!(in_runtime);
        }
        assert!(pool.threads() <= 2, "{} threads", pool.threads());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_task_is_an_error_and_the_thread_serves_on() {
        let pool = WorkPool::with_stall(1, Duration::from_secs(3600));
        let panicked = pool.run(|_| -> u8 { panic!("a mistake") }).await;
        assert!(matches!(panicked, Err(PoolError::Panicked)));
        assert_eq!(pool.run(|_| 7).await.unwrap(), 7);
        assert_eq!(pool.threads(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_handed_on_reaches_the_caller_and_one_dropped_unsent_is_closed() {
        let pool = WorkPool::with_stall(1, Duration::from_secs(3600));
        let (handed, taken) = std::sync::mpsc::channel::<Answer<&str>>();
        // Another thread answers, after the task has returned.
        let elsewhere = std::thread::spawn(move || taken.recv().unwrap().send("from elsewhere"));
        let answer = pool.run_answering(move |_, answer| handed.send(answer).unwrap());
        assert_eq!(answer.await.unwrap(), "from elsewhere");
        elsewhere.join().unwrap();
        let dropped = pool
            .run_answering(|_, answer: Answer<u8>| drop(answer))
            .await;
        assert!(matches!(dropped, Err(PoolError::Closed)), "{dropped:?}");
        let panicked = pool
            .run_answering(|_, _answer: Answer<u8>| panic!("a mistake before answering"))
            .await;
        assert!(matches!(panicked, Err(PoolError::Panicked)), "{panicked:?}");
        assert_eq!(pool.run(|_| 7).await.unwrap(), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_still_runs_while_every_thread_is_held_and_added_threads_leave() {
        let pool = Arc::new(WorkPool::new(2));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let started = Arc::new(AtomicU64::new(0));
        let holders: Vec<_> = (0..2)
            .map(|_| {
                let (pool, held, started) = (pool.clone(), held.clone(), started.clone());
                tokio::spawn(async move {
                    pool.run(move |_| {
                        started.fetch_add(1, Ordering::SeqCst);
                        // Blocks until released, as a hung plugin or a dead database would.
                        let _ = held.lock().unwrap().recv();
                    })
                    .await
                })
            })
            .collect();
        let started_now = started.clone();
        tokio::task::spawn_blocking(move || {
            wait_for("both holders", || started_now.load(Ordering::SeqCst) == 2)
        })
        .await
        .unwrap();
        // Both threads are held (one in `recv`, one waiting for the lock around it); this task
        // runs only on a thread the watcher adds.
        let served = tokio::time::timeout(Duration::from_secs(10), pool.run(|_| "served")).await;
        assert_eq!(served.expect("no thread was added").unwrap(), "served");
        release.send(()).unwrap();
        release.send(()).unwrap();
        for holder in holders {
            holder.await.unwrap().unwrap();
        }
        let shared = pool.shared.clone();
        // An added thread leaves once it finds no work; nudge the waiting ones to look.
        tokio::task::spawn_blocking(move || {
            wait_for("the added threads to leave", || {
                shared.work.notify_all();
                shared.state.lock().unwrap().threads <= 2
            })
        })
        .await
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_task_whose_caller_left_before_it_started_never_runs() {
        let pool = Arc::new(WorkPool::new(1));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let holding = Arc::new(AtomicU64::new(0));
        let holder = tokio::spawn({
            let (pool, holding) = (pool.clone(), holding.clone());
            async move {
                pool.run(move |_| {
                    holding.store(1, Ordering::SeqCst);
                    let _ = held.recv();
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || {
            wait_for("the holder", || holding.load(Ordering::SeqCst) == 1)
        })
        .await
        .unwrap();
        let ran = Arc::new(AtomicU64::new(0));
        let counted = ran.clone();
        // Started, then abandoned while it waits in the queue behind the holder.
        let abandoned = pool.run(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        // Polled once (queued), then dropped.
        assert!(
            futures_util::FutureExt::now_or_never(abandoned).is_none(),
            "the holder has the only thread"
        );
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        // The queue is first in, first out: what was queued after it has run, and it has not.
        pool.run(|_| ()).await.unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }
}
