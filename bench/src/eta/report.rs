//! The ETA benchmark's output: aligned text for a terminal, and the figures of `BENCHMARKS.md`
//! (the prose around them lives in that file).
//!
//! Invariants: percentages are rounded to whole percent; a missing answer prints as `–`; the blocks
//! are named as the markers in `BENCHMARKS.md` name them.

use super::{Predictor, Report, Scenario};
use crate::markers::Block;
use std::fmt::Write as _;

fn pct(x: Option<f64>) -> String {
    x.map_or("–".to_string(), |x| format!("{:.0} %", 100.0 * x))
}

fn errors_cell(errors: &[Option<f64>]) -> String {
    errors
        .iter()
        .map(|e| pct(*e))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The report as aligned text.
pub fn text(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "time to full: {} curves per scenario, seed {}, {:.2} s",
        report.curves, report.seed, report.seconds
    );
    let _ = writeln!(
        s,
        "\nfilling curves: median relative error of the time to full at 25 % / 50 % / 75 % of it (no answer)"
    );
    for row in report.rows.iter().filter(|r| r.scenario.fills()) {
        let _ = writeln!(
            s,
            "  {:<18} {:<20} {:<22} ({})",
            row.scenario.name(),
            row.predictor.name(),
            errors_cell(&row.median_relative_error),
            row.no_answer
                .iter()
                .map(|x| pct(Some(*x)))
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
    let _ = writeln!(
        s,
        "\ncurves that never fill: share of hours predicting full within 24 h"
    );
    for row in report.rows.iter().filter(|r| !r.scenario.fills()) {
        let _ = writeln!(
            s,
            "  {:<18} {:<20} {}",
            row.scenario.name(),
            row.predictor.name(),
            pct(row.false_fill)
        );
    }
    let _ = writeln!(s, "\noverall");
    for ((p, e), (_, f)) in report.overall.iter().zip(&report.overall_false_fill) {
        let _ = writeln!(
            s,
            "  {:<20} error {:<22} false fills {}",
            p.name(),
            errors_cell(e),
            pct(Some(*f))
        );
    }
    s
}

/// The figures of `BENCHMARKS.md`'s time-to-threshold section, one block per marker pair:
/// `eta-command`, `eta-filling`, `eta-never-full` and `eta-best`.
pub fn blocks(report: &Report) -> Vec<Block> {
    vec![
        Block {
            name: "eta-command",
            body: format!(
                "Command: `cargo run --release -p rackwatch-bench -- eta --curves {} --seed {} --update \
                 BENCHMARKS.md` ({} generated curves per scenario, one sample every 5 minutes; {:.1} s).",
                report.curves, report.seed, report.curves, report.seconds
            ),
        },
        Block {
            name: "eta-filling",
            body: filling_table(report),
        },
        Block {
            name: "eta-never-full",
            body: never_full_table(report),
        },
        Block {
            name: "eta-best",
            body: best(report),
        },
    ]
}

/// The header of a table with one column per predictor; `align` is each column's separator cell.
fn header(s: &mut String, align: &str) {
    let names: Vec<&str> = Predictor::ALL.iter().map(|p| p.name()).collect();
    let _ = writeln!(s, "| scenario | {} |", names.join(" | "));
    let _ = writeln!(s, "|---|{}", align.repeat(names.len()));
}

/// Median errors per filling scenario and predictor, with the shares of no answer where any.
fn filling_table(report: &Report) -> String {
    let mut s = String::new();
    header(&mut s, "---|");
    for scenario in Scenario::ALL.iter().filter(|s| s.fills()) {
        let cells: Vec<String> = report
            .rows
            .iter()
            .filter(|r| r.scenario == *scenario)
            .map(|r| {
                let unanswered = r.no_answer.iter().any(|x| *x > 0.0);
                if unanswered {
                    format!(
                        "{} ({})",
                        errors_cell(&r.median_relative_error),
                        r.no_answer
                            .iter()
                            .map(|x| pct(Some(*x)))
                            .collect::<Vec<_>>()
                            .join(" / ")
                    )
                } else {
                    errors_cell(&r.median_relative_error)
                }
            })
            .collect();
        let _ = writeln!(s, "| {} | {} |", scenario.name(), cells.join(" | "));
    }
    let cells: Vec<String> = report.overall.iter().map(|(_, e)| errors_cell(e)).collect();
    let _ = writeln!(s, "| **all filling** | {} |", cells.join(" | "));
    s
}

/// False-fill shares per never-full scenario and predictor.
fn never_full_table(report: &Report) -> String {
    let mut s = String::new();
    header(&mut s, "---:|");
    for scenario in Scenario::ALL.iter().filter(|s| !s.fills()) {
        let cells: Vec<String> = report
            .rows
            .iter()
            .filter(|r| r.scenario == *scenario)
            .map(|r| pct(r.false_fill))
            .collect();
        let _ = writeln!(s, "| {} | {} |", scenario.name(), cells.join(" | "));
    }
    let cells: Vec<String> = report
        .overall_false_fill
        .iter()
        .map(|(_, f)| pct(Some(*f)))
        .collect();
    let _ = writeln!(s, "| **all never-full** | {} |", cells.join(" | "));
    s
}

/// The most accurate predictor over all filling curves and the quietest on never-full ones, read
/// off the tables.
fn best(report: &Report) -> String {
    let mean_error = |e: &[Option<f64>]| e.iter().flatten().sum::<f64>() / e.len().max(1) as f64;
    let best = report
        .overall
        .iter()
        .min_by(|a, b| mean_error(&a.1).total_cmp(&mean_error(&b.1)));
    let quiet = report
        .overall_false_fill
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1));
    match (best, quiet) {
        (Some(best), Some(quiet)) => format!(
            "Over all filling curves the most accurate is `{}` ({}); the fewest predictions of a \
             fill that never comes are `{}`'s ({}).",
            best.0.name(),
            errors_cell(&best.1),
            quiet.0.name(),
            pct(Some(quiet.1))
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::run;
    use super::*;

    #[test]
    fn on_a_clean_linear_fill_every_predictor_is_close_and_flat_cycles_rarely_fool_the_core() {
        let report = run(10, 1);
        for row in report
            .rows
            .iter()
            .filter(|r| r.scenario == Scenario::Linear)
        {
            for e in &row.median_relative_error {
                let e = e.expect("an answer");
                assert!(e < 0.25, "{:?} {e}", row.predictor);
            }
        }
        let false_fill = |p: Predictor| {
            report
                .rows
                .iter()
                .find(|r| r.scenario == Scenario::CycleFlat && r.predictor == p)
                .and_then(|r| r.false_fill)
                .unwrap()
        };
        // A cycle around a flat level: the naive 6 h fit predicts a fill on every rising half-cycle
        // that is steep enough; the core's significance test does not do worse.
        assert!(false_fill(Predictor::CoreWindow64) <= false_fill(Predictor::PredictLinear6h));
        let text = text(&report);
        assert!(text.contains("linear") && text.contains("never fill"));
        let md: String = blocks(&report).into_iter().map(|b| b.body).collect();
        assert!(md.contains("| **all filling** |") && md.contains("| **all never-full** |"));
    }
}
