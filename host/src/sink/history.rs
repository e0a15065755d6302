//! History as a sink: every batch is one SQLite transaction ([`Store::write`]), and upkeep applies
//! the retention limits.

use super::{Batch, Sink};
use crate::store::Store;

/// A store with its retention limits.
pub struct History {
    store: Store,
    max_age_ms: Option<u64>,
    max_size: Option<u64>,
}

impl History {
    /// Writes to `store`, keeping at most `max_age_ms` of data and `max_size` bytes.
    pub fn new(store: Store, max_age_ms: Option<u64>, max_size: Option<u64>) -> History {
        History {
            store,
            max_age_ms,
            max_size,
        }
    }
}

impl Sink for History {
    fn deliver(&mut self, batch: &Batch<'_>) -> anyhow::Result<()> {
        Ok(self.store.write(batch.events)?)
    }

    fn maintain(&mut self, now_ms: u64) -> anyhow::Result<()> {
        if self.max_age_ms.is_some() || self.max_size.is_some() {
            self.store.retain(now_ms, self.max_age_ms, self.max_size)?;
        }
        Ok(())
    }
}
