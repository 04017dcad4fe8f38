//! `sift serve --record`: every answered request becomes a suggestion in the day's run
//! (`serve-YYYY-MM-DD`), written by one thread in batches, so served predictions enter the
//! weekly accuracy sample like any other suggestion.

use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::model::{Item, LabelScore, Run, RunState, Suggestion, now_rfc3339, sha256_hex};
use crate::store::Store;
use crate::suggest::predict::Version;

/// Most answers written in one transaction.
const BATCH: usize = 256;

/// One answered request.
pub struct Served {
    /// The item, when it is a served text (items of the store are not written again).
    pub new_item: Option<Item>,
    pub key: String,
    pub labels: Vec<LabelScore>,
    pub rationale: String,
    pub abstained: bool,
    /// Set when a fallback answered: the provider and model that did.
    pub provider: String,
    pub model: String,
}

/// The sending side; dropping it (and `finish`) ends the writer after the last batch.
pub struct Recorder {
    tx: Mutex<Option<mpsc::SyncSender<Served>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Recorder {
    /// Start the writer on its own store connection.
    pub fn start(store: Store, version: Version) -> Self {
        // Bounded: a store slower than the requests slows them instead of filling memory.
        let (tx, rx) = mpsc::sync_channel(4 * BATCH);
        let worker = std::thread::Builder::new()
            .name("sift-serve-record".into())
            .spawn(move || write_all(store, version, rx))
            .map_err(|e| tracing::error!("cannot start the recording thread: {e}"))
            .ok();
        Recorder { tx: Mutex::new(Some(tx)), worker: Mutex::new(worker) }
    }

    /// Queue an answer; false when the writer is gone (said in the log once it stopped).
    pub fn send(&self, s: Served) -> bool {
        let tx = lock(&self.tx).clone();
        // A full queue waits for the store; block_in_place hands this worker's other tasks
        // to another thread meanwhile, so the rest of the server keeps answering.
        let send = || tx.is_some_and(|tx| tx.send(s).is_ok());
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(send)
            }
            _ => send(),
        }
    }

    /// Write what is queued and stop; later answers are not recorded.
    pub fn finish(&self) {
        drop(lock(&self.tx).take());
        let worker = lock(&self.worker).take();
        if let Some(w) = worker
            && w.join().is_err()
        {
            tracing::error!("the recording thread panicked");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Holds an Option only: a panic elsewhere cannot leave it half-changed.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn write_all(mut store: Store, version: Version, rx: mpsc::Receiver<Served>) {
    let mut runs = DayRuns { version, current: None };
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        // Gather what arrives meanwhile, so a busy endpoint writes few transactions.
        while batch.len() < BATCH {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(s) => batch.push(s),
                Err(_) => break,
            }
        }
        if let Err(e) = runs.write(&mut store, batch) {
            tracing::error!("recording served predictions: {e}");
        }
    }
    if let Err(e) = runs.close(&store) {
        tracing::error!("closing the serve run: {e}");
    }
}

/// The run of the current UTC day, opened on its first answer.
struct DayRuns {
    version: Version,
    current: Option<Run>,
}

impl DayRuns {
    fn write(
        &mut self,
        store: &mut Store,
        batch: Vec<Served>,
    ) -> Result<(), crate::store::StoreError> {
        let run_id = self.run_for_today(store)?;
        let now = now_rfc3339();
        let items: Vec<Item> = batch.iter().filter_map(|s| s.new_item.clone()).collect();
        store.save_run_items(&run_id, &items, &now)?;
        let suggestions: Vec<Suggestion> = batch
            .into_iter()
            .map(|s| Suggestion {
                item: s.key,
                run: run_id.clone(),
                labels: s.labels,
                rationale: s.rationale,
                abstained: s.abstained,
                created_at: now.clone(),
                provider: s.provider,
                model: s.model,
                ..Default::default()
            })
            .collect();
        store.save_suggestions(&suggestions)
    }

    /// The id of today's run, made (or resumed) when the day changes.
    fn run_for_today(&mut self, store: &Store) -> Result<String, crate::store::StoreError> {
        let day = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
        let base = format!("serve-{day}");
        if let Some(r) = &self.current
            && r.name.as_deref().is_some_and(|n| n.starts_with(&base))
        {
            return Ok(r.id.clone());
        }
        if let Err(e) = self.close(store) {
            tracing::warn!("closing yesterday's serve run: {e}");
        }
        let v = &self.version;
        let same = |r: &Run| {
            r.provider == v.provider && r.model == v.model && r.prompt_hash == v.prompt_hash
        };
        // The day's run of another model or prompt keeps its name; this one gets a suffix.
        let name = match store.run(&base)? {
            Some(r) if !same(&r) => format!("{base}-{}", crate::text::prefix(&v.prompt_hash, 8)),
            _ => base,
        };
        let mut run = match store.run(&name)? {
            Some(r) if same(&r) => r,
            _ => self.new_run(&name),
        };
        run.status = "running".into();
        run.finished_at = None;
        store.save_run(&run)?;
        let id = run.id.clone();
        self.current = Some(run);
        Ok(id)
    }

    fn new_run(&self, name: &str) -> Run {
        let v = &self.version;
        let started_at = now_rfc3339();
        Run {
            id: format!("r-{}", &sha256_hex(&format!("{name}{started_at}{}", v.prompt_hash))[..12]),
            name: Some(name.to_string()),
            provider: v.provider.clone(),
            model: v.model.clone(),
            prompt_version: "serve".into(),
            prompt_hash: v.prompt_hash.clone(),
            taxonomy: v.taxonomy.clone(),
            config: serde_json::json!({ "serve": true, "sift": v.sift }),
            started_at,
            status: "running".into(),
            state: RunState::Experimental,
            ..Default::default()
        }
    }

    /// Mark the open run done.
    fn close(&mut self, store: &Store) -> Result<(), crate::store::StoreError> {
        let Some(mut run) = self.current.take() else { return Ok(()) };
        run.status = "done".into();
        run.finished_at = Some(now_rfc3339());
        store.save_run(&run)
    }
}
