//! The bodies a frame carries, one type per [`Kind`], serialised with postcard.
//!
//! Field order is the wire order. Enums encode as their variant index: append variants, never reorder.

use super::{Kind, MAX_FIRMWARE_LEN, MAX_LOG_BYTES, MAX_METRICS, MAX_NAME_LEN, MAX_READINGS};
use super::{MAX_UNIT_LEN, SCHEMA_HASH};
use crate::monitor::MetricSpec;
use crate::trend::Crossing;
use crate::Level;
use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// The summary of a metric's alert rule that a node announces in its [`Hello`]: which side is bad and
/// the static thresholds. The full rule follows in the metric's [`Kind::Metric`] frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RuleSummary {
    /// Which side of the thresholds is bad: `Above` means bad at or above them.
    pub crossing: Crossing,
    /// Warning threshold, if any.
    pub warning: Option<f32>,
    /// Critical threshold, if any.
    pub critical: Option<f32>,
}

/// One metric a node reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MetricDescriptor {
    /// The id readings and transitions use.
    pub id: u16,
    /// Name, e.g. `inlet_temperature`.
    pub name: String<MAX_NAME_LEN>,
    /// Unit, e.g. `degC`.
    pub unit: String<MAX_UNIT_LEN>,
    /// The alert rule, summarised.
    pub rule: RuleSummary,
    /// The values' lattice, when they are a driver's conversion of integer counts; `None` otherwise.
    pub lattice: Option<Lattice>,
}

/// The values a metric can take: `offset + k × step` for integer `k`, computed in f64 and rounded to
/// f32, give or take one unit in the last place where the driver's own arithmetic rounded the other
/// way. A sensor's driver converts integer counts this way; storage and the wire code such values as
/// small integer steps ([`crate::codec::Values::Lattice`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Lattice {
    /// The value at `k = 0`.
    pub offset: f32,
    /// The distance between neighbouring values.
    pub step: f32,
}

impl Lattice {
    /// How the chunk codec codes this metric's values (XOR when the step or offset is unusable).
    pub fn values(self) -> crate::codec::Values {
        crate::codec::Values::lattice(self.offset, self.step)
    }
}

/// Sent at boot: who the node is and what it measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Hello {
    /// Firmware version, e.g. `0.1.0`.
    pub firmware: String<MAX_FIRMWARE_LEN>,
    /// The node's [`SCHEMA_HASH`]: a host with another hash may misread the node's bodies.
    pub schema_hash: u64,
    /// The metrics, in id order.
    pub metrics: Vec<MetricDescriptor, MAX_METRICS>,
}

impl Hello {
    /// A Hello with this build's [`SCHEMA_HASH`] and no metrics yet.
    pub const fn new(firmware: String<MAX_FIRMWARE_LEN>) -> Hello {
        Hello {
            firmware,
            schema_hash: SCHEMA_HASH,
            metrics: Vec::new(),
        }
    }
}

/// One reading in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reading {
    /// Metric id.
    pub metric: u16,
    /// Milliseconds after the batch's `base_ms`.
    pub offset_ms: u32,
    /// The value.
    pub value: f32,
}

/// A batch of readings, filled with [`Readings::push`] until it reports [`BatchError::Full`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Readings {
    /// Time of the batch's first reading, ms since the node booted; offsets count from here.
    pub base_ms: u64,
    /// The readings, in the order they were taken.
    pub readings: Vec<Reading, MAX_READINGS>,
}

/// Why a reading could not join a batch; the batch is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BatchError {
    /// The batch holds [`MAX_READINGS`]: send it and start another.
    Full,
    /// The reading is earlier than the batch's base, or more than `u32::MAX` ms after it: send the
    /// batch and start another.
    OutOfSpan,
}

impl core::fmt::Display for BatchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            BatchError::Full => "the readings batch is full",
            BatchError::OutOfSpan => "the reading's time is outside the batch's span",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BatchError {}

impl Readings {
    /// An empty batch.
    pub const fn new() -> Readings {
        Readings {
            base_ms: 0,
            readings: Vec::new(),
        }
    }

    /// Adds a reading taken at `t_ms`. The first reading of an empty batch sets `base_ms`.
    pub fn push(&mut self, metric: u16, t_ms: u64, value: f32) -> Result<(), BatchError> {
        if self.readings.is_full() {
            return Err(BatchError::Full);
        }
        let base_ms = if self.readings.is_empty() {
            t_ms
        } else {
            self.base_ms
        };
        let offset_ms = t_ms
            .checked_sub(base_ms)
            .and_then(|d| u32::try_from(d).ok())
            .ok_or(BatchError::OutOfSpan)?;
        self.readings
            .push(Reading {
                metric,
                offset_ms,
                value,
            })
            .map_err(|_| BatchError::Full)?;
        self.base_ms = base_ms;
        Ok(())
    }

    /// Readings in the batch.
    pub fn len(&self) -> usize {
        self.readings.len()
    }

    /// No readings yet.
    pub fn is_empty(&self) -> bool {
        self.readings.is_empty()
    }

    /// The batch holds [`MAX_READINGS`]: the next [`push`](Self::push) fails.
    pub fn is_full(&self) -> bool {
        self.readings.is_full()
    }

    /// Empties the batch for reuse.
    pub fn clear(&mut self) {
        self.readings.clear();
        self.base_ms = 0;
    }

    /// The readings as `(metric, time ms since boot, value)`. A time past `u64::MAX` (only a forged
    /// batch has one) saturates at `u64::MAX`.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64, f32)> + '_ {
        self.readings.iter().map(|r| {
            (
                r.metric,
                self.base_ms.saturating_add(u64::from(r.offset_ms)),
                r.value,
            )
        })
    }
}

/// What made an alert change level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Cause {
    /// The value crossed a bound.
    Value {
        /// The reading.
        value: f32,
        /// The bound it crossed.
        bound: f32,
    },
    /// The forecast reaches a threshold within the rule's horizon.
    Eta {
        /// Time to the threshold.
        eta_ms: u64,
        /// The threshold.
        threshold: f32,
    },
    /// The anomaly score crossed the rule's level.
    Anomaly {
        /// The score, 0 to 1.
        score: f32,
    },
    /// No reading arrived before the deadline.
    MissingData {
        /// Time of the last reading, ms since boot.
        last_seen_ms: u64,
    },
    /// The sensor failed: stuck, out of its physical range, or not answering.
    SensorFault,
    /// Flapping stopped; this transition reports the settled level.
    FlappingStopped,
    /// The forecast no longer guards the level being left: why, as of this reading.
    ForecastReceded {
        /// What the forecast says now.
        outlook: Outlook,
    },
}

/// What a forecast says when a level it raised may end ([`Cause::ForecastReceded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outlook {
    /// A confident estimate beyond the level's clear horizon.
    Beyond {
        /// Time to the threshold now.
        eta_ms: u64,
        /// The clear horizon it is beyond.
        horizon_ms: u32,
    },
    /// The trend is confidently flat or moving away from the threshold.
    Never,
    /// No confident estimate has supported the level for this long (the rule's hold time, or
    /// more).
    Unsure {
        /// Time since the last confident estimate that supported the level.
        for_ms: u32,
    },
}

/// An alert changed level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transition {
    /// Metric id.
    pub metric: u16,
    /// The level before.
    pub from: Level,
    /// The level after.
    pub to: Level,
    /// When, ms since the node booted.
    pub at_ms: u64,
    /// Why.
    pub cause: Cause,
    /// Per-alert sequence number; never repeats within a boot.
    pub alert_seq: u32,
    /// Notifications are suppressed (the alert is flapping).
    pub suppressed: bool,
}

/// Why the node last reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResetReason {
    /// Power applied.
    PowerOn,
    /// The reset pin.
    Pin,
    /// The firmware asked for it.
    Software,
    /// A watchdog expired.
    Watchdog,
    /// The supply dipped.
    Brownout,
    /// The hardware did not say, or said something else.
    Unknown,
}

/// Liveness and the node's counters, sent every few seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Heartbeat {
    /// Milliseconds since boot.
    pub uptime_ms: u64,
    /// Why the node last reset.
    pub reset: ResetReason,
    /// Frames sent this boot.
    pub frames_sent: u32,
    /// Frames dropped this boot because the line could not keep up.
    pub frames_dropped: u32,
    /// Readings dropped this boot.
    pub readings_dropped: u32,
    /// Sensor read errors this boot.
    pub sensor_errors: u32,
}

/// defmt-encoded log bytes, decoded on the host with the firmware's ELF.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Log {
    /// The next bytes of the firmware's defmt stream as its logger encodes it (rzcobs frames,
    /// defmt's default), at most [`MAX_LOG_BYTES`]; may end inside a frame.
    pub defmt: Vec<u8, MAX_LOG_BYTES>,
}

/// A frame's typed content.
///
/// Held by value: core has no allocator to box the large [`Hello`], and a decoder hands out one frame
/// at a time. `size_of::<Body>()` is 1200 bytes on 64-bit targets and 1064 on 32-bit ones (heapless
/// keeps `usize` lengths); [`encode_body`](super::encode_body) encodes a body without building one.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(clippy::large_enum_variant)]
pub enum Body {
    /// See [`Hello`].
    Hello(Hello),
    /// See [`Readings`].
    Readings(Readings),
    /// See [`Transition`].
    Transition(Transition),
    /// See [`Heartbeat`].
    Heartbeat(Heartbeat),
    /// See [`Log`].
    Log(Log),
    /// One metric's [`MetricSpec`]: what the node measures and exactly how it judges it, so a host
    /// can replay the node's readings through the same rules.
    Metric(MetricSpec),
}

impl Body {
    /// The kind byte this body travels under.
    pub const fn kind(&self) -> Kind {
        match self {
            Body::Hello(_) => Kind::Hello,
            Body::Readings(_) => Kind::Readings,
            Body::Transition(_) => Kind::Transition,
            Body::Heartbeat(_) => Kind::Heartbeat,
            Body::Log(_) => Kind::Log,
            Body::Metric(_) => Kind::Metric,
        }
    }

    /// Serialises with postcard into `buf`, returning the bytes used.
    pub(crate) fn serialize_into<'b>(&self, buf: &'b mut [u8]) -> postcard::Result<&'b mut [u8]> {
        match self {
            Body::Hello(b) => postcard::to_slice(b, buf),
            Body::Readings(b) => postcard::to_slice(b, buf),
            Body::Transition(b) => postcard::to_slice(b, buf),
            Body::Heartbeat(b) => postcard::to_slice(b, buf),
            Body::Log(b) => postcard::to_slice(b, buf),
            Body::Metric(b) => postcard::to_slice(b, buf),
        }
    }

    /// The postcard length of this body.
    pub fn encoded_len(&self) -> usize {
        match self {
            Body::Hello(b) => postcard_len(b),
            Body::Readings(b) => postcard_len(b),
            Body::Transition(b) => postcard_len(b),
            Body::Heartbeat(b) => postcard_len(b),
            Body::Log(b) => postcard_len(b),
            Body::Metric(b) => postcard_len(b),
        }
    }

    /// Deserialises a body of `kind`, returning it and the number of bytes left over.
    pub(crate) fn deserialize(kind: Kind, bytes: &[u8]) -> Result<(Body, usize), postcard::Error> {
        fn take<'a, T: Deserialize<'a>>(
            bytes: &'a [u8],
            wrap: fn(T) -> Body,
        ) -> Result<(Body, usize), postcard::Error> {
            postcard::take_from_bytes::<T>(bytes).map(|(body, rest)| (wrap(body), rest.len()))
        }
        match kind {
            Kind::Hello => take(bytes, Body::Hello),
            Kind::Readings => take(bytes, Body::Readings),
            Kind::Transition => take(bytes, Body::Transition),
            Kind::Heartbeat => take(bytes, Body::Heartbeat),
            Kind::Log => take(bytes, Body::Log),
            Kind::Metric => take(bytes, Body::Metric),
        }
    }
}

/// The postcard length of `value`. Serialising into the size-counting flavor cannot fail for these
/// types (no maps, no unknown lengths); 0 would only under-report, and callers still bound-check.
pub(crate) fn postcard_len<T: Serialize>(value: &T) -> usize {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default()).unwrap_or(0)
}

mod sealed {
    pub trait Sealed {}
}

/// A body type: one of [`Hello`], [`Readings`], [`Transition`], [`Heartbeat`] and [`Log`], with the
/// kind it travels under. Sealed: the wire's kinds are this module's to define.
pub trait BodyType: Serialize + sealed::Sealed {
    /// The header's kind byte for this body.
    const KIND: Kind;
}

macro_rules! body_type {
    ($($ty:ident),*) => {$(
        impl sealed::Sealed for $ty {}
        impl BodyType for $ty {
            const KIND: Kind = Kind::$ty;
        }
        impl From<$ty> for Body {
            fn from(body: $ty) -> Body {
                Body::$ty(body)
            }
        }
    )*};
}

body_type!(Hello, Readings, Transition, Heartbeat, Log);

impl sealed::Sealed for MetricSpec {}
impl BodyType for MetricSpec {
    const KIND: Kind = Kind::Metric;
}
impl From<MetricSpec> for Body {
    fn from(body: MetricSpec) -> Body {
        Body::Metric(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_batch_fills_and_reports_full() {
        let mut r = Readings::new();
        assert!(r.is_empty());
        for i in 0..MAX_READINGS as u64 {
            assert!(!r.is_full());
            r.push(1, 500 + i, 0.5).unwrap();
        }
        assert!(r.is_full());
        assert_eq!(r.len(), MAX_READINGS);
        assert_eq!(r.push(1, 1000, 1.0), Err(BatchError::Full));
        assert_eq!(r.base_ms, 500);
        r.clear();
        assert!(r.is_empty());
        r.push(2, 7, 1.0).unwrap();
        assert_eq!(r.base_ms, 7);
    }

    #[test]
    fn readings_batch_rejects_times_outside_its_span() {
        let mut r = Readings::default();
        r.push(1, 1000, 1.0).unwrap();
        assert_eq!(r.push(1, 999, 1.0), Err(BatchError::OutOfSpan));
        assert_eq!(
            r.push(1, 1000 + u64::from(u32::MAX) + 1, 1.0),
            Err(BatchError::OutOfSpan)
        );
        r.push(2, 1000 + u64::from(u32::MAX), 2.0).unwrap();
        assert_eq!(
            r.iter().collect::<std::vec::Vec<_>>(),
            [(1, 1000, 1.0), (2, 1000 + u64::from(u32::MAX), 2.0)]
        );
    }

    #[test]
    fn forged_batch_times_saturate() {
        let r = Readings {
            base_ms: u64::MAX - 1,
            readings: Vec::from_slice(&[Reading {
                metric: 0,
                offset_ms: u32::MAX,
                value: 0.0,
            }])
            .unwrap(),
        };
        assert_eq!(r.iter().next(), Some((0, u64::MAX, 0.0)));
    }

    #[test]
    fn hello_new_carries_the_schema_hash() {
        let hello = Hello::new(String::try_from("0.1.0").unwrap());
        assert_eq!(hello.schema_hash, SCHEMA_HASH);
        assert_eq!(Body::from(hello).kind(), Kind::Hello);
    }

    /// Every enum's variant index is pinned: reordering one (here or in `Level` and `Crossing`, which
    /// other modules own) would silently change the wire, so it fails here.
    #[test]
    fn enum_encodings_are_pinned() {
        fn bytes<T: Serialize>(value: &T) -> std::vec::Vec<u8> {
            postcard::to_stdvec(value).unwrap()
        }
        let levels = [Level::Ok, Level::Warning, Level::Critical, Level::Unknown];
        for (i, level) in levels.iter().enumerate() {
            assert_eq!(bytes(level), [i as u8]);
        }
        assert_eq!(bytes(&Crossing::Above), [0]);
        assert_eq!(bytes(&Crossing::Below), [1]);
        let resets = [
            ResetReason::PowerOn,
            ResetReason::Pin,
            ResetReason::Software,
            ResetReason::Watchdog,
            ResetReason::Brownout,
            ResetReason::Unknown,
        ];
        for (i, reset) in resets.iter().enumerate() {
            assert_eq!(bytes(reset), [i as u8]);
        }
        let causes = [
            Cause::Value {
                value: 1.0,
                bound: 2.0,
            },
            Cause::Eta {
                eta_ms: 3,
                threshold: 4.0,
            },
            Cause::Anomaly { score: 0.5 },
            Cause::MissingData { last_seen_ms: 5 },
            Cause::SensorFault,
            Cause::FlappingStopped,
            Cause::ForecastReceded {
                outlook: Outlook::Never,
            },
        ];
        for (i, cause) in causes.iter().enumerate() {
            assert_eq!(bytes(cause)[0], i as u8);
        }
        let outlooks = [
            Outlook::Beyond {
                eta_ms: 3_000_000,
                horizon_ms: 2_700_000,
            },
            Outlook::Never,
            Outlook::Unsure { for_ms: 900_000 },
        ];
        for (i, outlook) in outlooks.iter().enumerate() {
            let cause = Cause::ForecastReceded { outlook: *outlook };
            assert_eq!(bytes(&cause)[..2], [6, i as u8]);
        }
        assert_eq!(
            bytes(&Cause::ForecastReceded {
                outlook: outlooks[0]
            }),
            [6, 0, 0xc0, 0x8d, 0xb7, 0x01, 0xe0, 0xe5, 0xa4, 0x01],
            "ForecastReceded: index, outlook index, varints"
        );
        assert_eq!(
            bytes(&causes[1]),
            [1, 3, 0x00, 0x00, 0x80, 0x40],
            "Eta: index, varint, f32 LE"
        );
    }

    #[test]
    fn encoded_len_matches_serialisation() {
        let body = Body::Log(Log {
            defmt: Vec::from_slice(&[7; 100]).unwrap(),
        });
        let mut buf = [0u8; 200];
        assert_eq!(body.serialize_into(&mut buf).unwrap().len(), 101);
        assert_eq!(body.encoded_len(), 101);
    }
}
