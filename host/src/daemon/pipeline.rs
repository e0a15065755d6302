//! The ingest thread's loop: one [`Pipeline`] owns the ingest stages, the recorders and the sinks,
//! and takes every message from the sources through one handler per message kind, in steady state
//! and in the final drain alike.
//!
//! Invariants:
//! - One thread owns the pipeline: no locks on the hot path.
//! - With only finite sources (captures, files), time is the data's own: liveness and missing-data
//!   checks run at the recorded times, so re-ingesting a capture writes the same rows.
//! - The loop turns at least every [`WAIT`] while it is healthy, and marks each turn in its
//!   [`Progress`]: the service watchdog pings only while it moves.
//! - A [`Control`] message (a configuration reload) is applied between two source messages, never
//!   in the middle of one.
//! - Events reach the sinks in batches, at least every [`FLUSH_EVERY`] or [`FLUSH_EVENTS`] events,
//!   and once more at the end: everything received before the stop is delivered.

use super::service::Progress;
use crate::capture::CaptureWriter;
use crate::ingest::{Event, Ingest};
use crate::rules::HostRules;
use crate::sink::{Batch, Sink, SinkStatus};
use crate::source::{self, SourceKind, SourceMsg, SourceSpec};
use crate::state::{Snapshot, SourceView};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often events go to the sinks at the latest.
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// How many events make a batch go out at once.
const FLUSH_EVENTS: usize = 50_000;
/// How often nodes are checked for liveness and missing data: in wall time for live sources, in
/// the data's own time for finite ones. Checking is O(nodes), so it must not happen per frame.
const TICK_EVERY: Duration = Duration::from_millis(500);
/// How often the sinks' upkeep (retention) runs in a long run.
const MAINTAIN_EVERY: Duration = Duration::from_secs(600);
/// How long one wait for a message lasts before the timers are looked at.
const WAIT: Duration = Duration::from_millis(100);

/// A source that reads a device or a socket, whose data arrives in real time (as opposed to a
/// capture or a file, which carry their own times).
pub(crate) fn is_live(kind: &SourceKind) -> bool {
    !matches!(
        kind,
        SourceKind::Capture(_) | SourceKind::Raw(_) | SourceKind::Stdin
    )
}

/// What the daemon asks of a running pipeline, besides the sources' messages.
#[derive(Debug, Clone)]
pub enum Control {
    /// Judge by these rules from now on (a configuration reload).
    Rules(HostRules),
}

/// Whether the loop goes on after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Every source is done.
    AllFinished,
}

/// The ingest stages, the sources' views and recorders, and the sinks.
pub struct Pipeline {
    ingest: Ingest,
    specs: Vec<SourceSpec>,
    views: Vec<SourceView>,
    recorders: Vec<Option<CaptureWriter>>,
    sinks: Vec<Box<dyn Sink>>,
    events: Vec<Event>,
    /// Some source reads a device or a socket, so time is the wall clock, not the data's.
    live: bool,
    /// The latest time seen in finite sources' data.
    data_clock: u64,
    /// The data time of the last liveness and missing-data check, for finite sources.
    data_ticked: u64,
    finished: usize,
    delivered: u64,
    last_flush: Instant,
    last_tick: Instant,
    last_maintain: Instant,
    /// Marked at every turn of the loop, for the service watchdog.
    progress: Option<Arc<Progress>>,
    /// Reloads from the daemon.
    control: Option<Receiver<Control>>,
}

impl Pipeline {
    /// A pipeline over the sources `specs` (recorded by `recorders`, one per source or none),
    /// delivering to `sinks`.
    pub fn new(
        ingest: Ingest,
        specs: Vec<SourceSpec>,
        recorders: Vec<Option<CaptureWriter>>,
        sinks: Vec<Box<dyn Sink>>,
    ) -> Pipeline {
        let views = specs
            .iter()
            .map(|s| SourceView {
                name: s.name.clone(),
                ..SourceView::default()
            })
            .collect();
        let live = specs.iter().any(|s| is_live(&s.kind));
        let now = Instant::now();
        Pipeline {
            ingest,
            specs,
            views,
            recorders,
            sinks,
            events: Vec::new(),
            live,
            data_clock: 0,
            data_ticked: 0,
            finished: 0,
            delivered: 0,
            last_flush: now,
            last_tick: now,
            last_maintain: now,
            progress: None,
            control: None,
        }
    }

    /// The same pipeline, marking `progress` at every turn and taking [`Control`] messages from
    /// `control`.
    pub fn supervised(mut self, progress: Arc<Progress>, control: Receiver<Control>) -> Pipeline {
        self.progress = Some(progress);
        self.control = Some(control);
        self
    }

    /// Reads messages until every source is done, the channel closes or `stop` says so, then
    /// drains what is still queued and delivers everything.
    pub fn run(
        mut self,
        rx: &Receiver<SourceMsg>,
        stop: impl Fn() -> bool,
    ) -> anyhow::Result<(Snapshot, u64)> {
        while !stop() {
            self.mark_progress();
            self.process_controls();
            let flow = match rx.recv_timeout(WAIT) {
                Ok(msg) => self.handle(msg)?,
                Err(RecvTimeoutError::Timeout) => Flow::Continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if flow == Flow::AllFinished {
                break;
            }
            self.on_timers()?;
        }
        self.finish(rx)
    }

    /// One message from a source.
    pub fn handle(&mut self, msg: SourceMsg) -> anyhow::Result<Flow> {
        match msg {
            SourceMsg::Bytes {
                source,
                wall_ms,
                bytes,
            } => self.process_bytes(source, wall_ms, &bytes)?,
            SourceMsg::Connected { source } => self.process_connected(source),
            SourceMsg::Disconnected { source, reason } => self.process_disconnected(source, reason),
            SourceMsg::Failed { source, reason } => self.process_failed(source, reason),
            SourceMsg::NodeEvent {
                node,
                boot,
                wall_ms,
                kind,
                ..
            } => self.events.push(Event::NodeEvent {
                node,
                boot,
                wall_ms,
                kind,
            }),
            SourceMsg::Finished { source } => return Ok(self.process_finished(source)),
        }
        Ok(Flow::Continue)
    }

    fn mark_progress(&self) {
        if let Some(progress) = &self.progress {
            progress.mark();
        }
    }

    /// Every control message waiting, in order.
    fn process_controls(&mut self) {
        let Some(control) = &self.control else {
            return;
        };
        let pending: Vec<Control> = control.try_iter().collect();
        for message in pending {
            match message {
                Control::Rules(rules) => self.process_rules(rules),
            }
        }
    }

    fn process_rules(&mut self, rules: HostRules) {
        let overrides = rules.overrides().len();
        let changed = self.ingest.set_rules(rules, &mut self.events);
        tracing::info!(
            overrides,
            changed,
            "rules reloaded: {overrides} overrides, {changed} running metrics re-specified"
        );
    }

    fn process_bytes(&mut self, source: usize, wall_ms: u64, bytes: &[u8]) -> anyhow::Result<()> {
        if let Some(Some(recorder)) = self.recorders.get_mut(source) {
            recorder.record(wall_ms, bytes)?;
        }
        if let (Some(view), Some(spec)) = (self.views.get_mut(source), self.specs.get(source)) {
            view.bytes += bytes.len() as u64;
            self.ingest
                .bytes(&spec.name, wall_ms, bytes, &mut self.events);
        }
        if !self.live {
            self.data_clock = self.data_clock.max(wall_ms);
            if self.data_clock
                >= self
                    .data_ticked
                    .saturating_add(TICK_EVERY.as_millis() as u64)
            {
                self.tick_data();
            }
        }
        Ok(())
    }

    fn process_connected(&mut self, source: usize) {
        if let Some(view) = self.views.get_mut(source) {
            view.connected = true;
            view.connects += 1;
        }
    }

    fn process_disconnected(&mut self, source: usize, reason: String) {
        if let (Some(view), Some(spec)) = (self.views.get_mut(source), self.specs.get(source)) {
            view.connected = false;
            view.disconnects += 1;
            view.last_error = Some(reason);
            self.ingest.disconnected(&spec.name);
        }
    }

    fn process_failed(&mut self, source: usize, reason: String) {
        if let Some(view) = self.views.get_mut(source) {
            view.failures += 1;
            view.last_error = Some(reason);
        }
    }

    fn process_finished(&mut self, source: usize) -> Flow {
        if let (Some(view), Some(spec)) = (self.views.get_mut(source), self.specs.get(source)) {
            view.connected = false;
            view.finished = true;
            self.ingest.disconnected(&spec.name);
        }
        self.finished += 1;
        if self.finished >= self.specs.len() {
            Flow::AllFinished
        } else {
            Flow::Continue
        }
    }

    /// Liveness ticks, batch delivery and upkeep, each when its time has come.
    fn on_timers(&mut self) -> anyhow::Result<()> {
        let now = self.clock();
        if self.live && self.last_tick.elapsed() >= TICK_EVERY {
            self.ingest.tick(now, &mut self.events);
            self.last_tick = Instant::now();
        }
        if self.events.len() >= FLUSH_EVENTS || self.last_flush.elapsed() >= FLUSH_EVERY {
            self.deliver(now)?;
        }
        if self.live && self.last_maintain.elapsed() >= MAINTAIN_EVERY {
            for sink in &mut self.sinks {
                sink.maintain(now)?;
            }
            self.last_maintain = Instant::now();
        }
        Ok(())
    }

    /// Liveness and missing data checked at the data's own time: deterministic, so a capture
    /// ingested twice gives the same events.
    fn tick_data(&mut self) {
        self.ingest.tick(self.data_clock, &mut self.events);
        self.data_ticked = self.data_clock;
    }

    /// The pipeline's time: the wall clock for live sources, the data's own otherwise.
    fn clock(&self) -> u64 {
        if self.live {
            source::now_ms()
        } else {
            self.data_clock
        }
    }

    /// The events so far, to every sink.
    fn deliver(&mut self, now_ms: u64) -> anyhow::Result<()> {
        let statuses = self.sink_statuses();
        let batch = Batch {
            events: &self.events,
            ingest: &self.ingest,
            sources: &self.views,
            now_ms,
            sinks: &statuses,
        };
        for sink in &mut self.sinks {
            sink.deliver(&batch)?;
        }
        self.delivered += self.events.len() as u64;
        self.events.clear();
        self.last_flush = Instant::now();
        Ok(())
    }

    /// How the sinks that can fall behind are doing.
    fn sink_statuses(&self) -> Vec<SinkStatus> {
        self.sinks.iter().filter_map(|s| s.status()).collect()
    }

    /// Whatever is still queued was received: it is handled like any message before the last
    /// delivery. Returns the final snapshot and the number of events delivered.
    fn finish(mut self, rx: &Receiver<SourceMsg>) -> anyhow::Result<(Snapshot, u64)> {
        while let Ok(msg) = rx.try_recv() {
            self.handle(msg)?;
        }
        for recorder in self.recorders.iter_mut().flatten() {
            recorder.flush()?;
        }
        if !self.live {
            self.tick_data();
        }
        let now = self.clock();
        self.deliver(now)?;
        for sink in &mut self.sinks {
            sink.finish()?;
        }
        let mut snapshot = Snapshot::build(&self.ingest, &self.views, now);
        snapshot.sinks = self.sink_statuses();
        Ok((snapshot, self.delivered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::HostRules;
    use crate::source::SourceKind;
    use rackwatch_core::wire::{Body, Frame, Header, Heartbeat, ResetReason, MAX_ENCODED_LEN};
    use std::path::PathBuf;
    use std::sync::mpsc::sync_channel;
    use std::sync::{Arc, Mutex};

    /// Every batch a sink was given.
    type Batches = Arc<Mutex<Vec<Vec<Event>>>>;

    /// Records every batch it is given.
    struct Recorder(Batches);

    impl Sink for Recorder {
        fn deliver(&mut self, batch: &Batch<'_>) -> anyhow::Result<()> {
            self.0.lock().unwrap().push(batch.events.to_vec());
            Ok(())
        }
    }

    /// A heartbeat frame of `node`, boot 0xB007, on the line.
    fn heartbeat_of(node: u16, seq: u16) -> Vec<u8> {
        let frame = Frame {
            header: Header {
                node_id: node,
                boot_id: 0xB007,
                seq,
            },
            body: Body::Heartbeat(Heartbeat {
                uptime_ms: u64::from(seq) * 1_000,
                reset: ResetReason::PowerOn,
                frames_sent: u32::from(seq),
                frames_dropped: 0,
                readings_dropped: 0,
                sensor_errors: 0,
            }),
        };
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = frame.encode(&mut out).unwrap();
        out[..n].to_vec()
    }

    fn heartbeat(seq: u16) -> Vec<u8> {
        heartbeat_of(7, seq)
    }

    fn pipeline(sinks: usize) -> (Pipeline, Vec<Batches>) {
        let logs: Vec<_> = (0..sinks).map(|_| Arc::default()).collect();
        let spec = SourceSpec {
            name: "capture".into(),
            kind: SourceKind::Capture(PathBuf::from("test.rwcap")),
        };
        let pipeline = Pipeline::new(
            Ingest::new(HostRules::default(), Default::default()),
            vec![spec],
            Vec::new(),
            logs.iter()
                .map(|l| Box::new(Recorder(Arc::clone(l))) as Box<dyn Sink>)
                .collect(),
        );
        (pipeline, logs)
    }

    #[test]
    fn what_is_queued_at_the_stop_is_handled_and_delivered() {
        let (pipeline, logs) = pipeline(1);
        let (tx, rx) = sync_channel(16);
        for seq in 0..5 {
            let bytes = heartbeat(seq);
            let wall_ms = 1_000_000 + u64::from(seq) * 1_000;
            tx.send(SourceMsg::Bytes {
                source: 0,
                wall_ms,
                bytes,
            })
            .unwrap();
        }
        // Stopped before the loop reads anything: the drain takes it all.
        let (snapshot, delivered) = pipeline.run(&rx, || true).unwrap();
        let events: Vec<Event> = logs[0].lock().unwrap().concat();
        let heartbeats = events
            .iter()
            .filter(|e| matches!(e, Event::Heartbeat { .. }))
            .count();
        assert_eq!(heartbeats, 5);
        assert_eq!(delivered, events.len() as u64);
        assert_eq!(snapshot.nodes[0].counters.frames, 5);
        assert_eq!(snapshot.sources[0].bytes, snapshot.bytes);
    }

    #[test]
    fn every_sink_sees_the_same_batches_in_order_and_a_finished_source_ends_the_run() {
        let (pipeline, logs) = pipeline(2);
        let (tx, rx) = sync_channel(16);
        tx.send(SourceMsg::Connected { source: 0 }).unwrap();
        for seq in [0, 1, 1, 3] {
            tx.send(SourceMsg::Bytes {
                source: 0,
                wall_ms: 2_000_000 + u64::from(seq) * 1_000,
                bytes: heartbeat(seq),
            })
            .unwrap();
        }
        tx.send(SourceMsg::Finished { source: 0 }).unwrap();
        let (snapshot, _) = pipeline.run(&rx, || false).unwrap();
        let first: Vec<Event> = logs[0].lock().unwrap().concat();
        let second: Vec<Event> = logs[1].lock().unwrap().concat();
        assert_eq!(first, second);
        let counters = snapshot.nodes[0].counters;
        assert_eq!((counters.duplicates, counters.lost), (1, 1));
        assert!(snapshot.sources[0].finished);
        assert!(first.iter().any(|e| matches!(
            e,
            Event::NodeEvent {
                kind: crate::ingest::NodeEventKind::Gap { lost: 1, .. },
                ..
            }
        )));
    }

    #[test]
    fn frames_from_nodes_beyond_the_limit_are_refused_and_counted() {
        let spec = SourceSpec {
            name: "capture".into(),
            kind: SourceKind::Capture(PathBuf::from("test.rwcap")),
        };
        let settings = crate::ingest::IngestSettings {
            max_nodes: 1,
            ..Default::default()
        };
        let pipeline = Pipeline::new(
            Ingest::new(HostRules::default(), settings),
            vec![spec],
            Vec::new(),
            Vec::new(),
        );
        let (tx, rx) = sync_channel(16);
        let frames = [
            heartbeat(0),
            heartbeat_of(8, 0),
            heartbeat(1),
            heartbeat_of(8, 1),
        ];
        for (i, bytes) in frames.into_iter().enumerate() {
            tx.send(SourceMsg::Bytes {
                source: 0,
                wall_ms: 1_000 + i as u64 * 1_000,
                bytes,
            })
            .unwrap();
        }
        let (snapshot, _) = pipeline.run(&rx, || true).unwrap();
        assert_eq!(snapshot.nodes.len(), 1);
        assert_eq!(snapshot.nodes[0].id, 7);
        assert_eq!(snapshot.nodes[0].counters.frames, 2);
        assert_eq!(snapshot.refused_node_frames, 2);
        assert_eq!(snapshot.frames, 4);
    }

    #[test]
    fn a_failed_open_is_counted_and_kept_as_the_last_error_until_the_next_one() {
        let (mut pipeline, _) = pipeline(1);
        for reason in [
            "cannot open /dev/ttyACM0: busy",
            "cannot open /dev/ttyACM0: gone",
        ] {
            let flow = pipeline
                .handle(SourceMsg::Failed {
                    source: 0,
                    reason: reason.into(),
                })
                .unwrap();
            assert_eq!(flow, Flow::Continue);
        }
        let view = &pipeline.views[0];
        assert_eq!((view.failures, view.connects, view.disconnects), (2, 0, 0));
        assert_eq!(
            view.last_error.as_deref(),
            Some("cannot open /dev/ttyACM0: gone")
        );
    }
}
