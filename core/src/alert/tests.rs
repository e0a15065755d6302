//! Unit tests of the machine's contract; the conformance suite is `core/tests/alert_conformance.rs`.

use super::*;
use crate::anomaly::AnomalyScore;
use crate::trend::TimeTo;
use crate::wire::Cause;
use crate::{Level, SampleError};

fn judge(rule: &Rule, value: f32) -> impl FnOnce(&Standing) -> Judgement + '_ {
    move |standing| rule.judge(standing, value, TimeTo::NotEnoughData, &AnomalyScore::ZERO)
}

#[test]
fn sizes_are_part_of_the_contract() {
    assert_eq!(core::mem::size_of::<AlertMachine>(), 80);
}

#[test]
fn the_longest_record_fits_max_record_len() {
    let rule = Rule {
        flapping: Some(Flapping::NAGIOS),
        ..Rule::above(1.0, 2.0)
    };
    let mut m = AlertMachine::new(u64::MAX - 1_000_000);
    let mut t = u64::MAX - 1_000_000;
    for i in 0..40 {
        t += 1000;
        let value = if i % 2 == 0 { 3.0 } else { 0.0 };
        m.observe(&rule, 7, t, judge(&rule, value)).unwrap();
    }
    let mut buf = [0u8; 128];
    let record = postcard::to_slice(&m, &mut buf).unwrap();
    assert!(record.len() <= MAX_RECORD_LEN, "{} bytes", record.len());
    let restored: AlertMachine = postcard::from_bytes(record).unwrap();
    assert_eq!(restored, m);
}

#[test]
fn a_raise_names_the_reading_and_the_bound() {
    let rule = Rule::above(80.0, 90.0);
    let mut m = AlertMachine::new(0);
    let out = m.observe(&rule, 3, 1000, judge(&rule, 85.0)).unwrap();
    assert_eq!(out.len(), 1);
    let t = out[0];
    assert_eq!(
        (t.metric, t.from, t.to, t.at_ms),
        (3, Level::Ok, Level::Warning, 1000)
    );
    assert_eq!(
        t.cause,
        Cause::Value {
            value: 85.0,
            bound: 80.0
        }
    );
    assert_eq!((t.alert_seq, t.suppressed), (0, false));
}

#[test]
fn stale_after_an_invalid_reading_or_missing_data_until_a_valid_one() -> Result<(), SampleError> {
    let rule = Rule {
        missing: MissingData::unknown_after(10_000),
        ..Rule::above(80.0, 90.0)
    };
    let mut m = AlertMachine::new(0);
    m.observe(&rule, 1, 1000, judge(&rule, 50.0))?;
    assert!(!m.is_stale());
    m.observe(&rule, 1, 2000, |_| Judgement::Invalid)?;
    assert!(m.is_stale());
    m.observe(&rule, 1, 3000, judge(&rule, 50.0))?;
    assert!(!m.is_stale());
    m.poll(&rule, 1, 20_000)?;
    assert!(m.is_stale());
    m.observe(&rule, 1, 21_000, judge(&rule, 50.0))?;
    assert!(!m.is_stale());
    Ok(())
}

#[test]
fn expected_missing_data_does_not_count_toward_flap_history() -> Result<(), SampleError> {
    let rule = Rule {
        missing: MissingData::unknown_after(10_000),
        flapping: Some(Flapping::NAGIOS),
        ..Rule::above(80.0, 90.0)
    };
    // Readings, a gap long enough for UNKNOWN, readings again: four times over.
    let run = |expected: bool| -> Result<AlertMachine, SampleError> {
        let mut m = AlertMachine::new(0);
        m.expect_missing(expected);
        let mut t = 0;
        for _ in 0..4 {
            for _ in 0..3 {
                t += 1000;
                m.observe(&rule, 1, t, judge(&rule, 50.0))?;
            }
            t += 20_000;
            let out = m.poll(&rule, 1, t)?;
            assert_eq!(
                out[0].to,
                Level::Unknown,
                "the UNKNOWN is emitted either way"
            );
        }
        t += 1000;
        m.observe(&rule, 1, t, judge(&rule, 50.0))?;
        Ok(m)
    };
    let counted = run(false)?;
    assert!(counted.percent_state_change() > 0.0);
    let excused = run(true)?;
    assert_eq!(excused.percent_state_change(), 0.0);
    assert!(!excused.is_flapping());
    assert_eq!(excused.level(), Level::Ok);
    Ok(())
}
