//! The node application: sample each sensor on its period, hand every reading to the
//! [`MetricHook`], batch readings into Readings frames, send Transition frames at once, announce
//! the node with a Hello at boot and report liveness and counters in a Heartbeat every few seconds.
//!
//! [`Node`] is generic over the sensors ([`SensorSet`], which the real board implements over
//! embedded-hal 1.0 `I2c` and `DelayNs`), the serial line (embedded-io [`Write`] and
//! [`WriteReady`]), a [`Clock`] and the hook, so the whole application runs on the host with fakes.
//! A board calls [`Node::poll`] in its main loop and may sleep until [`Node::next_due_ms`].
//!
//! # The line
//! The node writes one frame at a time from a single [`MAX_ENCODED_LEN`] buffer, and only as many
//! bytes as the writer takes without blocking ([`WriteReady`]); the rest goes out on later polls.
//! Priorities when the line is free: the boot frames, then a due Heartbeat, then the readings batch
//! (when it holds `batch_len` readings or its first reading is `batch_age_ms` old), then log bytes
//! from the node's [`LogSource`] ([`Node::with_log`]) in Log frames of up to
//! [`MAX_LOG_BYTES`](rackwatch_core::wire::MAX_LOG_BYTES).
//!
//! # Invariants
//! - The first bytes after boot are a lone `0x00` (ending any partial frame a receiver holds from
//!   before the reset), then the Hello (sequence number 0), then a Metric frame for each metric the
//!   hook has a spec for. These boot frames are written blocking, before the first reading is taken.
//! - Sequence numbers count frames written, +1 each, wrapping; a frame once started is finished, so
//!   the receiver sees every number in order unless a write error abandons a frame (counted in
//!   `frames_dropped`, and ended on the line with a `0x00`).
//! - If the line cannot keep up, readings are dropped, never transitions: a reading that finds the
//!   batch at its capacity ([`MAX_READINGS`]) while a frame is still going out is counted in
//!   `readings_dropped` (the hook has still seen it); a Heartbeat that could not go out for a whole
//!   period is counted in `frames_dropped`; a transition is written at once, blocking until the line
//!   has taken it.
//! - Every failed sensor read is counted in `sensor_errors` and reported to the hook for each metric
//!   of that sensor. Counters wrap at 2^32, as the wire format says.
//! - A late poll samples each overdue sensor once and schedules it a period later; it does not
//!   catch up with a burst.
//! - No allocation, no panic: the buffer is indexed with checked slices, encoding into
//!   [`MAX_ENCODED_LEN`] bytes cannot fail (core's contract), and a writer error loses at most the
//!   frame in flight.

use crate::hook::{MetricHook, NoMonitors};
use crate::log::{LogSource, NoLog};
use crate::sensors::{SensorSet, MAX_SENSORS};
use embedded_io::{ErrorType, Write, WriteReady};
use heapless::String;
use rackwatch_core::trend::Crossing;
use rackwatch_core::wire::{
    encode_body, Body, BodyType, Frame, Header, Heartbeat, Hello, Log, MetricDescriptor, Readings,
    ResetReason, RuleSummary, Transition, MAX_ENCODED_LEN, MAX_FIRMWARE_LEN, MAX_METRICS,
    MAX_NAME_LEN, MAX_READINGS, MAX_UNIT_LEN,
};

#[cfg(test)]
mod tests;

/// This firmware's version, as the Hello announces it.
pub const FIRMWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The rule summary announced for a metric the hook has no rule for: no thresholds.
pub const NO_RULE: RuleSummary = RuleSummary {
    crossing: Crossing::Above,
    warning: None,
    critical: None,
};

/// Monotonic milliseconds since boot.
pub trait Clock {
    /// Now, in ms since boot; never less than an earlier call returned.
    fn now_ms(&self) -> u64;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

/// Makes a writer that may block usable as the node's line: it always reports ready, so every
/// frame is written whole, blocking, and nothing is ever dropped for a slow line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blocking<W>(pub W);

impl<W: ErrorType> ErrorType for Blocking<W> {
    type Error = W::Error;
}

impl<W: Write> Write for Blocking<W> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.0.flush()
    }
}

impl<W: Write> WriteReady for Blocking<W> {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// How a node identifies itself and paces its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeConfig {
    /// The node id in every header, unique on one host.
    pub node_id: u16,
    /// Changes at every boot (random, or a persisted counter).
    pub boot_id: u32,
    /// Why the node last reset, reported in every Heartbeat.
    pub reset: ResetReason,
    /// The firmware version the Hello announces, at most 16 bytes.
    pub firmware: &'static str,
    /// Milliseconds between two Heartbeats (at least 1).
    pub heartbeat_ms: u32,
    /// Readings that make a batch worth sending, 1 to [`MAX_READINGS`]. A batch holds up to
    /// [`MAX_READINGS`] while it waits for the line.
    pub batch_len: usize,
    /// A batch is sent when its first reading is this old, even if it is not full.
    pub batch_age_ms: u32,
}

impl NodeConfig {
    /// A Heartbeat every 5 s, batches of 32 readings or 10 s, this crate's version.
    pub const fn new(node_id: u16, boot_id: u32, reset: ResetReason) -> NodeConfig {
        NodeConfig {
            node_id,
            boot_id,
            reset,
            firmware: FIRMWARE_VERSION,
            heartbeat_ms: 5_000,
            batch_len: 32,
            batch_age_ms: 10_000,
        }
    }
}

/// Why a [`Node`] could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConfigError {
    /// The firmware version is longer than [`MAX_FIRMWARE_LEN`] bytes.
    FirmwareTooLong,
    /// `batch_len` is 0 or more than [`MAX_READINGS`].
    BatchLen,
    /// `heartbeat_ms` is 0.
    HeartbeatPeriod,
    /// The sensor set has more than [`MAX_SENSORS`] sensors.
    TooManySensors,
    /// The sensor set has more than [`MAX_METRICS`] metrics.
    TooManyMetrics,
    /// The metric with this id has a name longer than [`MAX_NAME_LEN`] or a unit longer than
    /// [`MAX_UNIT_LEN`] bytes.
    MetricText(u16),
}

/// What the node has done since boot. The first four travel in every Heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    /// Frames written whole.
    pub frames_sent: u32,
    /// Frames not sent: Heartbeats the line had no time for, frames abandoned on a write error.
    pub frames_dropped: u32,
    /// Readings taken but not sent because the line could not keep up.
    pub readings_dropped: u32,
    /// Failed sensor reads.
    pub sensor_errors: u32,
    /// Readings taken, sent or not.
    pub readings_taken: u32,
    /// Transition frames written.
    pub transitions_sent: u32,
}

/// What the transmit buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// A frame: counted when its last byte is written.
    Frame,
    /// The lone `0x00` that ends a partial frame on the line.
    Delimiter,
}

/// The serial line: one frame buffer, the header of the next frame and the counters.
struct Link<W> {
    out: W,
    buf: [u8; MAX_ENCODED_LEN],
    len: usize,
    pos: usize,
    load: Load,
    next: Header,
    counters: Counters,
}

impl<W: Write + WriteReady> Link<W> {
    fn busy(&self) -> bool {
        self.pos < self.len
    }

    /// Puts a frame carrying `body` into the idle buffer.
    fn load<B: BodyType>(&mut self, body: &B) {
        let encoded = encode_body(&self.next, body, &mut self.buf);
        self.loaded(encoded.ok());
    }

    /// Like [`load`](Self::load) for a body only a [`Body`] carries (the Metric frame).
    fn load_body(&mut self, body: Body) {
        let frame = Frame {
            header: self.next,
            body,
        };
        let encoded = frame.encode(&mut self.buf);
        self.loaded(encoded.ok());
    }

    fn loaded(&mut self, len: Option<usize>) {
        match len {
            Some(len) => {
                self.len = len;
                self.pos = 0;
                self.load = Load::Frame;
                self.next.seq = self.next.seq.wrapping_add(1);
            }
            // Cannot happen (every body fits MAX_ENCODED_LEN); counted, not sent, if it did.
            None => self.counters.frames_dropped = self.counters.frames_dropped.wrapping_add(1),
        }
    }

    fn load_delimiter(&mut self) {
        self.buf[0] = 0;
        self.len = 1;
        self.pos = 0;
        self.load = Load::Delimiter;
    }

    /// Writes what the writer takes without blocking.
    fn pump(&mut self) {
        while self.busy() {
            match self.out.write_ready() {
                Ok(true) => {}
                Ok(false) => return,
                Err(_) => return self.abandon(),
            }
            let pending = self.buf.get(self.pos..self.len).unwrap_or(&[]);
            match self.out.write(pending) {
                Ok(0) => return,
                Ok(n) => self.advance(n),
                Err(_) => return self.abandon(),
            }
        }
    }

    /// Writes the rest of the buffer, blocking.
    fn finish(&mut self) {
        while self.busy() {
            let pending = self.buf.get(self.pos..self.len).unwrap_or(&[]);
            match self.out.write(pending) {
                Ok(n) if n > 0 => self.advance(n),
                _ => self.abandon(),
            }
        }
    }

    fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.len);
        if !self.busy() && self.load == Load::Frame {
            self.counters.frames_sent = self.counters.frames_sent.wrapping_add(1);
        }
    }

    /// Gives up the buffer after a write error. A frame is counted as dropped and replaced by a
    /// delimiter, so the receiver loses only this frame; a failed delimiter is given up.
    fn abandon(&mut self) {
        match self.load {
            Load::Frame => {
                self.counters.frames_dropped = self.counters.frames_dropped.wrapping_add(1);
                self.load_delimiter();
            }
            Load::Delimiter => {
                self.len = 0;
                self.pos = 0;
            }
        }
    }

    /// Sends a transition now: finishes the frame in flight, then writes this one, blocking.
    fn send_transition(&mut self, transition: &Transition) {
        self.finish();
        self.load(transition);
        self.finish();
        self.counters.transitions_sent = self.counters.transitions_sent.wrapping_add(1);
    }
}

/// The node application. See the [module docs](self).
pub struct Node<S, W, C, H = NoMonitors, L = NoLog> {
    sensors: S,
    clock: C,
    hook: H,
    log: L,
    config: NodeConfig,
    link: Link<W>,
    started: bool,
    next_sample: [u64; MAX_SENSORS],
    next_heartbeat: u64,
    batch: Readings,
}

impl<S, W, C, H> Node<S, W, C, H>
where
    S: SensorSet,
    W: Write + WriteReady,
    C: Clock,
    H: MetricHook,
{
    /// A node that samples `sensors`, writes to `out` and judges with `hook`, without a log (see
    /// [`with_log`](Node::with_log)). Nothing is sent or sampled until the first
    /// [`poll`](Node::poll).
    pub fn new(
        sensors: S,
        out: W,
        clock: C,
        hook: H,
        config: NodeConfig,
    ) -> Result<Self, ConfigError> {
        if config.firmware.len() > MAX_FIRMWARE_LEN {
            return Err(ConfigError::FirmwareTooLong);
        }
        if config.batch_len == 0 || config.batch_len > MAX_READINGS {
            return Err(ConfigError::BatchLen);
        }
        if config.heartbeat_ms == 0 {
            return Err(ConfigError::HeartbeatPeriod);
        }
        if sensors.sensor_count() > MAX_SENSORS {
            return Err(ConfigError::TooManySensors);
        }
        let mut count = 0;
        while let Some(m) = sensors.metric(count) {
            if m.name.len() > MAX_NAME_LEN || m.unit.len() > MAX_UNIT_LEN {
                return Err(ConfigError::MetricText(m.id));
            }
            count += 1;
            if count > MAX_METRICS {
                return Err(ConfigError::TooManyMetrics);
            }
        }
        let now = clock.now_ms();
        Ok(Node {
            sensors,
            clock,
            hook,
            log: NoLog,
            link: Link {
                out,
                buf: [0; MAX_ENCODED_LEN],
                len: 0,
                pos: 0,
                load: Load::Frame,
                next: Header {
                    node_id: config.node_id,
                    boot_id: config.boot_id,
                    seq: 0,
                },
                counters: Counters::default(),
            },
            started: false,
            next_sample: [now; MAX_SENSORS],
            next_heartbeat: now.saturating_add(u64::from(config.heartbeat_ms)),
            batch: Readings::new(),
            config,
        })
    }

    /// The same node, sending the bytes of `log` in Log frames when the line is otherwise idle.
    pub fn with_log<L: LogSource>(self, log: L) -> Node<S, W, C, H, L> {
        Node {
            sensors: self.sensors,
            clock: self.clock,
            hook: self.hook,
            log,
            config: self.config,
            link: self.link,
            started: self.started,
            next_sample: self.next_sample,
            next_heartbeat: self.next_heartbeat,
            batch: self.batch,
        }
    }
}

impl<S, W, C, H, L> Node<S, W, C, H, L>
where
    S: SensorSet,
    W: Write + WriteReady,
    C: Clock,
    H: MetricHook,
    L: LogSource,
{
    /// Does what is due: the boot frames on the first call, then samples due sensors, lets the hook
    /// see time pass, and writes what the line takes.
    pub fn poll(&mut self) {
        if !self.started {
            self.start();
        }
        let now = self.clock.now_ms();
        self.sample_due(now);
        let Node { hook, link, .. } = self;
        hook.on_tick(now, &mut |t| link.send_transition(&t));
        self.transmit(now);
    }

    /// The earliest time (ms since boot) at which [`poll`](Self::poll) has something to do; a time
    /// in the past (or now) means at once. A board may sleep until then.
    pub fn next_due_ms(&self) -> u64 {
        if !self.started || self.link.busy() || self.log.has_log() {
            return 0;
        }
        let count = self.sensors.sensor_count().min(MAX_SENSORS);
        let mut due = self.next_heartbeat;
        for &t in self.next_sample.iter().take(count) {
            due = due.min(t);
        }
        if !self.batch.is_empty() {
            let age_due = self
                .batch
                .base_ms
                .saturating_add(u64::from(self.config.batch_age_ms));
            let full_due = if self.batch.len() >= self.config.batch_len {
                0
            } else {
                u64::MAX
            };
            due = due.min(age_due).min(full_due);
        }
        due
    }

    /// What the node has done since boot.
    pub fn counters(&self) -> Counters {
        self.link.counters
    }

    /// The sequence number the next frame gets.
    pub fn next_seq(&self) -> u16 {
        self.link.next.seq
    }

    /// The sensors.
    pub fn sensors(&self) -> &S {
        &self.sensors
    }

    /// The hook.
    pub fn hook(&self) -> &H {
        &self.hook
    }

    /// The log source.
    pub fn log(&self) -> &L {
        &self.log
    }

    /// The log source, mutably.
    pub fn log_mut(&mut self) -> &mut L {
        &mut self.log
    }

    /// The line.
    pub fn writer(&self) -> &W {
        &self.link.out
    }

    /// The line, mutably (a test's fake line, a board's UART).
    pub fn writer_mut(&mut self) -> &mut W {
        &mut self.link.out
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The boot frames, blocking: a delimiter, the Hello, the Metric frames.
    fn start(&mut self) {
        self.started = true;
        self.link.load_delimiter();
        self.link.finish();
        self.link.load(&self.hello());
        self.link.finish();
        let mut index = 0;
        while let Some(metric) = self.sensors.metric(index) {
            index += 1;
            if let Some(spec) = self.hook.metric_spec(metric.id) {
                self.link.load_body(Body::Metric(spec));
                self.link.finish();
            }
        }
    }

    fn hello(&self) -> Hello {
        // Lengths were checked in `new`; a text that did not fit would be announced empty.
        let mut hello = Hello::new(String::try_from(self.config.firmware).unwrap_or_default());
        let mut index = 0;
        while let Some(m) = self.sensors.metric(index) {
            index += 1;
            let descriptor = MetricDescriptor {
                id: m.id,
                name: String::try_from(m.name).unwrap_or_default(),
                unit: String::try_from(m.unit).unwrap_or_default(),
                rule: self.hook.rule_summary(m.id).unwrap_or(NO_RULE),
                lattice: m.lattice,
            };
            if hello.metrics.push(descriptor).is_err() {
                break;
            }
        }
        hello
    }

    fn sample_due(&mut self, now: u64) {
        let count = self.sensors.sensor_count().min(MAX_SENSORS);
        for slot in 0..count {
            let due = self.next_sample[slot];
            if due > now {
                continue;
            }
            let period = u64::from(self.sensors.period_ms(slot).max(1));
            let next = due.saturating_add(period);
            self.next_sample[slot] = if next > now {
                next
            } else {
                now.saturating_add(period)
            };
            match self.sensors.sample(slot, now) {
                Ok(samples) => {
                    for s in samples {
                        self.take(s.metric, now, s.value);
                    }
                }
                Err(fault) => {
                    let counters = &mut self.link.counters;
                    counters.sensor_errors = counters.sensor_errors.wrapping_add(1);
                    #[cfg(feature = "defmt")]
                    defmt::warn!("sensor fault {}: {}", fault.metrics, fault.error);
                    let Node { hook, link, .. } = self;
                    for &metric in fault.metrics {
                        hook.on_sensor_error(metric, now, &mut |t| link.send_transition(&t));
                    }
                }
            }
        }
    }

    /// One reading: the hook judges it, then it joins the batch or is dropped.
    fn take(&mut self, metric: u16, at_ms: u64, value: f32) {
        let counters = &mut self.link.counters;
        counters.readings_taken = counters.readings_taken.wrapping_add(1);
        let Node { hook, link, .. } = self;
        hook.on_reading(metric, at_ms, value, &mut |t| link.send_transition(&t));
        if self.batch.len() >= self.config.batch_len && !self.link.busy() {
            self.ship();
        }
        if self.batch.push(metric, at_ms, value).is_ok() {
            return;
        }
        // Full, or out of the batch's time span: send it if the line is free, else drop.
        if !self.link.busy() {
            self.ship();
            if self.batch.push(metric, at_ms, value).is_ok() {
                return;
            }
        }
        let counters = &mut self.link.counters;
        counters.readings_dropped = counters.readings_dropped.wrapping_add(1);
    }

    /// Loads the batch into the idle line and empties it.
    fn ship(&mut self) {
        if !self.batch.is_empty() {
            self.link.load(&self.batch);
            self.batch.clear();
        }
    }

    /// Writes what the line takes, loading the next due frame whenever the line is free.
    fn transmit(&mut self, now: u64) {
        loop {
            self.link.pump();
            if self.link.busy() || !self.load_next(now) {
                return;
            }
        }
    }

    /// Loads a due Heartbeat, else a ready batch, else waiting log bytes; false if nothing is due.
    fn load_next(&mut self, now: u64) -> bool {
        let period = u64::from(self.config.heartbeat_ms);
        if now >= self.next_heartbeat {
            let missed = (now - self.next_heartbeat) / period;
            let counters = &mut self.link.counters;
            counters.frames_dropped = counters.frames_dropped.wrapping_add(missed as u32);
            self.next_heartbeat = self
                .next_heartbeat
                .saturating_add(missed.saturating_add(1).saturating_mul(period));
            let heartbeat = Heartbeat {
                uptime_ms: now,
                reset: self.config.reset,
                frames_sent: counters.frames_sent,
                frames_dropped: counters.frames_dropped,
                readings_dropped: counters.readings_dropped,
                sensor_errors: counters.sensor_errors,
            };
            self.link.load(&heartbeat);
            true
        } else if !self.batch.is_empty()
            && (self.batch.len() >= self.config.batch_len
                || now.saturating_sub(self.batch.base_ms) >= u64::from(self.config.batch_age_ms))
        {
            self.ship();
            true
        } else if self.log.has_log() {
            let mut log = Log::default();
            self.log.take_log(&mut log.defmt);
            if log.defmt.is_empty() {
                return false;
            }
            self.link.load(&log);
            true
        } else {
            false
        }
    }
}
