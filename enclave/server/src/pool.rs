//! The guest threads and the bounded queue in front of them.
//!
//! Guest runs never execute on the async executor: each worker is a thread started by
//! [`Enclave::on_guest_thread`] (the native stack a guest needs) that takes runs from one
//! bounded queue. When the queue is full a request is refused at once (503 with `Retry-After`)
//! rather than waiting in an unbounded backlog.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use enclave_runtime::Enclave;

/// A run, boxed for the queue.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// The queue is full.
#[derive(Debug)]
pub(crate) struct Busy;

pub(crate) struct Pool {
    /// `None` once closed.
    sender: Mutex<Option<Sender<Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Starts `workers` guest threads for `enclave` behind a queue of `queue` runs.
    pub(crate) fn start(
        enclave: &Arc<Enclave>,
        workers: usize,
        queue: usize,
    ) -> std::io::Result<Self> {
        let (sender, receiver) = crossbeam_channel::bounded::<Job>(queue);
        let workers = (0..workers.max(1))
            .map(|i| {
                let enclave = enclave.clone();
                let receiver = receiver.clone();
                std::thread::Builder::new()
                    .name(format!("enclave-worker-{i}"))
                    .spawn(move || {
                        // A failure to start the guest thread leaves this worker out; the others
                        // serve, and an empty pool shows as runs that never start (readyz).
                        let _ = enclave.on_guest_thread(|| work(&receiver));
                    })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self {
            sender: Mutex::new(Some(sender)),
            workers: Mutex::new(workers),
        })
    }

    /// Queues `job`, or refuses it at once when the queue is full (or the pool is closed).
    pub(crate) fn submit(&self, job: Job) -> Result<(), Busy> {
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        sender
            .as_ref()
            .ok_or(Busy)?
            .try_send(job)
            .map_err(|e| match e {
                TrySendError::Full(_) | TrySendError::Disconnected(_) => Busy,
            })
    }

    /// Whether a run submitted now would be refused (checked before a body is received; the
    /// submission itself checks again).
    pub(crate) fn is_full(&self) -> bool {
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_none_or(Sender::is_full)
    }

    /// Runs waiting for a worker.
    pub(crate) fn queued(&self) -> usize {
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or(0, Sender::len)
    }

    /// Closes the queue and waits, until `deadline`, for the workers to finish what is queued
    /// and running. Returns whether they all did.
    pub(crate) fn close(&self, deadline: Instant) -> bool {
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        loop {
            let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
            workers.retain(|w| !w.is_finished());
            if workers.is_empty() {
                return true;
            }
            drop(workers);
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn work(receiver: &Receiver<Job>) {
    while let Ok(job) = receiver.recv() {
        // A job answers its request through a channel; if it panicked, the dropped sender
        // answers 500, and this worker serves the next run.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_refuses_at_once_and_drains_when_the_worker_is_free() {
        let harness = enclave_tests::harness::Harness::new().unwrap();
        let bundle = harness
            .sign(
                enclave_tests::guests::WORDCOUNT,
                &enclave_tests::harness::manifest(),
            )
            .unwrap();
        let enclave = Arc::new(harness.load(&bundle).unwrap());
        let pool = Pool::start(&enclave, 1, 1).unwrap();
        let (started, on_worker) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        pool.submit(Box::new(move || {
            started.send(()).unwrap();
            released.recv().unwrap();
        }))
        .unwrap();
        on_worker.recv().unwrap();
        assert!(!pool.is_full());
        let (ran, second_ran) = std::sync::mpsc::channel();
        pool.submit(Box::new(move || ran.send(()).unwrap()))
            .unwrap();
        assert!(pool.is_full());
        assert!(pool.submit(Box::new(|| {})).is_err());
        release.send(()).unwrap();
        second_ran.recv().unwrap();
        assert!(pool.close(Instant::now() + Duration::from_secs(600)));
        assert!(pool.is_full(), "a closed pool takes nothing");
    }
}
