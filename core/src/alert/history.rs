//! Bit-packed histories behind the debounce counts and flap detection: O(1) counts by popcount.

use crate::Level;
use serde::{Deserialize, Serialize};

const LOW_BITS: u64 = 0x5555_5555_5555_5555;

/// Mask of the lowest `bits` bits (`bits` ≤ 64).
const fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// The last 32 readings as the debounce counts see them: the levels (OK, WARNING, CRITICAL) of the
/// valid ones, two bits each, and whether each reading was invalid, one bit each; newest lowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct ReadingHistory {
    levels: u64,
    invalid: u32,
    /// Valid readings in `levels`, at most 32.
    valid_len: u8,
    /// Readings in `invalid`, at most 32.
    len: u8,
}

impl ReadingHistory {
    pub(crate) const EMPTY: ReadingHistory = ReadingHistory {
        levels: 0,
        invalid: 0,
        valid_len: 0,
        len: 0,
    };

    /// A valid reading at `level` (OK, WARNING or CRITICAL; UNKNOWN counts as OK).
    pub(crate) fn push_valid(&mut self, level: Level) {
        let code = match level {
            Level::Ok | Level::Unknown => 0,
            Level::Warning => 1,
            Level::Critical => 2,
        };
        self.levels = (self.levels << 2) | code;
        self.valid_len = self.valid_len.saturating_add(1).min(32);
        self.push_validity(false);
    }

    /// An invalid reading: it counts toward UNKNOWN and is neutral for the levels.
    pub(crate) fn push_invalid(&mut self) {
        self.push_validity(true);
    }

    fn push_validity(&mut self, invalid: bool) {
        self.invalid = (self.invalid << 1) | u32::from(invalid);
        self.len = self.len.saturating_add(1).min(32);
    }

    /// Whether the newest reading, if any, was invalid.
    pub(crate) const fn newest_invalid(&self) -> bool {
        self.len > 0 && self.invalid & 1 != 0
    }

    /// The newest valid reading's level, if any.
    pub(crate) fn newest_level(&self) -> Option<Level> {
        (self.valid_len > 0).then_some(match self.levels & 3 {
            0 => Level::Ok,
            1 => Level::Warning,
            _ => Level::Critical,
        })
    }

    /// Of the last `m` (≤ 32) valid readings: how many are at least as bad as `level`, and how many
    /// at least as good.
    pub(crate) fn level_counts(&self, level: Level, m: u8) -> (u32, u32) {
        let present = u32::from(m.min(self.valid_len));
        let window = low_mask(2 * present) & LOW_BITS;
        let lo = self.levels & window;
        let hi = (self.levels >> 1) & window;
        let at_least_warning = (lo | hi).count_ones();
        let critical = hi.count_ones();
        match level {
            Level::Ok => (present, present - at_least_warning),
            Level::Warning => (at_least_warning, present - critical),
            Level::Critical | Level::Unknown => (critical, present),
        }
    }

    /// Of the last `m` (≤ 32) readings: `(invalid, valid)`.
    pub(crate) fn validity_counts(&self, m: u8) -> (u32, u32) {
        let present = u32::from(m.min(self.len));
        let invalid = (u64::from(self.invalid) & low_mask(present)).count_ones();
        (invalid, present - invalid)
    }
}

/// Nagios' flap history: the last 21 recorded levels, two bits each, newest lowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct FlapHistory(u64);

impl FlapHistory {
    /// A history of 21 OKs (a new machine's), as Nagios fills it when flap detection is turned on:
    /// PSC 0.
    pub(crate) const ALL_OK: FlapHistory = FlapHistory(0);
}

/// Entries in a flap history (`MAX_STATE_HISTORY_ENTRIES` in Nagios).
pub const FLAP_HISTORY_LEN: u32 = 21;

impl FlapHistory {
    pub(crate) fn push(&mut self, level: Level) {
        let code = u64::from(level.exit_code() & 3);
        self.0 = ((self.0 << 2) | code) & low_mask(2 * FLAP_HISTORY_LEN);
    }

    /// Nagios' weighted percent state change (`base/flapping.c`): walking from the oldest entry to the
    /// newest, a change at position k (1 to 20) weighs `0.75 + (k − 1)·0.5/19`, so the oldest change
    /// counts 0.75 and the newest 1.25; PSC = 100·Σw/20. The weights are exact in units of 1/76
    /// (`57 + 2(k − 1)`), so the sum is an integer and the result is bit-identical everywhere.
    pub(crate) fn percent_state_change(&self) -> f32 {
        let mut weight_76ths = 0u32;
        for age in 0..FLAP_HISTORY_LEN - 1 {
            let newer = (self.0 >> (2 * age)) & 3;
            let older = (self.0 >> (2 * (age + 1))) & 3;
            if newer != older {
                // Position from the oldest: k = 20 − age, weight 57 + 2(k − 1) = 95 − 2·age.
                weight_76ths += 95 - 2 * age;
            }
        }
        (5 * weight_76ths) as f32 / 76.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cover_both_directions_a_short_history_and_invalid_readings() {
        let mut h = ReadingHistory::EMPTY;
        assert_eq!(h.level_counts(Level::Warning, 5), (0, 0));
        for level in [Level::Ok, Level::Warning, Level::Critical, Level::Warning] {
            h.push_valid(level);
        }
        h.push_invalid();
        // Valid, newest first: W, C, W, OK; the invalid reading is neutral for the levels.
        assert_eq!(h.newest_level(), Some(Level::Warning));
        assert_eq!(h.level_counts(Level::Warning, 32), (3, 3));
        assert_eq!(h.level_counts(Level::Critical, 32), (1, 4));
        assert_eq!(h.level_counts(Level::Ok, 32), (4, 1));
        assert_eq!(h.level_counts(Level::Critical, 1), (0, 1));
        assert_eq!(h.level_counts(Level::Critical, 2), (1, 2));
        assert_eq!(h.validity_counts(1), (1, 0));
        assert_eq!(h.validity_counts(3), (1, 2));
        assert_eq!(h.validity_counts(32), (1, 4));
        for _ in 0..40 {
            h.push_valid(Level::Critical);
        }
        assert_eq!(h.level_counts(Level::Critical, 32), (32, 32));
        assert_eq!(h.level_counts(Level::Ok, 32), (32, 0));
        assert_eq!(h.validity_counts(32), (0, 32));
    }

    #[test]
    fn percent_state_change_matches_nagios() {
        let mut h = FlapHistory::ALL_OK;
        assert_eq!(h.percent_state_change(), 0.0);
        // One change, at the newest position: 1.25 · 100 / 20.
        h.push(Level::Critical);
        assert_eq!(h.percent_state_change(), 6.25);
        // A change at every position: Σ w = 20, PSC = 100.
        let mut alternating = FlapHistory::ALL_OK;
        for i in 0..21 {
            alternating.push(if i % 2 == 0 {
                Level::Warning
            } else {
                Level::Ok
            });
        }
        assert_eq!(alternating.percent_state_change(), 100.0);
        // The oldest change alone: 0.75 · 5 = 3.75.
        let mut oldest = FlapHistory::ALL_OK;
        for _ in 0..20 {
            oldest.push(Level::Warning);
        }
        assert_eq!(oldest.percent_state_change(), 3.75);
    }
}
