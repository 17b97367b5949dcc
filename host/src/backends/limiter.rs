//! A counting semaphore bounding concurrent model calls (`max_concurrency`).
//!
//! One [`Limiter`] lives inside each backend, so every thread of the process that shares the
//! backend (through its `Arc`) shares the bound. It owns the count only: what runs under a
//! permit, and for how long, is the caller's business. Plain `Mutex` + `Condvar`, no async.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// At most `max` holders of a [`Permit`] at a time.
#[derive(Debug)]
pub(crate) struct Limiter {
    max: usize,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    in_use: usize,
    /// The most permits ever held at once (for tests and diagnostics).
    peak: usize,
}

/// A held slot; dropping it frees the slot and wakes one waiter.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    limiter: &'a Limiter,
}

impl Limiter {
    /// A limiter with `max` slots; `max` of 0 is treated as 1 (callers validate the config).
    pub(crate) fn new(max: usize) -> Self {
        Limiter {
            max: max.max(1),
            state: Mutex::new(State::default()),
            freed: Condvar::new(),
        }
    }

    /// Blocks until a slot is free, then takes it.
    pub(crate) fn acquire(&self) -> Permit<'_> {
        let mut state = self.lock();
        while state.in_use >= self.max {
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.in_use += 1;
        state.peak = state.peak.max(state.in_use);
        Permit { limiter: self }
    }

    /// The most permits ever held at once.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn peak(&self) -> usize {
        self.lock().peak
    }

    /// The count stays consistent even if a holder panicked (each change is one statement), so
    /// a poisoned lock is taken as is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.limiter.lock();
        state.in_use = state.in_use.saturating_sub(1);
        drop(state);
        self.limiter.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn never_more_than_max_holders() {
        let limiter = Arc::new(Limiter::new(2));
        let current = Arc::new(AtomicUsize::new(0));
        let observed_peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (limiter, current, observed_peak) = (
                    Arc::clone(&limiter),
                    Arc::clone(&current),
                    Arc::clone(&observed_peak),
                );
                std::thread::spawn(move || {
                    for _ in 0..3 {
                        let _permit = limiter.acquire();
                        let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                        observed_peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        current.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("worker thread");
        }
        assert!(observed_peak.load(Ordering::SeqCst) <= 2);
        assert!(limiter.peak() <= 2, "peak {}", limiter.peak());
        assert!(limiter.peak() >= 1);
    }

    #[test]
    fn permits_are_released_on_drop() {
        let limiter = Limiter::new(1);
        for _ in 0..5 {
            let _permit = limiter.acquire();
        }
        assert_eq!(limiter.peak(), 1);
    }

    #[test]
    fn zero_is_treated_as_one() {
        let limiter = Limiter::new(0);
        drop(limiter.acquire());
        assert_eq!(limiter.peak(), 1);
    }
}
