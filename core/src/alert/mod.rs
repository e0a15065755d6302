//! Alert state machines: when a reading becomes an alert, on the node and on the host alike.
//!
//! A [`Rule`] (plain data) judges each reading ([`Rule::judge`] → [`Judgement`]); an [`AlertMachine`]
//! (64 bytes of state) turns the judgements, and the silence between them, into sequenced
//! [`Transition`](crate::wire::Transition)s. The semantics, exactly:
//!
//! # Levels and judgements
//! Levels are OK, WARNING, CRITICAL and UNKNOWN, ordered in that sequence. A valid reading supports
//! the worst level any of the rule's conditions gives it (value thresholds, forecast, anomaly score;
//! bounds as tabled in [`rule`]). A reading the sensor-health conditions reject is *invalid*: it
//! supports UNKNOWN and is neutral for every other level. A NaN or infinite value is not a reading
//! at all (the [`Monitor`](crate::monitor::Monitor) counts it and passes only the time): it never
//! reads as OK, never supports anything, and leaves every pending move exactly where it was.
//!
//! A forecast that turns unsure is no evidence of recovery: a raised predictive level is held by
//! unsure forecasts for the rule's `keep_for_ms` after the last confident forecast that backed it,
//! and clears otherwise only on a confident estimate beyond its clear horizon or a confidently flat
//! or receding trend ([`rule`]'s "Forecasts that become unsure"). The machine keeps the memory this
//! needs (when each predictive level was last backed, 16 bytes) and hands it to the judgement as a
//! [`Standing`].
//!
//! # Debounce
//! A move from the confirmed level `L` to a target `X` is *supported* by:
//!
//! | move | supporting readings | debounce |
//! |---|---|---|
//! | to a worse level (OK→WARNING, OK→CRITICAL, WARNING→CRITICAL) | valid, at least as bad as `X` | `raise` |
//! | to UNKNOWN (from any other level) | invalid | `raise` |
//! | to a better level (CRITICAL→WARNING, →OK) | valid, at least as good as `X` | `clear` |
//! | out of UNKNOWN | valid; the move is to that reading's level | `clear` |
//!
//! Each target has a clock. It starts on the reading at which at least `samples` of the last
//! `of_last` readings (of the kind that counts: valid readings for levels, all readings for
//! validity) support the move, runs while that stays true, and stops the moment it does not. The move
//! happens on the first supporting reading at which the clock has run at least `for_ms`
//! (inclusive). So `for_ms = 5 min` with a reading a minute fires on the 6th consecutive bad reading,
//! as Prometheus' `for: 5m` does; `samples = of_last = 3` is Nagios' `max_check_attempts = 3`; and
//! `samples = 3, of_last = 5` tolerates two good readings among bad ones without restarting anything.
//! Raise and clear are debounced independently.
//!
//! On one reading at most one move happens: the worst due raise, else the best due clear (so a
//! CRITICAL alert whose readings improve to OK passes through WARNING only if the WARNING clear is due
//! first). After a move, the clocks whose meaning changed restart; the others keep running (a
//! CRITICAL clock keeps its age when WARNING fires first).
//!
//! # Missing data
//! With a deadline, data is missing from `deadline_ms` after the last reading (valid or invalid;
//! before the first, from the start plus `max(deadline, startup grace)`). Then the policy acts once,
//! dated at that moment, whenever the machine learns of it ([`AlertMachine::poll`], or the next
//! reading): UNKNOWN; hold the level for a further `for_ms`, then UNKNOWN; a violation at WARNING or
//! CRITICAL (a dead man's switch); or OK. Because the decision is dated at the deadline and not at the
//! call, the result does not depend on how often the caller polls: a node and a host replaying its
//! readings agree. A gap shorter than the deadline changes nothing: a pending clock keeps running
//! through it (Prometheus restarts `for` on one empty evaluation; rackwatch does not). Once the policy
//! has acted, readings before the gap no longer count toward any move.
//!
//! # Flapping
//! With flap detection on, the confirmed level is recorded after every reading and every missing-data
//! decision into Nagios' 21-entry history, and the percent state change computed with Nagios' weights
//! (0.75 for the oldest change to 1.25 for the newest, PSC = 100·Σw/20). Flapping starts when PSC ≥
//! `high_percent` and stops when PSC ≤ `low_percent`. While flapping, transitions are still made and
//! sequenced, but marked `suppressed`; when flapping stops, one transition with cause
//! [`FlappingStopped`](crate::wire::Cause::FlappingStopped) reports the settled level, from the level
//! receivers last heard about (Nagios can lose that recovery: nagioscore#91, #847).
//! A caller that expects data to go missing (a maintenance window) says so with
//! [`AlertMachine::expect_missing`]: a missing-data UNKNOWN applied then is emitted as ever but not
//! recorded, nor is anything until the level leaves it, so planned gaps make nothing flap.
//!
//! # Transitions
//! Each carries the metric, from, to, the time of the reading or decision, the cause (the reading's
//! value and bound, ETA, score, sensor fault, or missing data with the last reading's time) and a
//! per-alert sequence number that increases by one with every transition, suppressed ones included.
//!
//! # Invariants
//! - Fixed memory: `size_of::<AlertMachine>() == 80`; the rule is passed in, not stored.
//! - Deterministic and causal: the transitions are a function of the rule, the start time and the
//!   sequence of calls' times and judgements, on every target. Polls between readings do not change
//!   the result.
//! - A time before the last event is refused with [`SampleError`](crate::SampleError), state unchanged.
//! - The state is plain data (serde): a restored machine continues exactly as one never stopped.

mod history;
mod machine;
pub mod rule;

pub use history::FLAP_HISTORY_LEN;
pub use machine::{AlertMachine, Transitions, MAX_TRANSITIONS_PER_STEP};
pub use rule::{
    AnomalyLevels, Bound, Debounce, Flapping, Health, Horizon, Judgement, Limit, Limits,
    MissingData, MissingPolicy, Predictive, Rule, RuleError, Standing, Thresholds,
    MAX_DEBOUNCE_SAMPLES,
};

/// Largest postcard record of an [`AlertMachine`]: every varint at its longest.
pub const MAX_RECORD_LEN: usize = 96;

#[cfg(test)]
mod tests;
