//! The concurrency bound on model calls (`max_concurrency`), per endpoint, with AIMD.
//!
//! One [`Limiter`] lives inside each backend, so every thread of the process that shares the
//! backend (through its `Arc`) shares the bound. With several endpoints (`base_urls`) each has its
//! own bound of `max` and [`Limiter::acquire`] picks the one with the fewest calls in flight
//! (ties rotate, so idle endpoints take turns).
//!
//! The bound an endpoint allows moves under `max` as the provider answers (AIMD, the congestion
//! rule TCP uses): a 429 halves it ([`Permit::throttled`]), at most once per burst (a 429 on a
//! call sent before the last decrease says nothing new), and successes raise it by one per
//! "window" of as many successes as it allows ([`Permit::succeeded`]), back up to `max`. Both
//! report an [`Adjustment`] when the bound changes in a way worth a log line, so the caller logs
//! adjustments, not calls.
//!
//! It owns the counts only: what runs under a permit, and for how long, is the caller's business.
//! Plain `Mutex` + `Condvar`, no async.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// At most `allowed` (≤ `max`) holders of a [`Permit`] per endpoint at a time.
#[derive(Debug)]
pub(crate) struct Limiter {
    max: usize,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug)]
struct State {
    slots: Vec<Slot>,
    /// Where the search for the least busy endpoint starts (rotates to share ties).
    next: usize,
    in_use: usize,
    /// The most permits ever held at once, over all endpoints (for tests and diagnostics).
    peak: usize,
}

/// One endpoint's count and its current bound.
#[derive(Debug, Clone)]
struct Slot {
    in_use: usize,
    allowed: usize,
    /// Successes since the bound last moved.
    successes: usize,
    /// Bumped by every decrease; a permit remembers the epoch it was taken in.
    epoch: u64,
}

/// A change of an endpoint's bound worth one log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Adjustment {
    /// A 429 halved the bound.
    Decreased {
        endpoint: usize,
        from: usize,
        to: usize,
        max: usize,
    },
    /// Successes brought the bound back to `max`.
    Recovered { endpoint: usize, max: usize },
}

/// A held slot; dropping it frees the slot and wakes the waiters.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    limiter: &'a Limiter,
    endpoint: usize,
    epoch: u64,
}

impl Limiter {
    /// A limiter of one endpoint with `max` slots; `max` of 0 is treated as 1 (callers validate
    /// the config).
    pub(crate) fn new(max: usize) -> Self {
        Limiter::with_endpoints(max, 1)
    }

    /// A limiter of `endpoints` endpoints (at least 1), each with `max` slots.
    pub(crate) fn with_endpoints(max: usize, endpoints: usize) -> Self {
        let max = max.max(1);
        let slot = Slot {
            in_use: 0,
            allowed: max,
            successes: 0,
            epoch: 0,
        };
        Limiter {
            max,
            state: Mutex::new(State {
                slots: vec![slot; endpoints.max(1)],
                next: 0,
                in_use: 0,
                peak: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// Blocks until an endpoint has a free slot, then takes one on the least busy endpoint.
    pub(crate) fn acquire(&self) -> Permit<'_> {
        let mut state = self.lock();
        loop {
            let count = state.slots.len();
            let chosen = (0..count)
                .map(|offset| (state.next + offset) % count)
                .filter(|&i| state.slots[i].in_use < state.slots[i].allowed)
                .min_by_key(|&i| state.slots[i].in_use);
            if let Some(endpoint) = chosen {
                state.next = (endpoint + 1) % count;
                state.in_use += 1;
                state.peak = state.peak.max(state.in_use);
                let slot = &mut state.slots[endpoint];
                slot.in_use += 1;
                return Permit {
                    limiter: self,
                    endpoint,
                    epoch: slot.epoch,
                };
            }
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The most permits ever held at once.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn peak(&self) -> usize {
        self.lock().peak
    }

    /// The bound endpoint `endpoint` currently allows.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn allowed(&self, endpoint: usize) -> usize {
        self.lock()
            .slots
            .get(endpoint)
            .map_or(0, |slot| slot.allowed)
    }

    /// The counts stay consistent even if a holder panicked (each change is made under the lock
    /// in a few statements that cannot panic), so a poisoned lock is taken as is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Permit<'_> {
    /// The endpoint this permit is for (an index into the backend's roots).
    pub(crate) fn endpoint(&self) -> usize {
        self.endpoint
    }

    /// The provider answered this call with 429: halve the endpoint's bound, unless a decrease
    /// already happened since this call was sent (one burst of 429s is one decrease).
    pub(crate) fn throttled(&self) -> Option<Adjustment> {
        let mut state = self.limiter.lock();
        let slot = &mut state.slots[self.endpoint];
        if slot.epoch != self.epoch || slot.allowed <= 1 {
            return None;
        }
        slot.epoch += 1;
        slot.successes = 0;
        let from = slot.allowed;
        slot.allowed = (from / 2).max(1);
        Some(Adjustment::Decreased {
            endpoint: self.endpoint,
            from,
            to: slot.allowed,
            max: self.limiter.max,
        })
    }

    /// This call succeeded: after as many successes as the bound allows, raise it by one.
    pub(crate) fn succeeded(&self) -> Option<Adjustment> {
        let mut state = self.limiter.lock();
        let max = self.limiter.max;
        let slot = &mut state.slots[self.endpoint];
        if slot.allowed >= max {
            return None;
        }
        slot.successes += 1;
        if slot.successes < slot.allowed {
            return None;
        }
        slot.successes = 0;
        slot.allowed += 1;
        let recovered = slot.allowed == max;
        drop(state);
        self.limiter.freed.notify_all();
        recovered.then_some(Adjustment::Recovered {
            endpoint: self.endpoint,
            max,
        })
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.limiter.lock();
        state.in_use = state.in_use.saturating_sub(1);
        let slot = &mut state.slots[self.endpoint];
        slot.in_use = slot.in_use.saturating_sub(1);
        drop(state);
        // Waiters may wait for different endpoints; wake them all to re-choose.
        self.limiter.freed.notify_all();
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
    fn a_burst_of_429s_halves_once_and_successes_recover() {
        let limiter = Limiter::new(8);
        // Eight calls in flight when the provider starts refusing: one decrease, not eight.
        let permits: Vec<_> = (0..8).map(|_| limiter.acquire()).collect();
        let adjustments: Vec<_> = permits.iter().filter_map(Permit::throttled).collect();
        assert_eq!(
            adjustments,
            vec![Adjustment::Decreased {
                endpoint: 0,
                from: 8,
                to: 4,
                max: 8
            }]
        );
        drop(permits);
        assert_eq!(limiter.allowed(0), 4);
        // A 429 on a call sent after the decrease halves again, down to 1 and no further.
        for expected in [2, 1, 1] {
            let permit = limiter.acquire();
            permit.throttled();
            drop(permit);
            assert_eq!(limiter.allowed(0), expected);
        }
        // Additive increase: 1 success lifts 1 → 2, 2 more lift 2 → 3, ... up to 8.
        let mut successes = 0;
        let mut recovered = Vec::new();
        while limiter.allowed(0) < 8 {
            let permit = limiter.acquire();
            recovered.extend(permit.succeeded());
            successes += 1;
            assert!(successes < 100, "no recovery");
        }
        assert_eq!(successes, 1 + 2 + 3 + 4 + 5 + 6 + 7);
        assert_eq!(
            recovered,
            vec![Adjustment::Recovered {
                endpoint: 0,
                max: 8
            }]
        );
        assert_eq!(limiter.acquire().succeeded(), None);
    }

    #[test]
    fn the_bound_holds_after_a_decrease() {
        let limiter = Limiter::new(4);
        limiter.acquire().throttled();
        assert_eq!(limiter.allowed(0), 2);
        let held: Vec<_> = (0..2).map(|_| limiter.acquire()).collect();
        let waiter = std::thread::scope(|scope| {
            let handle = scope.spawn(|| limiter.acquire().endpoint());
            // The third caller waits until one of the two is dropped.
            drop(held);
            handle.join().expect("waiter")
        });
        assert_eq!(waiter, 0);
        assert_eq!(limiter.peak(), 2);
    }

    #[test]
    fn endpoints_are_chosen_least_busy_first() {
        let limiter = Limiter::with_endpoints(2, 3);
        let permits: Vec<_> = (0..6).map(|_| limiter.acquire()).collect();
        let mut per_endpoint = [0; 3];
        for permit in &permits {
            per_endpoint[permit.endpoint()] += 1;
        }
        assert_eq!(per_endpoint, [2, 2, 2]);
        // The first three go to three different endpoints.
        let firsts: std::collections::BTreeSet<_> =
            permits[..3].iter().map(Permit::endpoint).collect();
        assert_eq!(firsts.len(), 3);
        // A decrease on one endpoint leaves the others alone.
        permits[0].throttled();
        assert_eq!(limiter.allowed(permits[0].endpoint()), 1);
        let others: usize = (0..3).map(|i| limiter.allowed(i)).sum();
        assert_eq!(others, 1 + 2 + 2);
    }

    #[test]
    fn zero_is_treated_as_one() {
        let limiter = Limiter::new(0);
        drop(limiter.acquire());
        assert_eq!(limiter.peak(), 1);
    }
}
