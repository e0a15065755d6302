//! Events counted over a sliding window (restarts, OOM kills): the figure a "N within T" rule
//! judges.
//!
//! Invariants: memory is bounded — at most [`MAX_KEPT`] entries, the oldest dropped first (a
//! window that holds more events than that reports [`MAX_KEPT`] or more, which every sensible rule
//! already calls a loop); an entry leaves the window exactly `window` after it was added.

use std::collections::VecDeque;
use std::time::Duration;

/// The most entries kept.
pub const MAX_KEPT: usize = 1024;

/// Counts of events with their times, newest last.
#[derive(Debug, Clone)]
pub struct RecentEvents {
    window_ms: u64,
    entries: VecDeque<(u64, u64)>,
}

impl RecentEvents {
    /// An empty record of events in the last `window`.
    pub fn new(window: Duration) -> RecentEvents {
        RecentEvents {
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            entries: VecDeque::new(),
        }
    }

    /// `count` events at `wall_ms` (none is nothing).
    pub fn add(&mut self, wall_ms: u64, count: u64) {
        if count == 0 {
            return;
        }
        if self.entries.len() == MAX_KEPT {
            self.entries.pop_front();
        }
        self.entries.push_back((wall_ms, count));
    }

    /// Events within the window ending at `wall_ms`.
    pub fn count(&mut self, wall_ms: u64) -> u64 {
        while self
            .entries
            .front()
            .is_some_and(|(t, _)| wall_ms.saturating_sub(*t) >= self.window_ms)
        {
            self.entries.pop_front();
        }
        self.entries.iter().map(|(_, n)| n).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_leave_the_window_when_it_has_passed() {
        let mut e = RecentEvents::new(Duration::from_secs(60));
        e.add(1_000, 1);
        e.add(2_000, 0);
        e.add(30_000, 2);
        assert_eq!(e.count(30_000), 3);
        assert_eq!(e.count(60_999), 3);
        assert_eq!(e.count(61_000), 2);
        assert_eq!(e.count(90_000), 0);
    }

    #[test]
    fn memory_stays_bounded() {
        let mut e = RecentEvents::new(Duration::from_secs(3600));
        for t in 0..10 * MAX_KEPT as u64 {
            e.add(t, 1);
        }
        assert_eq!(e.count(10 * MAX_KEPT as u64), MAX_KEPT as u64);
    }
}
