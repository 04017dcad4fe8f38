//! WAL checkpoints on a thread of their own while a bulk writer (an import) writes: copying
//! its pages back into the database, and the fsyncs that go with it, then run on the other
//! core instead of inside the writer's commits.

use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// How often the thread looks for frames to copy back.
const INTERVAL: Duration = Duration::from_millis(50);

/// The checkpointing thread; dropping this stops it (after the checkpoint it is in).
pub(super) struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// A thread checkpointing the store at `path` through a connection of its own.
    pub fn start(path: &Path) -> rusqlite::Result<Checkpointer> {
        let conn = Connection::open(path)?;
        // A checkpoint that meets the writer's lock skips those frames and comes back later.
        conn.busy_timeout(Duration::ZERO)?;
        let (stop, stopped) = channel();
        let thread = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || run(&conn, &stopped))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Checkpointer { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(t) = self.thread.take() {
            // A panic in the thread is not this drop's to repeat; the checkpoints are only
            // an optimisation (the writer's own connection checkpoints when it closes).
            let _ = t.join();
        }
    }
}

fn run(conn: &Connection, stopped: &Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        // PASSIVE never waits for or blocks the writer; a busy database is tried again later.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "background checkpoint");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::Item;
    use crate::store::Store;

    /// Writes made while the thread checkpoints are all there when the store is opened again,
    /// and dropping the store stops the thread.
    #[test]
    fn a_store_checkpointing_aside_keeps_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let items: Vec<Item> = (0..3000)
            .map(|i| Item {
                key: format!("d:{i}"),
                dataset: "d".into(),
                title: format!("item {i}"),
                body: "x".repeat(500),
                ..Default::default()
            })
            .collect();
        {
            let mut s = Store::open(&path).unwrap();
            s.checkpoint_aside().unwrap();
            for chunk in items.chunks(100) {
                s.upsert_items(chunk, "t").unwrap();
            }
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.item_count(Some("d")).unwrap(), 3000);
        assert_eq!(s.item("d:2999").unwrap().unwrap().title, "item 2999");
    }
}
