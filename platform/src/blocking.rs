//! Work that blocks its thread (waits for a turn on the runtime's timer, for the group commit's
//! answer, for a JWKS fetch) must never run on an async worker: `Handle::block_on` panics there,
//! and any wait stalls every connection the worker serves. A function that blocks so takes an
//! `OnBlockingThread`, and only what starts such a thread hands one out: `spawn` (the runtime's
//! blocking pool), `WorkPool` (the token endpoint's own threads, `blocking/pool.rs`, where plugins
//! are called too) or `outside_runtime` (a management command, a test).

mod pool;

pub use pool::{Answer, PoolError, WorkPool};

/// Proof that the holder runs on a thread that may block.
#[derive(Debug, Clone, Copy)]
pub struct OnBlockingThread(());

impl OnBlockingThread {
    /// Runs `work` on the runtime's blocking pool.
    pub async fn spawn<T: Send + 'static>(
        work: impl FnOnce(OnBlockingThread) -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        tokio::task::spawn_blocking(move || work(OnBlockingThread(()))).await
    }

    /// On a thread outside any runtime, where blocking holds up nobody else; `None` inside one
    /// (an async worker, or a blocking thread whose proof was not passed down).
    pub fn outside_runtime() -> Option<OnBlockingThread> {
        tokio::runtime::Handle::try_current()
            .is_err()
            .then_some(OnBlockingThread(()))
    }
}

/// The proof on a test's own thread (outside any runtime).
#[cfg(test)]
pub fn test_thread() -> OnBlockingThread {
    OnBlockingThread::outside_runtime().expect("a test thread outside any runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_runtime_a_thread_may_block_and_inside_one_it_needs_spawn() {
        assert!(OnBlockingThread::outside_runtime().is_some());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            assert!(OnBlockingThread::outside_runtime().is_none());
            assert!(OnBlockingThread::spawn(|_| true).await.unwrap());
        });
    }
}
