//! WAL checkpoints of a bulk write, copied back into the database file on a thread of their
//! own: the writer's thread is an import's critical path, and SQLite's automatic checkpoint
//! runs on it after every commit that leaves 1,000 pages in the log.

use std::path::Path;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::Connection;
use rusqlite::wal::CheckpointMode;

/// Pages in the log from which the thread copies them back (SQLite's automatic default).
const WAKE_PAGES: i32 = 1000;
/// Pages in the log from which the writer waits for the copy itself, so the log starts over
/// and its file stays bounded (64 MB of 4 KiB pages): a thread that copies while the writer
/// commits never leaves the whole log copied, and SQLite restarts it only then.
pub(super) const HOLD_PAGES: i32 = 16_384;

enum Wake {
    Copy,
    Stop,
}

/// The thread copying the log back, and how to stop it.
pub(super) struct Checkpointer {
    wake: SyncSender<Wake>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Start the thread for the store at `path` and hand `conn`'s checkpoints to it
    /// (`hold` pages: see [`HOLD_PAGES`]). None when the store has no file (in memory).
    pub(super) fn start(conn: &mut Connection, path: &Path, hold: i32) -> Option<Checkpointer> {
        let other = Connection::open(path).ok()?;
        // One copy at a time: the writer's own waits for the thread's to end (SQLite would
        // refuse a second passive checkpoint at once rather than wait for the first).
        let copying = Arc::new(Mutex::new(()));
        // One wake-up waiting is enough: the thread copies everything committed by then.
        let (wake, woken) = std::sync::mpsc::sync_channel::<Wake>(1);
        let thread = {
            let copying = Arc::clone(&copying);
            std::thread::Builder::new()
                .name("checkpoint".into())
                .spawn(move || {
                    crate::background::lower_priority();
                    while let Ok(Wake::Copy) = woken.recv() {
                        let _one = copying.lock();
                        // Failures are left to the writer's own copies (at `hold` pages).
                        let _ = other.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    }
                })
                .ok()?
        };
        let sender = wake.clone();
        let wake_at = WAKE_PAGES.min(hold);
        let hooked = conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages: i32| {
            if pages < wake_at {
                return Ok(());
            }
            let gone = matches!(sender.try_send(Wake::Copy), Err(TrySendError::Disconnected(_)));
            if pages >= hold || gone {
                let _one = copying.lock();
                // An error here would fail the commit that has already happened; a copy that
                // could not be made is tried again at the next commit.
                let _ = wal.checkpoint_v2(CheckpointMode::PASSIVE);
            }
            Ok(())
        }));
        let mut started = Checkpointer { wake, thread: Some(thread) };
        match hooked {
            Ok(()) => Some(started),
            Err(_) => {
                started.stop();
                None
            }
        }
    }

    fn stop(&mut self) {
        let _ = self.wake.send(Wake::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}
