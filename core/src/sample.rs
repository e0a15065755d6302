//! What every streaming state accepts as a sample, and the typed refusal of what it does not.
//!
//! Every state in core takes samples as `(now_ms, value)`: `now_ms` is monotonic milliseconds chosen by the
//! caller and must never go backwards (equal times are allowed); `value` must be finite. A refused sample
//! leaves the state exactly as it was, because a NaN in a running sum would poison it for good and a
//! sample from the past would corrupt every time-weighted aggregate.

/// Why a sample was refused. The state that refused it is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SampleError {
    /// The sample's time is earlier than the last accepted sample's.
    TimeWentBackwards {
        /// Time of the last accepted sample.
        last_ms: u64,
        /// Time of the refused sample.
        now_ms: u64,
    },
    /// The value is NaN or infinite.
    NonFinite,
}

impl SampleError {
    /// Checks a sample against the last accepted time (`None` before the first sample).
    pub fn check(last_ms: Option<u64>, now_ms: u64, value: f32) -> Result<(), SampleError> {
        if !value.is_finite() {
            return Err(SampleError::NonFinite);
        }
        match last_ms {
            Some(last_ms) if now_ms < last_ms => {
                Err(SampleError::TimeWentBackwards { last_ms, now_ms })
            }
            _ => Ok(()),
        }
    }
}

impl core::fmt::Display for SampleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SampleError::TimeWentBackwards { last_ms, now_ms } => write!(
                f,
                "sample time {now_ms} ms is earlier than the last accepted sample at {last_ms} ms; \
                 times must be monotonic"
            ),
            SampleError::NonFinite => f.write_str("sample value is NaN or infinite"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SampleError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_times_pass_earlier_times_and_non_finite_values_fail() {
        assert_eq!(SampleError::check(None, 0, 1.0), Ok(()));
        assert_eq!(SampleError::check(Some(5), 5, 1.0), Ok(()));
        assert_eq!(
            SampleError::check(Some(5), 4, 1.0),
            Err(SampleError::TimeWentBackwards {
                last_ms: 5,
                now_ms: 4
            })
        );
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(
                SampleError::check(Some(5), 6, bad),
                Err(SampleError::NonFinite)
            );
        }
    }
}
