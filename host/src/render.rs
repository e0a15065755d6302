//! Typed values in words, for people: the one rendering of a transition's cause that `demo`,
//! `alerts`, `analyze`, `check` and `watch` share.

use crate::timefmt::format_span;
use rackwatch_core::wire::Cause;

/// Why a transition happened, in words, with the metric's `unit` (empty when unknown).
pub fn cause(cause: &Cause, unit: &str) -> String {
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    match cause {
        Cause::Value { value, bound } => format!("{value:.1}{unit} (bound {bound})"),
        Cause::Eta { eta_ms, threshold } => {
            format!("reaches {threshold}{unit} in {}", format_span(*eta_ms))
        }
        Cause::Anomaly { score } => format!("anomaly score {score:.2}"),
        Cause::MissingData { last_seen_ms } => {
            format!("no reading since node time {}", format_span(*last_seen_ms))
        }
        Cause::SensorFault => "sensor fault (stuck, out of range or slewing)".into(),
        Cause::FlappingStopped => "flapping stopped".into(),
    }
}
