//! N-of-M and `for` debounce of one direction of change.
//!
//! Invariants: `samples ≤ of_last ≤` [`MAX_DEBOUNCE_SAMPLES`] for a checked rule; an unchecked one
//! is clamped into that domain, never a panic.

use serde::{Deserialize, Serialize};

/// Most samples an N-of-M debounce can look back over.
pub const MAX_DEBOUNCE_SAMPLES: u8 = 32;

/// Debounce of one direction: a change needs support from `samples` of the last `of_last` readings,
/// held without interruption for `for_ms`.
///
/// `samples` = `of_last` = 1 and `for_ms` = 0 change on the first supporting reading. `for_ms` alone
/// is Prometheus' `for` (inclusive: the change happens on the first reading at least `for_ms` after
/// the first supporting one); `samples` = `of_last` = N is Nagios' `max_check_attempts`; `samples` <
/// `of_last` tolerates misses (3 of 5: one good reading among bad ones does not restart anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct Debounce {
    /// N: supporting readings needed, 1 ≤ N ≤ `of_last`.
    pub samples: u8,
    /// M: readings looked back over, 1 ≤ M ≤ [`MAX_DEBOUNCE_SAMPLES`].
    pub of_last: u8,
    /// How long the N-of-M support must have held, inclusive.
    pub for_ms: u32,
}

impl Debounce {
    /// Change on the first supporting reading.
    pub const IMMEDIATE: Debounce = Debounce {
        samples: 1,
        of_last: 1,
        for_ms: 0,
    };

    /// N of the last M readings.
    pub const fn count(samples: u8, of_last: u8) -> Debounce {
        Debounce {
            samples,
            of_last,
            for_ms: 0,
        }
    }

    /// Every reading for `for_ms` (Prometheus' `for`).
    pub const fn time(for_ms: u32) -> Debounce {
        Debounce {
            samples: 1,
            of_last: 1,
            for_ms,
        }
    }

    /// `(N, M)` clamped into their domains.
    pub(crate) fn n_of_m(&self) -> (u8, u8) {
        let m = self.of_last.clamp(1, MAX_DEBOUNCE_SAMPLES);
        (self.samples.clamp(1, m), m)
    }
}

// The default, so that a configuration file names only what it changes (`#[serde(default)]`;
// postcard, which always writes every field, is unaffected).
impl Default for Debounce {
    fn default() -> Debounce {
        Debounce::IMMEDIATE
    }
}
