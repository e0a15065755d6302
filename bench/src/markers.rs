//! Generated figures inside a hand-written Markdown document, between marker pairs:
//! `<!-- rackwatch-bench:NAME:begin -->` … `<!-- rackwatch-bench:NAME:end -->`.
//!
//! Invariants: [`rewrite`] replaces only the text between a named block's two markers; every other
//! byte of the document, the markers and all prose included, is kept as it was. Each marker of each
//! block must occur exactly once, the begin before the end; otherwise the rewrite fails with an
//! error naming the marker, and nothing is changed (the document is only written after every block
//! was placed).

use anyhow::Context;
use std::path::Path;

/// One generated block: the figures that go between the markers named `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The block's name in its markers, e.g. `nab-scores`.
    pub name: &'static str,
    /// The generated Markdown (trailing newlines do not matter).
    pub body: String,
}

/// Why a document's markers cannot take the generated blocks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkerError {
    /// A marker is not in the document.
    #[error(
        "marker `{0}` is missing (each generated block needs its begin and end marker, once each, \
         on lines of their own)"
    )]
    Missing(String),
    /// A marker occurs more than once.
    #[error("marker `{marker}` occurs {count} times; it must occur exactly once")]
    Duplicated {
        /// The marker.
        marker: String,
        /// How often it occurs.
        count: usize,
    },
    /// The end marker comes before the begin marker.
    #[error("marker `{end}` comes before `{begin}`")]
    OutOfOrder {
        /// The begin marker.
        begin: String,
        /// The end marker.
        end: String,
    },
}

/// The marker opening block `name`.
pub fn begin_marker(name: &str) -> String {
    format!("<!-- rackwatch-bench:{name}:begin -->")
}

/// The marker closing block `name`.
pub fn end_marker(name: &str) -> String {
    format!("<!-- rackwatch-bench:{name}:end -->")
}

/// The byte offset of `marker`'s only occurrence in `document`.
fn find_once(document: &str, marker: &str) -> Result<usize, MarkerError> {
    let mut found = document.match_indices(marker).map(|(at, _)| at);
    match (found.next(), found.next()) {
        (None, _) => Err(MarkerError::Missing(marker.to_string())),
        (Some(at), None) => Ok(at),
        (Some(_), Some(_)) => Err(MarkerError::Duplicated {
            marker: marker.to_string(),
            count: document.matches(marker).count(),
        }),
    }
}

/// `document` with each block's body between its markers.
pub fn rewrite(document: &str, blocks: &[Block]) -> Result<String, MarkerError> {
    let mut out = document.to_string();
    for block in blocks {
        let (begin, end) = (begin_marker(block.name), end_marker(block.name));
        let from = find_once(&out, &begin)? + begin.len();
        let to = find_once(&out, &end)?;
        if to < from {
            return Err(MarkerError::OutOfOrder { begin, end });
        }
        let body = block.body.trim_end_matches('\n');
        let inner = if body.is_empty() {
            "\n".to_string()
        } else {
            format!("\n{body}\n")
        };
        out.replace_range(from..to, &inner);
    }
    Ok(out)
}

/// Rewrites the blocks of the document at `path` in place.
pub fn update_file(path: &Path, blocks: &[Block]) -> anyhow::Result<()> {
    let document =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let updated =
        rewrite(&document, blocks).with_context(|| format!("updating {}", path.display()))?;
    std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(name: &'static str, body: &str) -> Block {
        Block {
            name,
            body: body.to_string(),
        }
    }

    const DOC: &str = "# Title\n\nProse before, kept *as is*.  \n\
        <!-- rackwatch-bench:a:begin -->\nold a\n<!-- rackwatch-bench:a:end -->\n\
        Prose between.\n\n<!-- rackwatch-bench:b:begin -->\n| old | b |\n<!-- rackwatch-bench:b:end -->\n\
        Prose after, no final newline";

    #[test]
    fn only_the_text_between_the_markers_changes() {
        let out = rewrite(DOC, &[block("a", "new a\n\n"), block("b", "| new | b |")]).unwrap();
        assert_eq!(
            out,
            DOC.replace("old a", "new a")
                .replace("| old | b |", "| new | b |")
        );
        // Rewriting with the same figures is a fixed point, byte for byte.
        let again = rewrite(&out, &[block("a", "new a"), block("b", "| new | b |")]).unwrap();
        assert_eq!(again, out);
        // A block the run does not produce is left alone, and so is an empty body's layout.
        let emptied = rewrite(DOC, &[block("a", "")]).unwrap();
        assert_eq!(
            emptied,
            DOC.replace(
                "<!-- rackwatch-bench:a:begin -->\nold a\n",
                "<!-- rackwatch-bench:a:begin -->\n"
            )
        );
    }

    #[test]
    fn a_missing_marker_is_named_and_nothing_is_rewritten() {
        let without_end = DOC.replace("<!-- rackwatch-bench:b:end -->", "");
        let error = rewrite(&without_end, &[block("a", "new"), block("b", "new")]).unwrap_err();
        assert_eq!(
            error,
            MarkerError::Missing("<!-- rackwatch-bench:b:end -->".into())
        );
        assert!(error
            .to_string()
            .contains("marker `<!-- rackwatch-bench:b:end -->` is missing"));
        let error = rewrite(DOC, &[block("c", "new")]).unwrap_err();
        assert_eq!(
            error,
            MarkerError::Missing("<!-- rackwatch-bench:c:begin -->".into())
        );
    }

    #[test]
    fn a_duplicated_or_reversed_marker_is_named() {
        let twice = format!("{DOC}\n<!-- rackwatch-bench:a:begin -->\n");
        let error = rewrite(&twice, &[block("a", "new")]).unwrap_err();
        assert_eq!(
            error,
            MarkerError::Duplicated {
                marker: "<!-- rackwatch-bench:a:begin -->".into(),
                count: 2
            }
        );
        assert!(error.to_string().contains("occurs 2 times"));
        let reversed = "<!-- rackwatch-bench:a:end -->\nx\n<!-- rackwatch-bench:a:begin -->\n";
        let error = rewrite(reversed, &[block("a", "new")]).unwrap_err();
        assert!(matches!(error, MarkerError::OutOfOrder { .. }), "{error}");
    }

    #[test]
    fn the_file_is_left_untouched_when_a_marker_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("BENCHMARKS.md");
        let broken = DOC.replace("<!-- rackwatch-bench:b:begin -->", "");
        std::fs::write(&path, &broken).unwrap();
        let error = update_file(&path, &[block("a", "new a"), block("b", "new b")]).unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("BENCHMARKS.md"), "{message}");
        assert!(
            message.contains("<!-- rackwatch-bench:b:begin -->"),
            "{message}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
        std::fs::write(&path, DOC).unwrap();
        update_file(&path, &[block("a", "new a")]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            DOC.replace("old a", "new a")
        );
    }
}
