//! Silence matchers, with Alertmanager's semantics: `name=value`, `name!=value`, `name=~regex`,
//! `name!~regex`; a silence matches an alert when every one of its matchers does.
//!
//! Invariants:
//! - Regexes are anchored at both ends (`=~cpu.*` does not match `gpu_cpu`), as Alertmanager
//!   anchors them; they are compiled once, with a size limit, so a hostile pattern costs bounded
//!   memory and linear time (the `regex` crate has no backtracking).
//! - A label the alert does not carry reads as the empty string: `rack=""` matches alerts without
//!   a `rack` label, `rack!=""` only those with one, as in Alertmanager.
//! - A matcher prints back as it was parsed ([`Matcher`]'s `Display`), so a stored silence reads
//!   as the operator wrote it.

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The longest matcher accepted, in bytes.
pub const MAX_MATCHER_LEN: usize = 1024;
/// The most matchers one silence may have.
pub const MAX_MATCHERS: usize = 32;
/// The compiled size limit of one regex, in bytes.
const REGEX_SIZE_LIMIT: usize = 64 * 1024;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Equal => "=",
            Op::NotEqual => "!=",
            Op::Regex => "=~",
            Op::NotRegex => "!~",
        }
    }
}

/// One matcher: a label name, an operator and a value (a regex for `=~` and `!~`).
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label.
    pub name: String,
    /// The comparison.
    pub op: Op,
    /// The value as written.
    pub value: String,
    /// The anchored regex, for `=~` and `!~`.
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Parses `name=value`, `name!=value`, `name=~regex` or `name!~regex`; a value may be quoted
    /// (`rack="r 1"`).
    pub fn parse(text: &str) -> Result<Matcher, String> {
        if text.len() > MAX_MATCHER_LEN {
            return Err(format!(
                "a matcher is at most {MAX_MATCHER_LEN} bytes; this one is {}",
                text.len()
            ));
        }
        let at = text.find(['=', '!']).ok_or_else(|| {
            format!("`{text}` is not a matcher: write name=value, name!=value, name=~regex or name!~regex")
        })?;
        let (name, rest) = text.split_at(at);
        let name = name.trim();
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (Op::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (Op::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (Op::NotEqual, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (Op::Equal, v)
        } else {
            return Err(format!("`{text}`: after the name comes =, !=, =~ or !~"));
        };
        if !is_label_name(name) {
            return Err(format!(
                "`{text}`: `{name}` is not a label name (letters, digits and _, not starting with a digit)"
            ));
        }
        let value = unquote(value.trim());
        Matcher::new(name, op, &value)
    }

    /// A matcher from its parts; the regex is compiled (anchored) here.
    pub fn new(name: &str, op: Op, value: &str) -> Result<Matcher, String> {
        let regex = match op {
            Op::Regex | Op::NotRegex => Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| format!("{name}{}{value}: not a regex: {e}", op.as_str()))?,
            ),
            Op::Equal | Op::NotEqual => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// Whether the label's value (`""` when the alert lacks the label) satisfies this matcher.
    pub fn matches(&self, label: &str) -> bool {
        match (self.op, &self.regex) {
            (Op::Equal, _) => label == self.value,
            (Op::NotEqual, _) => label != self.value,
            (Op::Regex, Some(re)) => re.is_match(label),
            (Op::NotRegex, Some(re)) => !re.is_match(label),
            (Op::Regex | Op::NotRegex, None) => false,
        }
    }
}

/// Whether every matcher matches the alert whose labels `label` looks up.
pub fn all_match<'a>(matchers: &[Matcher], label: impl Fn(&str) -> Option<&'a str>) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(label(&m.name).unwrap_or("")))
}

/// Matchers as an operator writes them on one line: `rack="r2" metric=~"temp.*"`.
pub fn join(matchers: &[Matcher]) -> String {
    matchers
        .iter()
        .map(Matcher::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = !self.value.is_empty()
            && self
                .value
                .chars()
                .all(|c| !c.is_whitespace() && c != '"' && c != ',');
        if plain {
            write!(f, "{}{}{}", self.name, self.op.as_str(), self.value)
        } else {
            let quoted = serde_json::to_string(&self.value).unwrap_or_default();
            write!(f, "{}{}{quoted}", self.name, self.op.as_str())
        }
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Matcher, D::Error> {
        let text = String::deserialize(d)?;
        Matcher::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A double-quoted value loses its quotes and JSON escapes; anything else is taken as written.
fn unquote(value: &str) -> String {
    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        if let Ok(s) = serde_json::from_str::<String>(value) {
            return s;
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn regexes_are_anchored_at_both_ends() {
        let m = Matcher::parse("metric=~cpu.*").unwrap();
        assert!(m.matches("cpu_temp"));
        assert!(!m.matches("gpu_cpu_temp"));
        let m = Matcher::parse("metric=~temp").unwrap();
        assert!(!m.matches("cpu_temp"));
        assert!(m.matches("temp"));
        // An alternation is anchored as a whole, not only its first branch.
        let m = Matcher::parse("metric=~a|b").unwrap();
        assert!(!m.matches("xb"));
        assert!(m.matches("b"));
    }

    #[test]
    fn negative_matchers_negate() {
        let ne = Matcher::parse("origin!=node").unwrap();
        assert!(ne.matches("host") && !ne.matches("node"));
        let nre = Matcher::parse("severity!~warn.*").unwrap();
        assert!(nre.matches("critical") && !nre.matches("warning"));
    }

    #[test]
    fn a_missing_label_reads_as_empty() {
        let alert = [("node", "3"), ("metric", "inlet_temp")];
        let empty = Matcher::parse("rack=\"\"").unwrap();
        assert!(all_match(&[empty], labels(&alert)));
        let present = Matcher::parse("rack!=\"\"").unwrap();
        assert!(!all_match(&[present], labels(&alert)));
        let any = Matcher::parse("rack=~.*").unwrap();
        assert!(all_match(&[any], labels(&alert)));
        let some = Matcher::parse("rack=~.+").unwrap();
        assert!(!all_match(&[some], labels(&alert)));
    }

    #[test]
    fn every_matcher_must_match() {
        let alert = [("node", "3"), ("metric", "inlet_temp"), ("origin", "host")];
        let both = [
            Matcher::parse("node=3").unwrap(),
            Matcher::parse("metric=~inlet_.*").unwrap(),
        ];
        assert!(all_match(&both, labels(&alert)));
        let one_off = [
            Matcher::parse("node=3").unwrap(),
            Matcher::parse("origin=node").unwrap(),
        ];
        assert!(!all_match(&one_off, labels(&alert)));
        assert!(all_match(&[], labels(&alert)));
    }

    #[test]
    fn bad_matchers_say_what_is_wrong() {
        for (text, says) in [
            ("node", "not a matcher"),
            ("3node=1", "not a label name"),
            ("metric=~(", "not a regex"),
            ("=x", "not a label name"),
        ] {
            let e = Matcher::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        let long = format!("metric={}", "x".repeat(MAX_MATCHER_LEN));
        assert!(Matcher::parse(&long).unwrap_err().contains("at most"));
    }

    #[test]
    fn matchers_print_back_as_parsed() {
        for text in [
            "node=3",
            "metric=~cpu.*",
            "origin!=node",
            "rack=\"r 1\"",
            "rack=\"\"",
        ] {
            let m = Matcher::parse(text).unwrap();
            assert_eq!(m.to_string(), text);
            assert_eq!(Matcher::parse(&m.to_string()).unwrap(), m);
        }
    }
}
