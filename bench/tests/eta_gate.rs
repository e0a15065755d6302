//! The ETA gate of CI: on a fixed subset of the generated fill curves (40 per scenario, seed 1,
//! the published run's seed), the node's forecast, the regime-aware trend (`core Adaptive`), keeps
//! the figures of issue 17: within 25 % median error at half of the fill on the regime-change
//! scenarios, no worse than the node's forecast before it (`core Window<64>`) on every older
//! filling scenario, and at most 2 % false fills over the curves that never fill.

use rackwatch_bench::eta::{run, Predictor, Report, Row, Scenario};

fn row(report: &Report, scenario: Scenario, predictor: Predictor) -> &Row {
    let found = report
        .rows
        .iter()
        .find(|r| r.scenario == scenario && r.predictor == predictor);
    match found {
        Some(row) => row,
        None => panic!("no row for {scenario:?} and {predictor:?}"),
    }
}

/// The median error at 25 %, 50 %, 75 %, counting no answer as an error of 100 %.
fn errors(row: &Row) -> Vec<f64> {
    row.median_relative_error
        .iter()
        .zip(&row.no_answer)
        .map(|(e, none)| e.unwrap_or(1.0).max(*none))
        .collect()
}

#[test]
fn the_adaptive_trend_holds_its_figures_on_the_ci_subset() {
    let report = run(40, 1);
    for scenario in [Scenario::PlateauLeak, Scenario::AcceleratingCycle] {
        let node = row(&report, scenario, Predictor::CoreAdaptive);
        let half = errors(node)[1];
        assert!(half <= 0.25, "{scenario:?}: {half:.3} at half of the fill");
    }
    for scenario in Scenario::ALL.iter().filter(|s| s.fills()) {
        if matches!(
            scenario,
            Scenario::PlateauLeak | Scenario::AcceleratingCycle
        ) {
            continue;
        }
        let node = errors(row(&report, *scenario, Predictor::CoreAdaptive));
        let before = errors(row(&report, *scenario, Predictor::CoreWindow64));
        for (k, (now, then)) in node.iter().zip(&before).enumerate() {
            // A point of slack: 40 curves are a small sample.
            assert!(
                now <= &(then + 0.01),
                "{scenario:?} point {k}: {now:.3} vs {then:.3}"
            );
        }
    }
    let false_fills = report
        .overall_false_fill
        .iter()
        .find(|(p, _)| *p == Predictor::CoreAdaptive)
        .map(|(_, f)| *f);
    assert!(
        false_fills.is_some_and(|f| f <= 0.02),
        "false fills {false_fills:?}"
    );
}
