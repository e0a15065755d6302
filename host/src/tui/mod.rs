//! The terminal dashboard behind `rackwatch watch`: [`mod@format`] turns a snapshot's fields into short
//! text and colours, [`dashboard`] lays a whole [`Snapshot`](crate::state::Snapshot) out on a
//! ratatui buffer (a terminal, or a plain buffer for `--once` and tests).

pub mod dashboard;
pub mod format;
