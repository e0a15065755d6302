//! Fixed-capacity sliding windows over the most recent samples, with running aggregates.
//!
//! [`Window<N>`] keeps the last `N` `(time, value)` samples and, at every push, the count, sum, mean,
//! variance, minimum, maximum and the least-squares [`Fit`] over exactly those samples.
//!
//! Invariants:
//! - Memory is fixed by `N` (1 ≤ N ≤ 65 535, checked at compile time):
//!   `size_of::<Window<N>>() == 12·N + 128` bytes, rounded up to 8 (e.g. 896 bytes for N = 64).
//!   Values are `f32`; times are stored as `u32` deltas from the previous sample, so a gap longer than
//!   `u32::MAX` ms (49.7 days) empties the window first: such samples are not "recent" together.
//! - Sum, mean, variance and fit: O(1) per push. Minimum and maximum: monotonic deques, O(1)
//!   amortised (each sample enters and leaves each deque once; one push may pop up to `N` entries).
//! - No drift on streams of any length: the moments are updated incrementally in `f64`, and a shadow
//!   copy rebuilt from additions alone replaces them every `N` pushes, so rounding error never builds
//!   up over more than `2·N` updates.
//! - A refused sample ([`SampleError`]) leaves the window unchanged.

use crate::trend::{Crossing, EtaPolicy, Fit, Moments, TimeTo};
use crate::SampleError;

/// The last `N` samples with running aggregates. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Window<const N: usize> {
    values: [f32; N],
    /// `gaps[i]`: milliseconds from the sample before slot `i` to slot `i`; unused for the oldest.
    gaps: [u32; N],
    oldest_ms: u64,
    newest_ms: u64,
    /// Moments of the samples in the window.
    moments: Moments,
    /// Moments of the samples pushed since the last swap; replaces `moments` after `N` pushes.
    shadow: Moments,
    /// Ring slot of the oldest sample.
    head: u16,
    len: u16,
    shadow_len: u16,
    /// Slots whose values decrease from front to back: the front is the window's maximum.
    max_slots: SlotDeque<N>,
    /// Slots whose values increase from front to back: the front is the window's minimum.
    min_slots: SlotDeque<N>,
}

impl<const N: usize> Default for Window<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Window<N> {
    const CAPACITY_IS_VALID: () = assert!(
        N >= 1 && N <= u16::MAX as usize,
        "Window capacity must be 1..=65535"
    );

    /// An empty window.
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::CAPACITY_IS_VALID;
        Window {
            values: [0.0; N],
            gaps: [0; N],
            oldest_ms: 0,
            newest_ms: 0,
            moments: Moments::EMPTY,
            shadow: Moments::EMPTY,
            head: 0,
            len: 0,
            shadow_len: 0,
            max_slots: SlotDeque::new(),
            min_slots: SlotDeque::new(),
        }
    }

    /// Adds a sample; when the window is full the oldest sample leaves and is returned.
    pub fn push(&mut self, now_ms: u64, value: f32) -> Result<Option<(u64, f32)>, SampleError> {
        SampleError::check((self.len > 0).then_some(self.newest_ms), now_ms, value)?;
        if self.len > 0 && now_ms - self.newest_ms > u64::from(u32::MAX) {
            self.clear();
        }
        let evicted = if usize::from(self.len) == N {
            self.pop_oldest()
        } else {
            None
        };
        let gap = if self.len == 0 {
            0
        } else {
            now_ms - self.newest_ms
        };
        // The moments' time origin is the newest sample: move it to `now_ms`, then add at x = 0.
        self.moments.shift_origin(gap);
        self.moments.add(0.0, f64::from(value));
        self.shadow.shift_origin(gap);
        self.shadow.add(0.0, f64::from(value));
        self.shadow_len += 1;
        if usize::from(self.shadow_len) == N {
            self.moments = self.shadow;
            self.shadow = Moments::EMPTY;
            self.shadow_len = 0;
        }

        let slot = self.slot(self.len);
        if let (Some(v), Some(g)) = (self.values.get_mut(slot), self.gaps.get_mut(slot)) {
            *v = value;
            // Fits: longer gaps emptied the window above.
            *g = gap as u32;
        }
        if self.len == 0 {
            self.oldest_ms = now_ms;
        }
        self.newest_ms = now_ms;
        self.len += 1;
        let values = &self.values;
        let at = |s: u16| values.get(usize::from(s)).copied().unwrap_or(0.0);
        self.max_slots
            .push_back_over(slot as u16, |s| at(s) <= value);
        self.min_slots
            .push_back_over(slot as u16, |s| at(s) >= value);
        Ok(evicted)
    }

    fn pop_oldest(&mut self) -> Option<(u64, f32)> {
        let value = *self.values.get(usize::from(self.head))?;
        let oldest = (self.oldest_ms, value);
        let x = -((self.newest_ms - self.oldest_ms) as f64);
        self.moments.remove(x, f64::from(value));
        self.max_slots.pop_front_if(self.head);
        self.min_slots.pop_front_if(self.head);
        self.head = ((usize::from(self.head) + 1) % N) as u16;
        self.len -= 1;
        if self.len > 0 {
            self.oldest_ms +=
                u64::from(self.gaps.get(usize::from(self.head)).copied().unwrap_or(0));
        }
        Some(oldest)
    }

    /// Ring slot of the `i`-th oldest sample.
    fn slot(&self, i: u16) -> usize {
        (usize::from(self.head) + usize::from(i)) % N
    }

    /// Removes every sample.
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// The capacity `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Samples in the window.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the window holds no sample.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the window holds `N` samples.
    pub const fn is_full(&self) -> bool {
        self.len as usize == N
    }

    /// The newest sample.
    pub fn newest(&self) -> Option<(u64, f32)> {
        let slot = self.slot(self.len.checked_sub(1)?);
        Some((self.newest_ms, *self.values.get(slot)?))
    }

    /// The oldest sample.
    pub fn oldest(&self) -> Option<(u64, f32)> {
        (self.len > 0).then(|| {
            (
                self.oldest_ms,
                self.values
                    .get(usize::from(self.head))
                    .copied()
                    .unwrap_or(0.0),
            )
        })
    }

    /// The time span from the oldest to the newest sample, in ms.
    pub const fn span_ms(&self) -> u64 {
        self.newest_ms - self.oldest_ms
    }

    /// The samples, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, f32)> + '_ {
        let mut t = self.oldest_ms;
        (0..self.len).map(move |i| {
            let slot = self.slot(i);
            if i > 0 {
                t += u64::from(self.gaps.get(slot).copied().unwrap_or(0));
            }
            (t, self.values.get(slot).copied().unwrap_or(0.0))
        })
    }

    /// Sum of the values (0 when empty).
    pub fn sum(&self) -> f64 {
        self.moments.mean_y * self.moments.w
    }

    /// Mean of the values.
    pub fn mean(&self) -> Option<f64> {
        (self.len > 0).then_some(self.moments.mean_y)
    }

    /// Population variance of the values (divides by `n`).
    pub fn variance(&self) -> Option<f64> {
        (self.len > 0).then(|| self.moments.syy / self.moments.w)
    }

    /// Population standard deviation of the values.
    pub fn std_dev(&self) -> Option<f64> {
        self.variance().map(libm::sqrt)
    }

    /// Smallest value.
    pub fn min(&self) -> Option<f32> {
        self.values
            .get(usize::from(self.min_slots.front()?))
            .copied()
    }

    /// Largest value.
    pub fn max(&self) -> Option<f32> {
        self.values
            .get(usize::from(self.max_slots.front()?))
            .copied()
    }

    /// The least-squares line through the window, `None` without two distinct sample times.
    pub fn fit(&self) -> Option<Fit> {
        self.moments
            .fit(self.newest_ms, u32::from(self.len), self.moments.w)
    }

    /// [`Fit::time_to`] over the window; [`TimeTo::NotEnoughData`] when there is no fit.
    pub fn time_to(
        &self,
        now_ms: u64,
        threshold: f64,
        crossing: Crossing,
        policy: &EtaPolicy,
    ) -> TimeTo {
        self.fit().map_or(TimeTo::NotEnoughData, |fit| {
            fit.time_to(now_ms, threshold, crossing, policy)
        })
    }
}

/// A fixed ring of ring-slot numbers, used as a monotonic deque.
#[derive(Debug, Clone)]
struct SlotDeque<const N: usize> {
    slots: [u16; N],
    head: u16,
    len: u16,
}

impl<const N: usize> SlotDeque<N> {
    const fn new() -> Self {
        SlotDeque {
            slots: [0; N],
            head: 0,
            len: 0,
        }
    }

    fn front(&self) -> Option<u16> {
        (self.len > 0).then(|| self.slots.get(usize::from(self.head)).copied())?
    }

    fn pop_front_if(&mut self, slot: u16) {
        if self.front() == Some(slot) {
            self.head = ((usize::from(self.head) + 1) % N) as u16;
            self.len -= 1;
        }
    }

    /// Pops from the back every slot for which `dominated` holds, then pushes `slot`.
    fn push_back_over(&mut self, slot: u16, dominated: impl Fn(u16) -> bool) {
        while self.len > 0 {
            let back = (usize::from(self.head) + usize::from(self.len) - 1) % N;
            match self.slots.get(back) {
                Some(&s) if dominated(s) => self.len -= 1,
                _ => break,
            }
        }
        // The window holds at most N samples, each at most once here, so there is room.
        if usize::from(self.len) < N {
            let back = (usize::from(self.head) + usize::from(self.len)) % N;
            if let Some(s) = self.slots.get_mut(back) {
                *s = slot;
                self.len += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn size_is_part_of_the_contract() {
        assert_eq!(core::mem::size_of::<Window<64>>(), 12 * 64 + 128);
        assert_eq!(core::mem::size_of::<Window<1024>>(), 12 * 1024 + 128);
        assert_eq!(core::mem::size_of::<Window<4096>>(), 12 * 4096 + 128);
    }

    #[test]
    fn empty_window_has_no_aggregates() {
        let w = Window::<4>::new();
        assert!(w.is_empty());
        assert_eq!(
            (w.mean(), w.variance(), w.min(), w.max()),
            (None, None, None, None)
        );
        assert_eq!((w.newest(), w.oldest(), w.fit()), (None, None, None));
        assert_eq!(w.sum(), 0.0);
        assert_eq!(
            w.time_to(0, 1.0, Crossing::Above, &EtaPolicy::DEFAULT),
            TimeTo::NotEnoughData
        );
    }

    #[test]
    fn full_window_evicts_oldest_and_keeps_aggregates() {
        let mut w = Window::<3>::new();
        assert_eq!(w.push(10, 5.0), Ok(None));
        assert_eq!(w.push(20, 1.0), Ok(None));
        assert_eq!(w.push(30, 3.0), Ok(None));
        assert!(w.is_full());
        assert_eq!((w.min(), w.max(), w.sum()), (Some(1.0), Some(5.0), 9.0));
        assert_eq!(w.push(45, 2.0), Ok(Some((10, 5.0))));
        assert_eq!(
            w.iter().collect::<std::vec::Vec<_>>(),
            [(20, 1.0), (30, 3.0), (45, 2.0)]
        );
        assert_eq!(
            (w.min(), w.max(), w.oldest(), w.newest()),
            (Some(1.0), Some(3.0), Some((20, 1.0)), Some((45, 2.0)))
        );
        assert_eq!(w.span_ms(), 25);
        assert!((w.mean().unwrap() - 2.0).abs() < 1e-12);
        assert!((w.variance().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn refused_samples_leave_the_window_unchanged() {
        let mut w = Window::<8>::new();
        w.push(100, 1.0).unwrap();
        w.push(200, 2.0).unwrap();
        let before: std::vec::Vec<_> = w.iter().collect();
        assert_eq!(
            w.push(150, 3.0),
            Err(SampleError::TimeWentBackwards {
                last_ms: 200,
                now_ms: 150
            })
        );
        assert_eq!(w.push(300, f32::NAN), Err(SampleError::NonFinite));
        assert_eq!(w.push(300, f32::NEG_INFINITY), Err(SampleError::NonFinite));
        assert_eq!(w.iter().collect::<std::vec::Vec<_>>(), before);
        assert_eq!((w.len(), w.max()), (2, Some(2.0)));
    }

    #[test]
    fn a_gap_beyond_u32_ms_starts_a_new_window() {
        let mut w = Window::<8>::new();
        w.push(0, 1.0).unwrap();
        w.push(1000, 2.0).unwrap();
        let later = 1000 + u64::from(u32::MAX) + 1;
        assert_eq!(w.push(later, 9.0), Ok(None));
        assert_eq!(w.iter().collect::<std::vec::Vec<_>>(), [(later, 9.0)]);
        // Exactly u32::MAX is still a representable gap.
        w.push(later + u64::from(u32::MAX), 8.0).unwrap();
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn a_constant_run_after_wild_swings_has_exactly_zero_variance() {
        // Removing large values leaves rounding residue in incremental moments; the shadow rebuild
        // clears it within 2·N pushes, so a stuck sensor reads as exactly flat.
        let mut w = Window::<64>::new();
        let mut t = 0;
        for i in 0..1000 {
            t += 1000;
            w.push(t, if i % 2 == 0 { 1.0e6 + i as f32 } else { -3.0e5 })
                .unwrap();
        }
        for _ in 0..128 {
            t += 1000;
            w.push(t, 21.5).unwrap();
        }
        assert_eq!(w.variance(), Some(0.0));
        assert_eq!(w.mean(), Some(21.5));
        assert_eq!(w.fit().unwrap().slope_per_ms(), 0.0);
    }

    #[test]
    fn capacity_one_window() {
        let mut w = Window::<1>::new();
        w.push(1, 4.0).unwrap();
        assert_eq!(w.push(2, 6.0), Ok(Some((1, 4.0))));
        assert_eq!(
            (w.min(), w.max(), w.mean(), w.variance(), w.fit()),
            (Some(6.0), Some(6.0), Some(6.0), Some(0.0), None)
        );
    }

    #[test]
    fn window_fit_and_eta() {
        let mut w = Window::<16>::new();
        for i in 0..100u64 {
            w.push(i * 1000, 3.0 * i as f32).unwrap();
        }
        let fit = w.fit().unwrap();
        assert!((fit.slope_per_second() - 3.0).abs() < 1e-9);
        assert_eq!(fit.samples(), 16);
        match w.time_to(99_000, 600.0, Crossing::Above, &EtaPolicy::DEFAULT) {
            TimeTo::Eta(eta) => assert_eq!(eta.ms, 101_000),
            other => panic!("{other:?}"),
        }
    }

    /// Reference aggregates recomputed from scratch in f64.
    fn reference(samples: &[(u64, f32)]) -> (f64, f64, f32, f32, Option<(f64, f64)>) {
        let n = samples.len() as f64;
        let mean = samples.iter().map(|s| f64::from(s.1)).sum::<f64>() / n;
        let var = samples
            .iter()
            .map(|s| (f64::from(s.1) - mean).powi(2))
            .sum::<f64>()
            / n;
        let min = samples.iter().map(|s| s.1).fold(f32::INFINITY, f32::min);
        let max = samples
            .iter()
            .map(|s| s.1)
            .fold(f32::NEG_INFINITY, f32::max);
        let t0 = samples[0].0;
        let mx = samples.iter().map(|s| (s.0 - t0) as f64).sum::<f64>() / n;
        let sxx: f64 = samples
            .iter()
            .map(|s| ((s.0 - t0) as f64 - mx).powi(2))
            .sum();
        let sxy: f64 = samples
            .iter()
            .map(|s| ((s.0 - t0) as f64 - mx) * (f64::from(s.1) - mean))
            .sum();
        let fit = (sxx > 0.0).then(|| (sxy / sxx, mean - sxy / sxx * mx));
        (mean, var, min, max, fit)
    }

    proptest! {
        #[test]
        fn aggregates_equal_recomputation_from_scratch(
            steps in proptest::collection::vec((0u64..5_000, -1e4f32..1e4), 1..300)
        ) {
            let mut w = Window::<17>::new();
            let mut all = std::vec::Vec::new();
            let mut t = 1_000_000u64;
            for (dt, v) in steps {
                t += dt;
                w.push(t, v).unwrap();
                all.push((t, v));
                let start = all.len().saturating_sub(17);
                let recent = &all[start..];
                prop_assert_eq!(w.iter().collect::<std::vec::Vec<_>>(), recent.to_vec());
                let (mean, var, min, max, fit) = reference(recent);
                let scale = recent.iter().map(|s| f64::from(s.1.abs())).fold(1.0, f64::max);
                prop_assert!((w.mean().unwrap() - mean).abs() <= 1e-9 * scale);
                prop_assert!((w.sum() - mean * recent.len() as f64).abs() <= 1e-8 * scale * 17.0);
                prop_assert!((w.variance().unwrap() - var).abs() <= 1e-9 * scale * scale);
                prop_assert_eq!((w.min(), w.max()), (Some(min), Some(max)));
                match (w.fit(), fit) {
                    (Some(got), Some((slope, intercept))) => {
                        let t0 = recent[0].0;
                        let span = (recent.last().unwrap().0 - t0) as f64;
                        prop_assert!((got.slope_per_ms() - slope).abs() * span <= 1e-8 * scale);
                        prop_assert!((got.value_at(t0) - intercept).abs() <= 1e-8 * scale);
                    }
                    (None, None) => {}
                    (got, want) => prop_assert!(false, "fit {:?} vs reference {:?}", got, want),
                }
            }
        }
    }
}
