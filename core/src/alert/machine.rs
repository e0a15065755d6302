//! The per-rule alert state machine: debounce, missing data, flap detection, sequenced transitions.

use super::history::{FlapHistory, ReadingHistory};
use super::rule::{Judgement, Rule, Standing};
use crate::wire::{Cause, Transition};
use crate::{Level, SampleError};
use serde::{Deserialize, Serialize};

/// Most transitions one call can produce: a missing-data transition and a flapping-stopped notice
/// for the gap before a reading, then the reading's own transition and notice.
pub const MAX_TRANSITIONS_PER_STEP: usize = 4;

/// The transitions of one call, in order.
pub type Transitions = heapless::Vec<Transition, MAX_TRANSITIONS_PER_STEP>;

const HAS_READING: u8 = 1;
const MISSING_APPLIED: u8 = 2;
const FLAPPING: u8 = 4;
/// A confident forecast has backed WARNING (then CRITICAL) since the start or the last missing-data
/// decision: `backed_ms[0]` (`[1]`) holds its time.
const BACKED_WARNING: u8 = 8;
const BACKED_CRITICAL: u8 = 16;
/// The caller expects data to go missing (a maintenance window): a missing-data UNKNOWN now is
/// excused.
const MISSING_EXPECTED: u8 = 32;
/// The level is an excused missing-data UNKNOWN: the flap history holds the level before it and
/// records nothing until the level leaves UNKNOWN.
const EXCUSED: u8 = 64;

/// The levels a pending clock can lead to, by index: OK, WARNING, CRITICAL, UNKNOWN.
const TARGETS: [Level; 4] = [Level::Ok, Level::Warning, Level::Critical, Level::Unknown];

/// What supports a move from the current level to a target, which decides how its clock counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Support {
    /// The target is the current level.
    None,
    /// Valid readings at least as bad as the target, counted by the raise debounce.
    Worse,
    /// Valid readings at least as good as the target, counted by the clear debounce.
    Better,
    /// Invalid readings, counted by the raise debounce.
    Invalid,
    /// Valid readings, counted by the clear debounce: the way out of UNKNOWN (its slot is UNKNOWN's).
    Valid,
}

fn support(current: Level, target: Level) -> Support {
    match (current, target) {
        (Level::Unknown, Level::Unknown) => Support::Valid,
        (Level::Unknown, _) => Support::None,
        (c, t) if c == t => Support::None,
        (_, Level::Unknown) => Support::Invalid,
        (c, t) if t > c => Support::Worse,
        _ => Support::Better,
    }
}

/// One alert rule's state. See the [module docs](super) for the semantics.
///
/// 80 bytes (asserted in the tests), `Copy`, serde: persist it (postcard, at most 96 bytes; see
/// [`MAX_RECORD_LEN`](super::MAX_RECORD_LEN)) and restore it to continue exactly where it stopped.
/// The rule is not part of the state: the caller passes it to every call, so a rule in flash costs no
/// RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AlertMachine {
    /// Time of the last reading (valid or invalid), or of the start before the first.
    last_reading_ms: u64,
    /// Time of the last event: a reading or a missing-data decision. Calls before it are refused.
    last_event_ms: u64,
    readings: ReadingHistory,
    flap: FlapHistory,
    /// Per target (OK, WARNING, CRITICAL, UNKNOWN): how long its support has held, at `last_event_ms`.
    ages_ms: [u32; 4],
    next_seq: u32,
    level: Level,
    /// The level of the last transition that was not suppressed: what receivers last heard.
    notified: Level,
    /// Bit per target: its support holds now.
    active: u8,
    flags: u8,
    /// Per predictive level (WARNING, CRITICAL): the time of the last reading whose confident
    /// forecast backed it, valid with its `BACKED_*` flag. A raised level's hold counts from here.
    backed_ms: [u64; 2],
}

impl AlertMachine {
    /// A machine started at `start_ms`: OK, with nothing pending. Missing data is judged from here
    /// until the first reading (with the rule's start-up grace).
    pub const fn new(start_ms: u64) -> AlertMachine {
        AlertMachine {
            last_reading_ms: start_ms,
            last_event_ms: start_ms,
            readings: ReadingHistory::EMPTY,
            flap: FlapHistory::ALL_OK,
            ages_ms: [0; 4],
            next_seq: 0,
            level: Level::Ok,
            notified: Level::Ok,
            active: 0,
            flags: 0,
            backed_ms: [start_ms; 2],
        }
    }

    /// The confirmed level.
    pub const fn level(&self) -> Level {
        self.level
    }

    /// Says whether data going missing is expected from now on (a maintenance window covers the
    /// metric): a missing-data UNKNOWN applied while it is expected does not count toward the flap
    /// history, and neither do the events until the level leaves that UNKNOWN. Transitions are
    /// emitted as ever; only flap detection looks away.
    pub fn expect_missing(&mut self, expected: bool) {
        if expected {
            self.flags |= MISSING_EXPECTED;
        } else {
            self.flags &= !MISSING_EXPECTED;
        }
    }

    /// Whether the alert is flapping (its transitions are marked suppressed).
    pub const fn is_flapping(&self) -> bool {
        self.flags & FLAPPING != 0
    }

    /// Nagios' percent state change over the last 21 recorded levels, 0 to 100.
    pub fn percent_state_change(&self) -> f32 {
        self.flap.percent_state_change()
    }

    /// Whether the latest judgement is no judgement of the value: the newest reading was invalid, or
    /// the data has been missing long enough for the rule's policy to act. A forecast from the
    /// readings before is then no forecast of the metric (displays hide it).
    pub const fn is_stale(&self) -> bool {
        self.readings.newest_invalid() || self.flags & MISSING_APPLIED != 0
    }

    /// The sequence number the next transition will carry.
    pub const fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Time of the last reading; `None` before the first.
    pub const fn last_reading_ms(&self) -> Option<u64> {
        if self.flags & HAS_READING != 0 {
            Some(self.last_reading_ms)
        } else {
            None
        }
    }

    /// The levels the alert is moving toward, with how long each move's support has held by `now_ms`
    /// (a move happens once that reaches its debounce's `for_ms` on a supporting reading).
    pub fn pending(&self, now_ms: u64) -> impl Iterator<Item = (Level, u64)> + '_ {
        let elapsed = now_ms.saturating_sub(self.last_event_ms);
        TARGETS
            .iter()
            .zip(self.ages_ms)
            .enumerate()
            .filter(|(i, _)| self.active & (1 << i) != 0)
            .map(move |(_, (&target, age))| {
                // Out of UNKNOWN, the move is to the newest valid reading's level.
                let target = if target == Level::Unknown && self.level == Level::Unknown {
                    self.readings.newest_level().unwrap_or(Level::Ok)
                } else {
                    target
                };
                (target, u64::from(age).saturating_add(elapsed))
            })
    }

    /// Applies the missing-data policy if its moment has come by `now_ms`. Between readings, call it
    /// as often as convenient: the result does not depend on how often, because a decision is dated
    /// at the moment the policy acts, not at the call.
    pub fn poll(
        &mut self,
        rule: &Rule,
        metric: u16,
        now_ms: u64,
    ) -> Result<Transitions, SampleError> {
        self.check_time(now_ms)?;
        let mut out = Transitions::new();
        self.apply_missing(rule, metric, now_ms, &mut out);
        Ok(out)
    }

    /// What a reading at `now_ms` is judged against: the confirmed level and how long ago a
    /// confident forecast last backed each predictive level.
    pub fn standing(&self, now_ms: u64) -> Standing {
        let ago = |i: usize, flag: u8| {
            (self.flags & flag != 0).then(|| now_ms.saturating_sub(self.backed_ms[i]))
        };
        Standing {
            level: self.level,
            backed_ms_ago: [ago(0, BACKED_WARNING), ago(1, BACKED_CRITICAL)],
        }
    }

    /// Remembers that a confident forecast backed `level` (and so every better predictive level) on
    /// a reading at `at_ms`.
    fn remember_backing(&mut self, level: Level, at_ms: u64) {
        for (i, (backed, flag)) in [
            (Level::Warning, BACKED_WARNING),
            (Level::Critical, BACKED_CRITICAL),
        ]
        .into_iter()
        .enumerate()
        {
            if level >= backed {
                self.flags |= flag;
                self.backed_ms[i] = at_ms;
            }
        }
    }

    /// Takes one reading at `now_ms`: first any missing-data decision that came due before it, then
    /// `judge(standing)` for the reading, given the confirmed level at that point (for hysteresis)
    /// and when a confident forecast last backed each predictive level (for the hold); usually
    /// `|standing| rule.judge(standing, value, eta, &score)`.
    ///
    /// Refuses a time before the last event with [`SampleError::TimeWentBackwards`], leaving the state
    /// unchanged (and not calling `judge`).
    pub fn observe(
        &mut self,
        rule: &Rule,
        metric: u16,
        now_ms: u64,
        judge: impl FnOnce(&Standing) -> Judgement,
    ) -> Result<Transitions, SampleError> {
        self.check_time(now_ms)?;
        let mut out = Transitions::new();
        self.apply_missing(rule, metric, now_ms, &mut out);
        let judgement = &judge(&self.standing(now_ms));

        self.advance(now_ms);
        match judgement {
            Judgement::Valid {
                level, forecast, ..
            } => {
                self.readings.push_valid(*level);
                if let Some(forecast) = forecast {
                    self.remember_backing(*forecast, now_ms);
                }
            }
            Judgement::Invalid => self.readings.push_invalid(),
        }
        self.last_reading_ms = now_ms;
        self.flags = (self.flags | HAS_READING) & !MISSING_APPLIED;
        self.update_clocks(rule);

        let target = self.due(rule, judgement);
        let changed = match target {
            Some(to) => {
                self.transition(rule, metric, to, now_ms, judgement.cause(), &mut out);
                true
            }
            None => false,
        };
        self.record(rule, metric, now_ms, changed, &mut out);
        Ok(out)
    }

    /// Whether a call at `now_ms` would be accepted: not before the last event.
    pub fn check_time(&self, now_ms: u64) -> Result<(), SampleError> {
        if now_ms < self.last_event_ms {
            return Err(SampleError::TimeWentBackwards {
                last_ms: self.last_event_ms,
                now_ms,
            });
        }
        Ok(())
    }

    /// Ages the active clocks to `now_ms`.
    fn advance(&mut self, now_ms: u64) {
        let dt = u32::try_from(now_ms - self.last_event_ms).unwrap_or(u32::MAX);
        for (i, age) in self.ages_ms.iter_mut().enumerate() {
            if self.active & (1 << i) != 0 {
                *age = age.saturating_add(dt);
            }
        }
        self.last_event_ms = now_ms;
    }

    /// Starts the clock of every target whose support now holds and was not holding, and stops the
    /// clock of every target whose support no longer holds. Clocks already running keep their age.
    fn update_clocks(&mut self, rule: &Rule) {
        let (raise_n, raise_m) = rule.raise.n_of_m();
        let (clear_n, clear_m) = rule.clear.n_of_m();
        for (i, &target) in TARGETS.iter().enumerate() {
            let holds = match support(self.level, target) {
                Support::None => false,
                Support::Worse => {
                    self.readings.level_counts(target, raise_m).0 >= u32::from(raise_n)
                }
                Support::Better => {
                    self.readings.level_counts(target, clear_m).1 >= u32::from(clear_n)
                }
                Support::Invalid => self.readings.validity_counts(raise_m).0 >= u32::from(raise_n),
                Support::Valid => self.readings.validity_counts(clear_m).1 >= u32::from(clear_n),
            };
            let bit = 1u8 << i;
            if !holds {
                self.active &= !bit;
            } else if self.active & bit == 0 {
                self.active |= bit;
                if let Some(age) = self.ages_ms.get_mut(i) {
                    *age = 0;
                }
            }
        }
    }

    /// The level to move to on this reading, if a move is due: the worst due raise, else the best due
    /// clear. A move happens only on a reading that supports it, so its cause is that reading's.
    fn due(&self, rule: &Rule, judgement: &Judgement) -> Option<Level> {
        let ready = |i: usize, for_ms: u32| {
            self.active & (1 << i) != 0 && self.ages_ms.get(i).is_some_and(|&a| a >= for_ms)
        };
        let reading = judgement.level();
        if self.level == Level::Unknown {
            let leave = TARGETS.len() - 1;
            return (reading != Level::Unknown && ready(leave, rule.clear.for_ms))
                .then_some(reading);
        }
        let raise = TARGETS
            .iter()
            .enumerate()
            .rev()
            .filter(|&(_, &t)| t > self.level)
            .find(|&(i, &t)| {
                let supported = match support(self.level, t) {
                    Support::Invalid => reading == Level::Unknown,
                    _ => reading != Level::Unknown && reading >= t,
                };
                supported && ready(i, rule.raise.for_ms)
            });
        if let Some((_, &t)) = raise {
            return Some(t);
        }
        TARGETS
            .iter()
            .enumerate()
            .filter(|&(_, &t)| t < self.level)
            .find(|&(i, &t)| reading <= t && ready(i, rule.clear.for_ms))
            .map(|(_, &t)| t)
    }

    /// Moves to `to`, emitting the transition, and restarts the clocks whose meaning changed.
    fn transition(
        &mut self,
        rule: &Rule,
        metric: u16,
        to: Level,
        at_ms: u64,
        cause: Cause,
        out: &mut Transitions,
    ) {
        let from = self.level;
        self.level = to;
        for (i, &target) in TARGETS.iter().enumerate() {
            if support(from, target) != support(to, target) {
                self.active &= !(1 << i);
            }
        }
        self.update_clocks(rule);
        self.emit(metric, from, to, at_ms, cause, out);
    }

    fn emit(
        &mut self,
        metric: u16,
        from: Level,
        to: Level,
        at_ms: u64,
        cause: Cause,
        out: &mut Transitions,
    ) {
        let transition = Transition {
            metric,
            from,
            to,
            at_ms,
            cause,
            alert_seq: self.next_seq,
            suppressed: false,
        };
        self.next_seq = self.next_seq.wrapping_add(1);
        // Capacity covers the most one call can emit; see MAX_TRANSITIONS_PER_STEP.
        let _ = out.push(transition);
    }

    /// Records the level in the flap history after an event, starts or stops flapping, marks this
    /// event's transition suppressed while flapping, and reports the settled level when it stops.
    fn record(
        &mut self,
        rule: &Rule,
        metric: u16,
        at_ms: u64,
        changed: bool,
        out: &mut Transitions,
    ) {
        let Some(thresholds) = rule.flapping else {
            if changed {
                self.notified = self.level;
            }
            return;
        };
        if self.flags & EXCUSED != 0 {
            if self.level == Level::Unknown {
                // Still the excused gap: nothing enters the history, the flapping state stands.
                if changed {
                    self.mark_change(out);
                }
                return;
            }
            self.flags &= !EXCUSED;
        }
        self.flap.push(self.level);
        let psc = self.flap.percent_state_change();
        let was_flapping = self.is_flapping();
        if !was_flapping && psc >= thresholds.high_percent {
            self.flags |= FLAPPING;
        } else if was_flapping && psc <= thresholds.low_percent {
            self.flags &= !FLAPPING;
        }
        if changed {
            self.mark_change(out);
        }
        if was_flapping && !self.is_flapping() {
            let (from, to) = (self.notified, self.level);
            self.emit(metric, from, to, at_ms, Cause::FlappingStopped, out);
            self.notified = to;
        }
    }

    /// A change just emitted: suppressed while flapping, else what receivers now know.
    fn mark_change(&mut self, out: &mut Transitions) {
        if self.is_flapping() {
            if let Some(last) = out.last_mut() {
                last.suppressed = true;
            }
        } else {
            self.notified = self.level;
        }
    }

    /// If the data has been missing long enough by `now_ms`, applies the rule's policy, dated at the
    /// moment it acts. Once per gap.
    fn apply_missing(&mut self, rule: &Rule, metric: u16, now_ms: u64, out: &mut Transitions) {
        if self.flags & MISSING_APPLIED != 0 {
            return;
        }
        let before_first = self.flags & HAS_READING == 0;
        let Some((after_ms, to)) = rule.missing.acts_after(before_first) else {
            return;
        };
        let at_ms = self.last_reading_ms.saturating_add(after_ms);
        if at_ms > now_ms {
            return;
        }
        // The moment may precede the last event only for a record restored with another rule.
        let at_ms = at_ms.max(self.last_event_ms);
        self.advance(at_ms);
        self.flags |= MISSING_APPLIED;
        // Readings before the gap no longer support anything: a move after it needs fresh readings.
        self.readings = ReadingHistory::EMPTY;
        self.active = 0;
        // Nor does a forecast from before it hold anything.
        self.flags &= !(BACKED_WARNING | BACKED_CRITICAL);
        let changed = self.level != to;
        if changed {
            let cause = Cause::MissingData {
                last_seen_ms: self.last_reading_ms,
            };
            self.transition(rule, metric, to, at_ms, cause, out);
            if to == Level::Unknown && self.flags & MISSING_EXPECTED != 0 {
                self.flags |= EXCUSED;
            }
        }
        self.record(rule, metric, at_ms, changed, out);
    }
}
