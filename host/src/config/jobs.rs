//! The `[[job]]` tables: batch jobs that check in ([`crate::jobs`]), read into [`JobSpec`]s.
//!
//! Invariants: every error names the file, line and column of the offending value and the key as
//! `job[i].key`; names are unique and keep to a job node's name rules; the token itself never sits
//! in the file (only `token_file`, read when the daemon starts or a client sends), as with
//! `[http] token_file`.

use super::file::RawJob;
use super::{format_duration, ConfigError, Locator};
use crate::jobs::{self, JobSpec, DEFAULT_SLOW_FACTOR};
use crate::schedule::{self, Schedule};
use std::time::Duration;
use toml::Spanned;

/// How late a run may end when `grace` is not set.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5 * 60);
/// The longest grace and period: beyond a year a value is a typo.
const MAX_SPAN: Duration = Duration::from_secs(366 * 86_400);

/// Every `[[job]]`, checked.
pub(super) fn jobs(raw: &[Spanned<RawJob>], at: &Locator) -> Result<Vec<JobSpec>, ConfigError> {
    let mut specs: Vec<JobSpec> = Vec::new();
    let mut errors = Vec::new();
    for (i, j) in raw.iter().enumerate() {
        match job(i, j.get_ref(), at) {
            Ok(spec) if specs.iter().any(|other| other.name == spec.name) => {
                errors.push(at.error(
                    j.get_ref().name.span().start,
                    format!("job[{i}].name: `{}` is used twice", spec.name),
                ));
            }
            Ok(spec) => specs.push(spec),
            Err(e) => errors.push(e),
        }
    }
    ConfigError::all(errors)?;
    Ok(specs)
}

/// One `[[job]]`.
fn job(i: usize, raw: &RawJob, at: &Locator) -> Result<JobSpec, ConfigError> {
    let key = |k: &str| format!("job[{i}].{k}");
    let placed = |offset: usize, k: &str, m: String| at.error(offset, format!("{}: {m}", key(k)));
    let name = jobs::check_name(raw.name.get_ref())
        .map_err(|m| placed(raw.name.span().start, "name", m))?;
    if let Some(token) = &raw.token {
        return Err(placed(
            token.span().start,
            "token",
            "the token does not belong in the configuration file; write it to a file only the \
             daemon's user reads and name it with token_file"
                .into(),
        ));
    }
    let zone = raw.time_zone.as_ref();
    if let Some(zone) = zone {
        schedule::time_zone(Some(zone.get_ref()))
            .map_err(|m| placed(zone.span().start, "time_zone", m))?;
    }
    let text = raw.schedule.get_ref().clone();
    let parsed = Schedule::parse(&text, zone.map(|z| z.get_ref().as_str()))
        .map_err(|m| placed(raw.schedule.span().start, "schedule", m))?;
    if matches!(parsed, Schedule::Every(period) if period > MAX_SPAN) {
        return Err(placed(
            raw.schedule.span().start,
            "schedule",
            format!("the period is longer than {}", format_duration(MAX_SPAN)),
        ));
    }
    let grace = match &raw.grace {
        Some(v) => at.duration(v, &key("grace"), MAX_SPAN)?,
        None => DEFAULT_GRACE,
    };
    let slow_factor = match &raw.slow_factor {
        Some(v) if !(v.get_ref().is_finite() && *v.get_ref() > 1.0 && *v.get_ref() <= 1e6) => {
            return Err(placed(
                v.span().start,
                "slow_factor",
                format!(
                    "{} is not a factor above 1 (a run longer than this many times its usual \
                     duration is slow)",
                    v.get_ref()
                ),
            ))
        }
        Some(v) => *v.get_ref() as f32,
        None => DEFAULT_SLOW_FACTOR,
    };
    let token_file = match &raw.token_file {
        Some(path) if path.get_ref().as_os_str().is_empty() => {
            return Err(placed(
                path.span().start,
                "token_file",
                "the path is empty; name the file holding the job's token, or remove the key"
                    .into(),
            ))
        }
        Some(path) => Some(path.get_ref().clone()),
        None => None,
    };
    Ok(JobSpec {
        name,
        schedule_text: text,
        schedule: parsed,
        time_zone: raw.time_zone.as_ref().map(|z| z.get_ref().clone()),
        grace,
        slow_factor,
        token_file,
    })
}

/// The `[[job]]` table that parses back to `spec`.
pub(super) fn raw_job(spec: &JobSpec) -> RawJob {
    let unspanned = |s: String| Spanned::new(0..0, s);
    RawJob {
        name: unspanned(spec.name.clone()),
        schedule: unspanned(spec.schedule_text.clone()),
        time_zone: spec.time_zone.clone().map(unspanned),
        grace: Some(unspanned(format_duration(spec.grace))),
        slow_factor: Some(Spanned::new(0..0, f64::from(spec.slow_factor))),
        token_file: spec.token_file.clone().map(|p| Spanned::new(0..0, p)),
        token: None,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("j.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_job_reads_with_its_defaults() {
        let config = parse(
            "[[job]]\nname = \"backup\"\nschedule = \"every 1d\"\n\
             [[job]]\nname = \"report\"\nschedule = \"0 6 * * MON-FRI\"\ntime_zone = \"Europe/Berlin\"\n",
        )
        .unwrap();
        assert!(matches!(
            config.jobs[1].schedule,
            crate::schedule::Schedule::Cron(_)
        ));
        let job = &config.jobs[0];
        assert_eq!(job.grace, super::DEFAULT_GRACE);
        assert_eq!(job.slow_factor, crate::jobs::DEFAULT_SLOW_FACTOR);
        assert_eq!(job.token_file, None);
    }

    #[test]
    fn mistakes_are_placed_and_named() {
        let cases = [
            (
                "name = \"web 1\"\nschedule = \"every 1h\"",
                "j.toml:2:",
                "job[0].name",
            ),
            (
                "name = \"web\"\nschedule = \"hourly\"",
                "j.toml:3:",
                "job[0].schedule",
            ),
            (
                "name = \"web\"\nschedule = \"every 1h\"\ngrace = \"soon\"",
                "j.toml:4:",
                "job[0].grace",
            ),
            (
                "name = \"web\"\nschedule = \"every 1h\"\nslow_factor = 0.5",
                "j.toml:4:",
                "job[0].slow_factor",
            ),
            (
                "name = \"web\"\nschedule = \"every 1h\"\ntoken = \"s3\"",
                "j.toml:4:",
                "token_file",
            ),
            (
                "name = \"web\"\nschedule = \"every 1h\"\ncolour = 1",
                "j.toml:4:",
                "colour",
            ),
        ];
        for (body, at, names) in cases {
            let e = parse(&format!("[[job]]\n{body}\n")).unwrap_err();
            assert!(e.contains(at) && e.contains(names), "{body}: {e}");
        }
        let twice = "[[job]]\nname = \"a\"\nschedule = \"every 1h\"\n[[job]]\nname = \"a\"\nschedule = \"every 2h\"\n";
        let e = parse(twice).unwrap_err();
        assert!(e.contains("j.toml:5:") && e.contains("used twice"), "{e}");
    }
}
