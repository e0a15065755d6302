//! Acks, silences, maintenance windows, pending releases, transition marks and the audit, in the
//! history database.
//!
//! Invariants:
//! - Every operator change and its audit row are one transaction: no change without its row.
//! - The tables are created on open (`CREATE TABLE IF NOT EXISTS`) beside the history's own,
//!   which are opened (and migrated) first by [`Store::open`]; none of the history's tables
//!   changes, so an older rackwatch still reads the file. That a transition was muted is a side
//!   table, `transition_marks`, keyed by the transition's stable id (`docs/webhook.md`).
//! - Input is bounded before it is stored: comments [`MAX_COMMENT`], names [`MAX_AUTHOR`],
//!   matchers [`MAX_MATCHERS`].
//! - An alert can be acknowledged only while it is not OK (Nagios refuses the same): its level then
//!   is read from the node's latest boot's transitions.

use super::maintenance::{describe, When, Window};
use super::matcher::MAX_MATCHERS;
use super::{
    Ack, AckKind, AckRequest, AuditRow, ExpireRequest, RemoveWindowRequest, Silence,
    SilenceRequest, UnackRequest, WindowRequest, MAX_AUTHOR, MAX_COMMENT,
};
use crate::names::parse_level;
use crate::sink::message::TransitionMessage;
use crate::store::{Store, StoreError};
use rackwatch_core::Level;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS acks (
    node INTEGER NOT NULL, metric TEXT NOT NULL, level TEXT NOT NULL, kind TEXT NOT NULL,
    author TEXT NOT NULL, comment TEXT NOT NULL, created_ms INTEGER NOT NULL, until_ms INTEGER,
    PRIMARY KEY (node, metric)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY, matchers TEXT NOT NULL, starts_ms INTEGER NOT NULL,
    ends_ms INTEGER NOT NULL, creator TEXT NOT NULL, comment TEXT NOT NULL,
    created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, comment TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transition_marks (
    id TEXT PRIMARY KEY, wall_ms INTEGER NOT NULL, mark TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS maintenance (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, matchers TEXT NOT NULL, window TEXT NOT NULL,
    creator TEXT NOT NULL, comment TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS silence_releases (
    node INTEGER NOT NULL, metric TEXT NOT NULL, origin TEXT NOT NULL, message TEXT NOT NULL,
    PRIMARY KEY (node, metric, origin)) WITHOUT ROWID;
";

/// Why an operator change was refused.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request makes no sense; the text says why and what to do.
    #[error("{0}")]
    Refused(String),
}

/// The operator tables of one history database.
pub struct OperatorStore {
    conn: Connection,
    path: PathBuf,
}

fn refused(text: impl Into<String>) -> OperatorError {
    OperatorError::Refused(text.into())
}

fn bounded(what: &str, text: &str, max: usize) -> Result<String, OperatorError> {
    let n = text.chars().count();
    if n > max {
        return Err(refused(format!(
            "the {what} is {n} characters; at most {max} are kept"
        )));
    }
    Ok(text.to_string())
}

impl OperatorStore {
    /// Opens the history database at `path` (creating and migrating it as the history does) and
    /// its operator tables.
    pub fn open(path: &Path) -> Result<OperatorStore, StoreError> {
        drop(Store::open(path)?);
        let sqlite = |e| StoreError::Sqlite {
            path: path.to_path_buf(),
            source: e,
        };
        let conn = Connection::open(path).map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sqlite)?;
        conn.execute_batch(SCHEMA).map_err(sqlite)?;
        Ok(OperatorStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, e: rusqlite::Error) -> OperatorError {
        sqlite_of(&self.path, e)
    }

    /// Starts an operator change (see [`Change`]).
    fn change(&mut self) -> Result<Change<'_>, OperatorError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| sqlite_of(&self.path, e))?;
        Ok(Change {
            tx,
            path: &self.path,
        })
    }

    /// Acknowledges the alert(s) of `req` at `now_ms`; returns the acks made.
    pub fn ack(&mut self, req: &AckRequest, now_ms: u64) -> Result<Vec<Ack>, OperatorError> {
        let comment = bounded("comment", &req.comment, MAX_COMMENT)?;
        let author = bounded("author", &req.author, MAX_AUTHOR)?;
        if comment.trim().is_empty() {
            return Err(refused("an ack needs a --comment saying why"));
        }
        if req.until_ms.is_some_and(|u| u <= now_ms) {
            return Err(refused("--until is in the past: give a later time"));
        }
        let levels = self.current_levels(req.node)?;
        let alerts: Vec<(String, Level)> = match &req.metric {
            Some(metric) => match levels.get(metric) {
                Some(&level) if level != Level::Ok => vec![(metric.clone(), level)],
                Some(_) => {
                    return Err(refused(format!(
                        "{}/{metric} is OK: only an alert that is not OK can be acknowledged",
                        req.node
                    )))
                }
                None => {
                    return Err(refused(format!(
                        "{}/{metric} has no alert in the history: check the node and metric with `rackwatch alerts`",
                        req.node
                    )))
                }
            },
            None => levels.into_iter().filter(|(_, l)| *l != Level::Ok).collect(),
        };
        if alerts.is_empty() {
            return Err(refused(format!(
                "node {} has no alert that is not OK: nothing to acknowledge",
                req.node
            )));
        }
        let kind = if req.sticky {
            AckKind::Sticky
        } else {
            AckKind::Normal
        };
        let acks: Vec<Ack> = alerts
            .into_iter()
            .map(|(metric, level)| Ack {
                node: req.node,
                metric,
                level,
                kind,
                author: author.clone(),
                comment: comment.clone(),
                created_ms: now_ms,
                until_ms: req.until_ms,
            })
            .collect();
        let tx = self.change()?;
        for a in &acks {
            tx.execute(
                "INSERT OR REPLACE INTO acks VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    a.node,
                    a.metric,
                    a.level.as_str(),
                    a.kind.as_str(),
                    a.author,
                    a.comment,
                    a.created_ms as i64,
                    a.until_ms.map(|u| u as i64)
                ],
            )?;
            let action = format!("ack ({})", a.kind.as_str());
            tx.audit(
                now_ms,
                &author,
                &action,
                &format!("{}/{}", a.node, a.metric),
                &comment,
            )?;
        }
        tx.commit()?;
        Ok(acks)
    }

    /// Removes the ack(s) of `req`; returns how many there were.
    pub fn unack(&mut self, req: &UnackRequest, now_ms: u64) -> Result<usize, OperatorError> {
        let author = bounded("author", &req.author, MAX_AUTHOR)?;
        let comment = bounded("comment", &req.comment, MAX_COMMENT)?;
        let acks: Vec<Ack> = self
            .acks()?
            .into_iter()
            .filter(|a| a.node == req.node && req.metric.as_ref().is_none_or(|m| *m == a.metric))
            .collect();
        if acks.is_empty() {
            let what = match &req.metric {
                Some(m) => format!("{}/{m}", req.node),
                None => format!("node {}", req.node),
            };
            return Err(refused(format!(
                "{what} is not acknowledged: `rackwatch alerts` shows the acks"
            )));
        }
        let tx = self.change()?;
        for a in &acks {
            tx.execute(
                "DELETE FROM acks WHERE node = ?1 AND metric = ?2",
                params![a.node, a.metric],
            )?;
            tx.audit(
                now_ms,
                &author,
                "unack",
                &format!("{}/{}", a.node, a.metric),
                &comment,
            )?;
        }
        tx.commit()?;
        Ok(acks.len())
    }

    /// The daemon ends an ack on its own (`action` `ack_cleared` or `ack_expired`), saying why.
    pub fn end_ack(
        &mut self,
        ack: &Ack,
        action: &str,
        why: &str,
        now_ms: u64,
    ) -> Result<(), OperatorError> {
        let tx = self.change()?;
        let gone = tx.execute(
            "DELETE FROM acks WHERE node = ?1 AND metric = ?2 AND created_ms = ?3",
            params![ack.node, ack.metric, ack.created_ms as i64],
        )?;
        if gone > 0 {
            tx.audit(
                now_ms,
                "rackwatch",
                action,
                &format!("{}/{}", ack.node, ack.metric),
                why,
            )?;
        }
        tx.commit()
    }

    /// Adds the silence of `req`; returns it with its id.
    pub fn add_silence(
        &mut self,
        req: &SilenceRequest,
        now_ms: u64,
    ) -> Result<Silence, OperatorError> {
        let comment = bounded("comment", &req.comment, MAX_COMMENT)?;
        let creator = bounded("creator", &req.creator, MAX_AUTHOR)?;
        if comment.trim().is_empty() {
            return Err(refused("a silence needs a --comment saying why"));
        }
        if req.matchers.is_empty() {
            return Err(refused(
                "a silence needs at least one matcher (node=3, metric=~inlet_.*)",
            ));
        }
        if req.matchers.len() > MAX_MATCHERS {
            return Err(refused(format!(
                "a silence has at most {MAX_MATCHERS} matchers"
            )));
        }
        let starts_ms = req.starts_ms.unwrap_or(now_ms);
        if req.ends_ms <= starts_ms.max(now_ms) {
            return Err(refused(
                "the silence would end before it starts or in the past: give a later end",
            ));
        }
        let matchers: Vec<String> = req.matchers.iter().map(|m| m.to_string()).collect();
        let matchers_json = serde_json::to_string(&matchers).unwrap_or_default();
        let tx = self.change()?;
        tx.execute(
            "INSERT INTO silences (matchers, starts_ms, ends_ms, creator, comment, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                matchers_json,
                starts_ms as i64,
                req.ends_ms as i64,
                creator,
                comment,
                now_ms as i64
            ],
        )?;
        let id = tx.last_id();
        let target = format!("silence {id}: {}", matchers.join(" "));
        tx.audit(now_ms, &creator, "silence_add", &target, &comment)?;
        tx.commit()?;
        Ok(Silence {
            id,
            matchers: req.matchers.clone(),
            starts_ms,
            ends_ms: req.ends_ms,
            creator,
            comment,
            created_ms: now_ms,
        })
    }

    /// Ends silence `req.id` now.
    pub fn expire_silence(
        &mut self,
        req: &ExpireRequest,
        now_ms: u64,
    ) -> Result<(), OperatorError> {
        let author = bounded("author", &req.author, MAX_AUTHOR)?;
        let comment = bounded("comment", &req.comment, MAX_COMMENT)?;
        let tx = self.change()?;
        let changed = tx.execute(
            "UPDATE silences SET ends_ms = ?2 WHERE id = ?1 AND ends_ms > ?2",
            params![req.id as i64, now_ms as i64],
        )?;
        if changed == 0 {
            return Err(refused(format!(
                "silence {} does not exist or has already ended: `rackwatch silence list` shows them",
                req.id
            )));
        }
        tx.audit(
            now_ms,
            &author,
            "silence_expire",
            &format!("silence {}", req.id),
            &comment,
        )?;
        tx.commit()
    }

    /// Adds the maintenance window of `req`; returns it with its id.
    pub fn add_window(
        &mut self,
        req: &WindowRequest,
        now_ms: u64,
    ) -> Result<Window, OperatorError> {
        let comment = bounded("comment", &req.comment, MAX_COMMENT)?;
        let creator = bounded("creator", &req.creator, MAX_AUTHOR)?;
        let name = bounded("name", req.name.as_deref().unwrap_or(""), MAX_AUTHOR)?;
        if comment.trim().is_empty() {
            return Err(refused("a maintenance window needs a --comment saying why"));
        }
        if req.matchers.is_empty() || req.matchers.len() > MAX_MATCHERS {
            return Err(refused(format!(
                "a maintenance window has 1 to {MAX_MATCHERS} matchers (node=3, rack=r2)"
            )));
        }
        if let When::Once { ends_ms, .. } = req.when {
            if ends_ms <= now_ms {
                return Err(refused(
                    "the window would end in the past: give a later end",
                ));
            }
        }
        let mut window = Window {
            id: 0,
            name,
            matchers: req.matchers.clone(),
            when: req.when.clone(),
            creator: creator.clone(),
            comment: comment.clone(),
        };
        window = window.compile().map_err(refused)?.window;
        let matchers: Vec<String> = req.matchers.iter().map(|m| m.to_string()).collect();
        let tx = self.change()?;
        tx.execute(
            "INSERT INTO maintenance (name, matchers, window, creator, comment, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                window.name,
                serde_json::to_string(&matchers).unwrap_or_default(),
                serde_json::to_string(&window.when).unwrap_or_default(),
                creator,
                comment,
                now_ms as i64
            ],
        )?;
        window.id = tx.last_id();
        if window.name.trim().is_empty() {
            window.name = format!("window {}", window.id);
            tx.execute(
                "UPDATE maintenance SET name = ?2 WHERE id = ?1",
                params![window.id as i64, window.name],
            )?;
        }
        let target = format!(
            "{} ({}): {}; {}",
            window.name,
            window.id,
            matchers.join(" "),
            describe(&window.when)
        );
        tx.audit(now_ms, &creator, "maintenance_add", &target, &comment)?;
        tx.commit()?;
        Ok(window)
    }

    /// Removes maintenance window `req.id`.
    pub fn remove_window(
        &mut self,
        req: &RemoveWindowRequest,
        now_ms: u64,
    ) -> Result<(), OperatorError> {
        let author = bounded("author", &req.author, MAX_AUTHOR)?;
        let comment = bounded("comment", &req.comment, MAX_COMMENT)?;
        let tx = self.change()?;
        let name: Option<String> = tx.name_of_window(req.id)?;
        let Some(name) = name else {
            return Err(refused(format!(
                "maintenance window {} does not exist: `rackwatch maintenance list` shows them \
                 (a configured window is removed from the configuration)",
                req.id
            )));
        };
        tx.execute(
            "DELETE FROM maintenance WHERE id = ?1",
            params![req.id as i64],
        )?;
        tx.audit(
            now_ms,
            &author,
            "maintenance_remove",
            &format!("{name} ({})", req.id),
            &comment,
        )?;
        tx.commit()
    }

    /// Every maintenance window added (not the configured ones), oldest first.
    pub fn windows(&self) -> Result<Vec<Window>, OperatorError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, name, matchers, window, creator, comment FROM maintenance ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut windows = Vec::new();
        for row in rows {
            let (id, name, matchers, when, creator, comment) = row.map_err(|e| self.err(e))?;
            // A row this build cannot read (written by hand) is skipped rather than guessed at.
            let (Ok(matchers), Ok(when)) =
                (serde_json::from_str(&matchers), serde_json::from_str(&when))
            else {
                continue;
            };
            windows.push(Window {
                id: id as u64,
                name,
                matchers,
                when,
                creator,
                comment,
            });
        }
        Ok(windows)
    }

    /// Every ack.
    pub fn acks(&self) -> Result<Vec<Ack>, OperatorError> {
        let mut stmt = self
            .conn
            .prepare("SELECT node, metric, level, kind, author, comment, created_ms, until_ms FROM acks ORDER BY node, metric")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, u16>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut acks = Vec::new();
        for row in rows {
            let (node, metric, level, kind, author, comment, created, until) =
                row.map_err(|e| self.err(e))?;
            // A row this build cannot read (written by hand) is skipped rather than guessed at.
            let (Some(level), Some(kind)) = (parse_level(&level), AckKind::parse(&kind)) else {
                continue;
            };
            acks.push(Ack {
                node,
                metric,
                level,
                kind,
                author,
                comment,
                created_ms: created as u64,
                until_ms: until.map(|u| u as u64),
            });
        }
        Ok(acks)
    }

    /// Silences that have not ended by `now_ms` (all of them with `all`), oldest first.
    pub fn silences(&self, now_ms: u64, all: bool) -> Result<Vec<Silence>, OperatorError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, matchers, starts_ms, ends_ms, creator, comment, created_ms FROM silences
                 WHERE ?1 OR ends_ms > ?2 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![all, now_ms as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut silences = Vec::new();
        for row in rows {
            let (id, matchers, starts, ends, creator, comment, created) =
                row.map_err(|e| self.err(e))?;
            let Ok(matchers) = serde_json::from_str(&matchers) else {
                continue;
            };
            silences.push(Silence {
                id: id as u64,
                matchers,
                starts_ms: starts as u64,
                ends_ms: ends as u64,
                creator,
                comment,
                created_ms: created as u64,
            });
        }
        Ok(silences)
    }

    /// The audit, oldest first, at most `limit` rows (the newest).
    pub fn audit(&self, limit: u64) -> Result<Vec<AuditRow>, OperatorError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT * FROM (SELECT id, at_ms, who, action, target, comment FROM audit
                 ORDER BY id DESC LIMIT ?1) ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![limit.min(i64::MAX as u64) as i64], |r| {
                Ok(AuditRow {
                    id: r.get::<_, i64>(0)? as u64,
                    at_ms: r.get::<_, i64>(1)? as u64,
                    who: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    comment: r.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Records that transition `id` was muted (`mark`: `acknowledged` or `silenced`; `detail`: by
    /// whom or which silence).
    pub fn mark(&mut self, marks: &[(String, u64, &str, String)]) -> Result<(), OperatorError> {
        let tx = self.change()?;
        for (id, wall_ms, mark, detail) in marks {
            tx.execute(
                "INSERT OR IGNORE INTO transition_marks VALUES (?1, ?2, ?3, ?4)",
                params![id, *wall_ms as i64, mark, detail],
            )?;
        }
        tx.commit()
    }

    /// Forgets the marks of transitions retention has deleted (older than the oldest one left);
    /// returns how many.
    pub fn prune_marks(&mut self) -> Result<usize, OperatorError> {
        self.conn
            .execute(
                "DELETE FROM transition_marks
                 WHERE wall_ms < COALESCE((SELECT MIN(wall_ms) FROM transitions), 1 << 62)",
                [],
            )
            .map_err(|e| self.err(e))
    }

    /// The mark of transition `id`, if it was muted: (`acknowledged` or `silenced`, detail).
    pub fn mark_of(&self, id: &str) -> Result<Option<(String, String)>, OperatorError> {
        self.conn
            .query_row(
                "SELECT mark, detail FROM transition_marks WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The latest silenced transition of its alert is kept to be sent when the silence ends
    /// (`Some`), or forgotten once a transition of the alert was notified (`None`).
    pub fn hold(&mut self, m: &TransitionMessage, held: bool) -> Result<(), OperatorError> {
        let result = if held {
            self.conn.execute(
                "INSERT OR REPLACE INTO silence_releases VALUES (?1, ?2, ?3, ?4)",
                params![
                    m.node,
                    m.metric,
                    m.origin,
                    serde_json::to_string(m).unwrap_or_default()
                ],
            )
        } else {
            self.conn.execute(
                "DELETE FROM silence_releases WHERE node = ?1 AND metric = ?2 AND origin = ?3",
                params![m.node, m.metric, m.origin],
            )
        };
        result.map(|_| ()).map_err(|e| self.err(e))
    }

    /// The transitions held back by silences.
    pub fn held(&self) -> Result<Vec<TransitionMessage>, OperatorError> {
        let mut stmt = self
            .conn
            .prepare("SELECT message FROM silence_releases ORDER BY node, metric, origin")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        let mut held = Vec::new();
        for row in rows {
            if let Ok(m) = serde_json::from_str(&row.map_err(|e| self.err(e))?) {
                held.push(m);
            }
        }
        Ok(held)
    }

    /// Each metric's level on `node`'s latest boot, from its transitions (OK when it has none).
    fn current_levels(&self, node: u16) -> Result<BTreeMap<String, Level>, OperatorError> {
        let mut stmt = self
            .conn
            .prepare(
                "WITH latest AS (SELECT boot FROM boots WHERE node = ?1
                                 ORDER BY COALESCE(first_wall_ms, 0) DESC LIMIT 1)
                 SELECT m.name, t.to_level FROM metrics m
                 LEFT JOIN transitions t ON t.node = m.node AND t.boot = m.boot AND t.metric = m.metric
                 WHERE m.node = ?1 AND m.boot = (SELECT boot FROM latest)
                 ORDER BY t.wall_ms, t.at_ms",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![node], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut levels = BTreeMap::new();
        for row in rows {
            let (name, level) = row.map_err(|e| self.err(e))?;
            let level = level.as_deref().and_then(parse_level).unwrap_or(Level::Ok);
            levels.insert(name, level);
        }
        Ok(levels)
    }
}

fn sqlite_of(path: &Path, e: rusqlite::Error) -> OperatorError {
    OperatorError::Store(StoreError::Sqlite {
        path: path.to_path_buf(),
        source: e,
    })
}

/// One operator change: its writes and their audit rows commit together or not at all (dropped
/// without [`Change::commit`], it rolls back), and SQLite's errors name the database file.
struct Change<'a> {
    tx: rusqlite::Transaction<'a>,
    path: &'a Path,
}

impl Change<'_> {
    fn execute(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, OperatorError> {
        self.tx
            .execute(sql, params)
            .map_err(|e| sqlite_of(self.path, e))
    }

    /// The id of the row just inserted.
    fn last_id(&self) -> u64 {
        self.tx.last_insert_rowid() as u64
    }

    /// The name of maintenance window `id`, if it exists.
    fn name_of_window(&self, id: u64) -> Result<Option<String>, OperatorError> {
        self.tx
            .query_row(
                "SELECT name FROM maintenance WHERE id = ?1",
                params![id as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sqlite_of(self.path, e))
    }

    /// Records who did `action` to `target` at `at_ms`, and why.
    fn audit(
        &self,
        at_ms: u64,
        who: &str,
        action: &str,
        target: &str,
        comment: &str,
    ) -> Result<(), OperatorError> {
        self.execute(
            "INSERT INTO audit (at_ms, who, action, target, comment) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![at_ms as i64, who, action, target, comment],
        )
        .map(|_| ())
    }

    fn commit(self) -> Result<(), OperatorError> {
        self.tx.commit().map_err(|e| sqlite_of(self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_bounded_and_refused_with_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = OperatorStore::open(&dir.path().join("history.db")).unwrap();
        let silence = |comment: &str, ends_ms: u64, matchers: Vec<&str>| SilenceRequest {
            matchers: matchers
                .into_iter()
                .map(|m| crate::operator::matcher::Matcher::parse(m).unwrap())
                .collect(),
            starts_ms: None,
            ends_ms,
            creator: "ana".into(),
            comment: comment.into(),
        };
        let refused = |r: Result<Silence, OperatorError>| match r {
            Err(OperatorError::Refused(why)) => why,
            other => panic!("not refused: {other:?}"),
        };
        let long = "x".repeat(MAX_COMMENT + 1);
        assert!(
            refused(store.add_silence(&silence(&long, 2_000, vec!["node=1"]), 1_000))
                .contains("at most")
        );
        assert!(
            refused(store.add_silence(&silence(" ", 2_000, vec!["node=1"]), 1_000))
                .contains("--comment")
        );
        assert!(
            refused(store.add_silence(&silence("c", 2_000, vec![]), 1_000))
                .contains("at least one matcher")
        );
        assert!(
            refused(store.add_silence(&silence("c", 999, vec!["node=1"]), 1_000))
                .contains("later end")
        );
        let many: Vec<&str> = vec!["node=1"; MAX_MATCHERS + 1];
        assert!(refused(store.add_silence(&silence("c", 2_000, many), 1_000)).contains("at most"));
        // Nothing refused reached the audit; an accepted one did.
        assert!(store.audit(100).unwrap().is_empty());
        let s = store
            .add_silence(&silence("c", 2_000, vec!["node=1"]), 1_000)
            .unwrap();
        assert_eq!(store.silences(1_500, false).unwrap(), vec![s.clone()]);
        assert!(store.silences(2_000, false).unwrap().is_empty());
        assert_eq!(store.audit(100).unwrap().len(), 1);
        // A node with no history has nothing to acknowledge.
        let ack = AckRequest {
            node: 9,
            metric: None,
            sticky: false,
            until_ms: None,
            author: "ana".into(),
            comment: "c".into(),
        };
        match store.ack(&ack, 1_000) {
            Err(OperatorError::Refused(why)) => {
                assert!(why.contains("nothing to acknowledge"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }
}
