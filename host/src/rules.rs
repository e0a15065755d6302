//! The host's own rules: override a node's rule for a metric, or judge metrics a node did not
//! describe. Plain data from the configuration file, in the core's [`Rule`] and [`AnomalyConfig`]
//! types.
//!
//! Invariants: among the overrides that match a node and metric, one for that node beats one for
//! every node, and among equals the first in the file wins; an override replaces the node's rule or
//! anomaly parameters whole, never field by field.

use rackwatch_core::alert::{Bound, Limit, Limits, Rule};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::trend::Crossing;
use rackwatch_core::wire::MetricDescriptor;
use serde::{Deserialize, Serialize};

/// One override.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    /// Only this node; `None`: every node.
    #[serde(default)]
    pub node: Option<u16>,
    /// The metric's name, as the node announces it (`inlet_temperature`) or `metric_<id>`.
    pub metric: String,
    /// The rule to use instead of the node's.
    #[serde(default)]
    pub rule: Option<Rule>,
    /// The anomaly parameters to use instead of the node's.
    #[serde(default)]
    pub anomaly: Option<AnomalyConfig>,
}

/// The host's overrides, most specific first: a node's own override beats one for every node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostRules {
    overrides: Vec<RuleOverride>,
}

impl HostRules {
    /// Rules from a configuration's overrides.
    pub fn new(mut overrides: Vec<RuleOverride>) -> HostRules {
        // Stable: among equally specific overrides, the first in the file wins.
        overrides.sort_by_key(|o| o.node.is_none());
        HostRules { overrides }
    }

    /// The overrides in the order they are tried.
    pub fn overrides(&self) -> &[RuleOverride] {
        &self.overrides
    }

    fn find(&self, node: u16, metric: &str) -> Option<&RuleOverride> {
        self.overrides
            .iter()
            .find(|o| o.node.is_none_or(|n| n == node) && o.metric == metric)
    }

    /// The node's spec with the host's override applied, if one matches.
    pub fn apply(&self, node: u16, mut spec: MetricSpec) -> MetricSpec {
        if let Some(o) = self.find(node, &spec.name) {
            if let Some(rule) = o.rule {
                spec.rule = rule;
            }
            if let Some(anomaly) = o.anomaly {
                spec.anomaly = anomaly;
            }
        }
        spec
    }

    /// A spec for a metric the node sent no Metric frame for (older firmware, or a host that joined
    /// after the node's boot): the name, unit and static thresholds its Hello announced (strict
    /// bounds, no hysteresis), else `metric_<id>` with no alert conditions; then the host's override
    /// for that name. The default anomaly scoring either way.
    pub fn spec_for(
        &self,
        node: u16,
        metric: u16,
        known: Option<&MetricSpec>,
        announced: Option<&MetricDescriptor>,
    ) -> MetricSpec {
        if let Some(spec) = known {
            return spec.clone();
        }
        self.apply(node, Self::base_spec(metric, announced))
    }

    /// The spec of a metric the node sent no Metric frame for, before the host's overrides: what
    /// its Hello announced, else `metric_<id>` with no alert conditions (see [`spec_for`]).
    ///
    /// [`spec_for`]: Self::spec_for
    pub fn base_spec(metric: u16, announced: Option<&MetricDescriptor>) -> MetricSpec {
        let mut spec = MetricSpec {
            id: metric,
            name: heapless::String::try_from(format!("metric_{metric}").as_str())
                .unwrap_or_default(),
            unit: heapless::String::new(),
            rule: Rule::EMPTY,
            anomaly: AnomalyConfig::DEFAULT,
        };
        if let Some(d) = announced {
            spec.name = d.name.clone();
            spec.unit = d.unit.clone();
            let limit = |v: Option<f32>| {
                let limit = v.map(|v| Limit::at(Bound::strict(v)));
                match d.rule.crossing {
                    Crossing::Above => Limits {
                        above: limit,
                        below: None,
                    },
                    Crossing::Below => Limits {
                        above: None,
                        below: limit,
                    },
                }
            };
            spec.rule.value.warning = limit(d.rule.warning);
            spec.rule.value.critical = limit(d.rule.critical);
        }
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> MetricSpec {
        MetricSpec::new(
            1,
            name,
            "degC",
            Rule::above(30.0, 35.0),
            AnomalyConfig::DEFAULT,
        )
        .unwrap()
    }

    /// An override's forecast hold (`keep_for_ms`), as the configuration file writes it.
    fn keep_for(line: &str) -> Result<Option<u32>, String> {
        let text =
            format!("[[rules]]\nmetric = \"disk\"\nrule.predictive.threshold = 95.0\n{line}\n");
        let config = crate::config::Config::parse(std::path::Path::new("r.toml"), &text)
            .map_err(|e| e.to_string())?;
        let rule = config.rules.overrides()[0].rule;
        Ok(rule.and_then(|r| r.predictive).map(|p| p.keep_for_ms))
    }

    #[test]
    fn an_override_sets_the_forecast_hold_and_a_bad_one_is_placed() {
        assert_eq!(
            keep_for("rule.predictive.keep_for_ms = 600000"),
            Ok(Some(600_000))
        );
        assert_eq!(
            keep_for(""),
            Ok(Some(rackwatch_core::alert::Predictive::DEFAULT_KEEP_FOR_MS))
        );
        let e = keep_for("rule.predictive.keep_for_ms = \"10m\"").unwrap_err();
        assert!(e.starts_with("r.toml:4:"), "{e}");
        assert!(e.contains("keep_for_ms"), "{e}");
        let e = keep_for("rule.predictive.keep_for_ms = -1").unwrap_err();
        assert!(e.starts_with("r.toml:4:"), "{e}");
    }

    #[test]
    fn the_most_specific_override_wins_and_others_pass_through() {
        let rules = HostRules::new(vec![
            RuleOverride {
                node: None,
                metric: "inlet".into(),
                rule: Some(Rule::above(25.0, 30.0)),
                anomaly: None,
            },
            RuleOverride {
                node: Some(7),
                metric: "inlet".into(),
                rule: Some(Rule::above(40.0, 45.0)),
                anomaly: None,
            },
        ]);
        assert_eq!(rules.apply(7, spec("inlet")).rule, Rule::above(40.0, 45.0));
        assert_eq!(rules.apply(8, spec("inlet")).rule, Rule::above(25.0, 30.0));
        assert_eq!(rules.apply(8, spec("power")).rule, Rule::above(30.0, 35.0));
        let unknown = rules.spec_for(8, 9, None, None);
        assert_eq!(
            (unknown.name.as_str(), unknown.rule),
            ("metric_9", Rule::EMPTY)
        );
        let announced = spec("power").descriptor();
        let from_hello = rules.spec_for(8, 1, None, Some(&announced));
        assert_eq!(
            (from_hello.name.as_str(), from_hello.unit.as_str()),
            ("power", "degC")
        );
        assert_eq!(from_hello.rule, Rule::above(30.0, 35.0));
        // The override by name applies to an announced metric too.
        let inlet = rules.spec_for(8, 1, None, Some(&spec("inlet").descriptor()));
        assert_eq!(inlet.rule, Rule::above(25.0, 30.0));
    }
}
