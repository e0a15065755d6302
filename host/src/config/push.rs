//! `[push]` (the bounds on pushed values) and `[http] token_file` (who may send data), checked with
//! spans like every other section.
//!
//! Invariant: the token itself never sits in the TOML; only the path of the file that holds it
//! does, and the file is read when the daemon starts ([`read_token`]), so a `config check` or
//! `config show` never reads or prints it.

use super::file::{RawHttp, RawPush};
use super::{ConfigError, Locator};
use crate::push::{DEFAULT_MAX_SERIES, MAX_MAX_SERIES};
use std::path::{Path, PathBuf};

/// What `POST /push` accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSettings {
    /// Whether the daemon accepts pushes at all.
    pub enabled: bool,
    /// The most pushed series, every virtual node together.
    pub max_series: usize,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            enabled: true,
            max_series: DEFAULT_MAX_SERIES,
        }
    }
}

/// `[push]`, checked.
pub(super) fn push(raw: &RawPush, at: &Locator) -> Result<PushSettings, ConfigError> {
    let mut settings = PushSettings::default();
    if let Some(enabled) = raw.enabled {
        settings.enabled = enabled;
    }
    if let Some(max) = &raw.max_series {
        let n = *max.get_ref();
        if n == 0 || n > MAX_MAX_SERIES as u64 {
            return Err(at.error(
                max.span().start,
                format!(
                    "push.max_series: {n} is not between 1 and {MAX_MAX_SERIES} (every virtual \
                     node id full); use `push.enabled = false` to accept no pushes"
                ),
            ));
        }
        settings.max_series = n as usize;
    }
    Ok(settings)
}

/// `[http] token_file`, checked: a path, and never the token itself.
pub(super) fn token_file(raw: &RawHttp, at: &Locator) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(token) = &raw.token {
        return Err(at.error(
            token.span().start,
            "http.token: the token does not belong in the configuration file; write it to a \
             file only the daemon's user reads and name it with http.token_file"
                .into(),
        ));
    }
    match &raw.token_file {
        Some(path) if path.get_ref().as_os_str().is_empty() => Err(at.error(
            path.span().start,
            "http.token_file: the path is empty; name the file holding the token, or remove \
             the key"
                .into(),
        )),
        Some(path) => Ok(Some(path.get_ref().clone())),
        None => Ok(None),
    }
}

/// The token in `path`: its first line, trimmed; an unreadable or empty file is an error naming
/// it.
pub fn read_token(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the HTTP token file {} ([http] token_file): {e}",
            path.display()
        )
    })?;
    let token = text.lines().next().unwrap_or_default().trim().to_string();
    if token.is_empty() {
        return Err(format!(
            "the HTTP token file {} ([http] token_file) is empty; write a long random token \
             into it (e.g. `head -c 32 /dev/urandom | base64 > {}`)",
            path.display(),
            path.display()
        ));
    }
    if token.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!(
            "the HTTP token in {} ([http] token_file) has spaces or control characters, which \
             an Authorization header cannot carry",
            path.display()
        ));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    fn error(text: &str) -> String {
        Config::parse(Path::new("rw.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn mistakes_are_located_and_say_what_to_do() {
        let e = error("[http]\nlisten = \"0.0.0.0:9187\"\ntoken = \"abc\"\n");
        assert!(e.starts_with("rw.toml:3:9: http.token:"), "{e}");
        assert!(e.contains("token_file"), "{e}");
        let e = error("[push]\nmax_series = 0\n");
        assert!(
            e.starts_with("rw.toml:2:14: push.max_series: 0 is not between"),
            "{e}"
        );
        let e = error("[local]\nnode_id = 61440\n");
        assert!(
            e.starts_with("rw.toml:2:11: local.node_id: the local nodes take ids 61435..=61440")
                && e.contains("reserved for pushed values"),
            "{e}"
        );
        let e = error("[http]\ntoken_file = \"\"\n");
        assert!(e.starts_with("rw.toml:2:14: http.token_file:"), "{e}");
    }

    #[test]
    fn the_keys_load_and_show_back() {
        let text = "[http]\ntoken_file = \"/run/t\"\n[push]\nenabled = false\nmax_series = 5\n";
        let config = Config::parse(Path::new("rw.toml"), text).unwrap();
        assert_eq!(config.http_token_file.as_deref(), Some(Path::new("/run/t")));
        assert!(!config.push.enabled);
        assert_eq!(config.push.max_series, 5);
        let shown = config.to_toml().unwrap();
        let again = Config::parse(Path::new("rw.toml"), &shown).unwrap();
        assert_eq!(again.http_token_file, config.http_token_file);
        assert_eq!(again.push, config.push);
    }

    #[test]
    fn the_token_file_is_read_whole_line_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        std::fs::write(&file, "abc123\nignored\n").unwrap();
        assert_eq!(super::read_token(&file).unwrap(), "abc123");
        std::fs::write(&file, "\n").unwrap();
        assert!(super::read_token(&file).unwrap_err().contains("is empty"));
        assert!(super::read_token(&dir.path().join("none"))
            .unwrap_err()
            .contains("cannot read"));
    }
}
