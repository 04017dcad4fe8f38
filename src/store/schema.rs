//! Versioned schema migrations, applied in order and recorded in PRAGMA user_version.

/// Each entry migrates from version `index` to `index + 1`. Append only: never edit a
/// migration that has shipped, add a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE items (
    id            INTEGER PRIMARY KEY,
    key           TEXT NOT NULL UNIQUE,
    dataset       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    title         TEXT NOT NULL DEFAULT '',
    body          TEXT NOT NULL DEFAULT '',
    repo          TEXT,
    number        INTEGER,
    state         TEXT,
    author        TEXT,
    url           TEXT,
    created_at    TEXT,
    updated_at    TEXT,
    source_labels TEXT NOT NULL DEFAULT '[]',
    meta          TEXT,
    content_hash  TEXT NOT NULL,
    imported_at   TEXT NOT NULL,
    -- '/label off' from an authorised commenter: sift never touches the issue.
    sift_off      INTEGER NOT NULL DEFAULT 0,
    -- '/label auto': fresh suggestions were asked for.
    wants_suggest INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX items_dataset ON items(dataset, id);
CREATE INDEX items_repo ON items(repo, number);
CREATE TABLE turns (
    item_id    INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    role       TEXT NOT NULL,
    content    TEXT NOT NULL,
    tool_calls TEXT,
    PRIMARY KEY (item_id, seq)
) WITHOUT ROWID;
CREATE TABLE comments (
    item_id            INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    seq                INTEGER NOT NULL,
    github_id          INTEGER,
    author             TEXT NOT NULL DEFAULT '',
    author_association TEXT NOT NULL DEFAULT '',
    body               TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (item_id, seq)
) WITHOUT ROWID;
CREATE TABLE runs (
    id                  TEXT PRIMARY KEY,
    name                TEXT UNIQUE,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    prompt_version      TEXT NOT NULL DEFAULT '',
    prompt_hash         TEXT NOT NULL DEFAULT '',
    taxonomy            TEXT NOT NULL DEFAULT '',
    taxonomy_hash       TEXT NOT NULL DEFAULT '',
    config              TEXT NOT NULL DEFAULT '{}',
    dataset_fingerprint TEXT NOT NULL DEFAULT '',
    started_at          TEXT NOT NULL,
    finished_at         TEXT,
    status              TEXT NOT NULL,
    tokens_in           INTEGER NOT NULL DEFAULT 0,
    tokens_out          INTEGER NOT NULL DEFAULT 0,
    cost_usd            REAL NOT NULL DEFAULT 0,
    state               TEXT NOT NULL DEFAULT 'experimental',
    bundle              TEXT NOT NULL DEFAULT ''
);
CREATE TABLE suggestions (
    run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    item_key   TEXT NOT NULL,
    labels     TEXT NOT NULL,
    rationale  TEXT NOT NULL DEFAULT '',
    abstained  INTEGER NOT NULL DEFAULT 0,
    raw_labels TEXT NOT NULL DEFAULT '[]',
    dropped    TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, item_key)
) WITHOUT ROWID;
CREATE INDEX suggestions_item ON suggestions(item_key, created_at);
CREATE TABLE annotations (
    id          INTEGER PRIMARY KEY,
    item_key    TEXT NOT NULL,
    dataset     TEXT NOT NULL,
    annotator   TEXT NOT NULL,
    labels      TEXT NOT NULL,
    at          TEXT NOT NULL DEFAULT '',
    mode        TEXT NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    duration_ms INTEGER,
    suggestion  TEXT,
    week        TEXT,
    retracted   INTEGER NOT NULL DEFAULT 0,
    source      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX annotations_item ON annotations(item_key, annotator, id);
CREATE INDEX annotations_dataset ON annotations(dataset, annotator);
-- How far each annotations/<dataset>/<annotator>.jsonl has been replayed.
CREATE TABLE log_offsets (
    path   TEXT PRIMARY KEY,
    offset INTEGER NOT NULL,
    lines  INTEGER NOT NULL
);
CREATE TABLE pushes (
    id          TEXT PRIMARY KEY,
    repo        TEXT NOT NULL,
    mode        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,
    plan        TEXT NOT NULL DEFAULT '[]'
);
-- The push journal: written before a mutation is sent and after it succeeded.
CREATE TABLE push_ops (
    push_id   TEXT NOT NULL REFERENCES pushes(id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    item_key  TEXT NOT NULL,
    op        TEXT NOT NULL,
    payload   TEXT NOT NULL,
    state     TEXT NOT NULL,
    sent_at   TEXT,
    done_at   TEXT,
    response  TEXT,
    PRIMARY KEY (push_id, seq)
) WITHOUT ROWID;
-- Labels sift itself added to GitHub issues (never remove one a human set).
CREATE TABLE pushed_labels (
    repo     TEXT NOT NULL,
    number   INTEGER NOT NULL,
    label    TEXT NOT NULL,
    push_id  TEXT NOT NULL,
    added_at TEXT NOT NULL,
    removed_at TEXT,
    PRIMARY KEY (repo, number, label, push_id)
) WITHOUT ROWID;
CREATE TABLE sync_state (
    scope      TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE http_cache (
    url        TEXT PRIMARY KEY,
    etag       TEXT,
    last_modified TEXT,
    body       BLOB,
    fetched_at TEXT NOT NULL
);
CREATE TABLE token_budget (
    day    TEXT PRIMARY KEY,
    tokens INTEGER NOT NULL
);
CREATE TABLE suggest_cache (
    content_hash TEXT NOT NULL,
    prompt_hash  TEXT NOT NULL,
    model        TEXT NOT NULL,
    answer       TEXT NOT NULL,
    tokens_in    INTEGER NOT NULL DEFAULT 0,
    tokens_out   INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (content_hash, prompt_hash, model)
) WITHOUT ROWID;
"#,
    // 2: full-text and keyword indexes for `sift similar`. Both FTS5 tables are contentless
    // (the text already lives in items/turns/comments) with contentless_delete so rows can be
    // dropped when an item changes. item_index records what was indexed, with which content
    // hash and taxonomy, so Store::refresh_index only touches what changed.
    r#"
CREATE VIRTUAL TABLE item_fts USING fts5(
    title, body,
    content = '', contentless_delete = 1, detail = none,
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE VIRTUAL TABLE item_fts_vocab USING fts5vocab(item_fts, row);
CREATE VIRTUAL TABLE item_keywords_fts USING fts5(
    keywords,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TABLE item_index (
    item_id      INTEGER PRIMARY KEY,
    content_hash TEXT NOT NULL,
    labels_hash  TEXT NOT NULL DEFAULT '',
    keywords     TEXT NOT NULL DEFAULT '[]',
    indexed_at   TEXT NOT NULL
);
-- Items per keyword: orders a query's keywords rarest first (an fts5vocab lookup reads the
-- whole posting list, too slow for every query).
CREATE TABLE keyword_df (
    term TEXT PRIMARY KEY,
    docs INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    // 3: a covering index for the review queue: its rows (key, kind, title, repo) come from
    // the index alone, without reading item bodies, so a 100k-item queue loads fast.
    r#"
CREATE INDEX items_queue ON items(dataset, id, key, kind, title, repo);
"#,
    // 4: the provider and model that answered an item, when a fallback answered instead of
    // the run's own provider (empty: the run's).
    r#"
ALTER TABLE suggestions ADD COLUMN provider TEXT NOT NULL DEFAULT '';
ALTER TABLE suggestions ADD COLUMN model TEXT NOT NULL DEFAULT '';
"#,
    // 5: a fingerprint of the replayed part of each annotation log, and the file's
    // modification time then, so edits that keep or grow the file's length are noticed.
    r#"
ALTER TABLE log_offsets ADD COLUMN prefix_sha BLOB;
ALTER TABLE log_offsets ADD COLUMN mtime_ns INTEGER NOT NULL DEFAULT 0;
"#,
    // 6: tokens reserved for requests in flight, by every process, so that two runs at once
    // cannot both pass the daily budget: a request is sent only once its reservation fits.
    r#"
CREATE TABLE budget_reservations (
    id         INTEGER PRIMARY KEY,
    day        TEXT NOT NULL,
    tokens     INTEGER NOT NULL,
    owner      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX budget_reservations_day ON budget_reservations(day, created_at);
"#,
    // 7: where an item came from (a file path with its SHA-256; GitHub items have their repo),
    // so a rebuilt store can say what it could not fetch again.
    r#"
ALTER TABLE items ADD COLUMN source TEXT NOT NULL DEFAULT '';
"#,
    // 8: humans overriding sift on GitHub, noticed by `sift pull`: a label sift applied that a
    // human removed, or a label a human added to an issue sift labeled. `applied_at` is when
    // sift applied its label (the week the override counts against).
    r#"
CREATE TABLE label_overrides (
    repo       TEXT NOT NULL,
    number     INTEGER NOT NULL,
    label      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    seen_at    TEXT NOT NULL,
    PRIMARY KEY (repo, number, label, kind)
) WITHOUT ROWID;
CREATE INDEX label_overrides_applied ON label_overrides(applied_at);
"#,
    // 9: each item's structural signals in brief (`langs|tool calls|turns|tools`, see
    // text::signals), kept in the queue's covering index so `lang:`, `tools:` and `turns:`
    // filters need no item reads. Items stored before are '' until imported again.
    r#"
ALTER TABLE items ADD COLUMN signals TEXT NOT NULL DEFAULT '';
DROP INDEX items_queue;
CREATE INDEX items_queue ON items(dataset, id, key, kind, title, repo, signals);
"#,
    // 10: the consistency rules of labels.yml a suggestion breaks (JSON list of lines).
    r#"
ALTER TABLE suggestions ADD COLUMN violations TEXT NOT NULL DEFAULT '[]';
"#,
    // 11: the model's summary of the item and its keywords (seeds 002 and 003).
    r#"
ALTER TABLE suggestions ADD COLUMN summary TEXT NOT NULL DEFAULT '';
ALTER TABLE suggestions ADD COLUMN keywords TEXT NOT NULL DEFAULT '[]';
"#,
    // 12: provider batches of a run (`suggest --batch`): which items each holds, by custom
    // id, and where it stands, so any process can poll, collect or cancel it.
    r#"
CREATE TABLE run_batches (
    run_id     TEXT NOT NULL,
    batch_id   TEXT NOT NULL,
    provider   TEXT NOT NULL,
    status     TEXT NOT NULL,
    items      TEXT NOT NULL,
    counts     TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (run_id, batch_id)
) WITHOUT ROWID;
"#,
    // 13: row counts kept by triggers, so `sift status` reads a few rows instead of counting
    // a million items and two million annotations. `pending` counts annotations whose item
    // is not in the store.
    r#"
CREATE TABLE counts (
    what TEXT NOT NULL,
    k1   TEXT NOT NULL DEFAULT '',
    k2   TEXT NOT NULL DEFAULT '',
    n    INTEGER NOT NULL,
    PRIMARY KEY (what, k1, k2)
) WITHOUT ROWID;
INSERT INTO counts(what, k1, k2, n)
    SELECT 'items', dataset, kind, count(*) FROM items GROUP BY dataset, kind;
INSERT INTO counts(what, k1, k2, n)
    SELECT 'annotations', annotator, '', count(*) FROM annotations GROUP BY annotator;
INSERT INTO counts(what, n)
    SELECT 'pending', count(*) FROM annotations WHERE item_key NOT IN (SELECT key FROM items);
INSERT INTO counts(what, n) SELECT 'runs', count(*) FROM runs;
INSERT INTO counts(what, n) SELECT 'suggestions', count(*) FROM suggestions;
CREATE TRIGGER counts_item_in AFTER INSERT ON items BEGIN
    INSERT INTO counts(what, k1, k2, n) VALUES ('items', NEW.dataset, NEW.kind, 1)
        ON CONFLICT(what, k1, k2) DO UPDATE SET n = n + 1;
    UPDATE counts SET n = n - (SELECT count(*) FROM annotations WHERE item_key = NEW.key)
        WHERE what = 'pending' AND k1 = '' AND k2 = '' AND n > 0;
END;
CREATE TRIGGER counts_item_out AFTER DELETE ON items BEGIN
    UPDATE counts SET n = n - 1 WHERE what = 'items' AND k1 = OLD.dataset AND k2 = OLD.kind;
    UPDATE counts SET n = n + (SELECT count(*) FROM annotations WHERE item_key = OLD.key)
        WHERE what = 'pending' AND k1 = '' AND k2 = '';
END;
CREATE TRIGGER counts_item_moved AFTER UPDATE OF dataset, kind, key ON items BEGIN
    UPDATE counts SET n = n - 1 WHERE what = 'items' AND k1 = OLD.dataset AND k2 = OLD.kind;
    INSERT INTO counts(what, k1, k2, n) VALUES ('items', NEW.dataset, NEW.kind, 1)
        ON CONFLICT(what, k1, k2) DO UPDATE SET n = n + 1;
    UPDATE counts SET n = n
        + (SELECT count(*) FROM annotations WHERE item_key = OLD.key AND OLD.key <> NEW.key)
        - (SELECT count(*) FROM annotations WHERE item_key = NEW.key AND OLD.key <> NEW.key)
        WHERE what = 'pending' AND k1 = '' AND k2 = '';
END;
CREATE TRIGGER counts_annotation_in AFTER INSERT ON annotations BEGIN
    INSERT INTO counts(what, k1, k2, n) VALUES ('annotations', NEW.annotator, '', 1)
        ON CONFLICT(what, k1, k2) DO UPDATE SET n = n + 1;
    UPDATE counts SET n = n + 1 WHERE what = 'pending' AND k1 = '' AND k2 = ''
        AND NOT EXISTS (SELECT 1 FROM items WHERE key = NEW.item_key);
END;
CREATE TRIGGER counts_annotation_out AFTER DELETE ON annotations BEGIN
    UPDATE counts SET n = n - 1 WHERE what = 'annotations' AND k1 = OLD.annotator;
    UPDATE counts SET n = n - 1 WHERE what = 'pending' AND k1 = '' AND k2 = ''
        AND NOT EXISTS (SELECT 1 FROM items WHERE key = OLD.item_key);
END;
CREATE TRIGGER counts_run_in AFTER INSERT ON runs BEGIN
    UPDATE counts SET n = n + 1 WHERE what = 'runs' AND k1 = '' AND k2 = '';
END;
CREATE TRIGGER counts_run_out AFTER DELETE ON runs BEGIN
    UPDATE counts SET n = n - 1 WHERE what = 'runs' AND k1 = '' AND k2 = '';
END;
CREATE TRIGGER counts_suggestion_in AFTER INSERT ON suggestions BEGIN
    UPDATE counts SET n = n + 1 WHERE what = 'suggestions' AND k1 = '' AND k2 = '';
END;
CREATE TRIGGER counts_suggestion_out AFTER DELETE ON suggestions BEGIN
    UPDATE counts SET n = n - 1 WHERE what = 'suggestions' AND k1 = '' AND k2 = '';
END;
"#,
    // 14: items_queue (dataset, id, ...) serves every lookup items_dataset (dataset, id) did;
    // one index fewer to write per imported item.
    r#"
DROP INDEX IF EXISTS items_dataset;
"#,
    // 15: a counter of changes to items' text or dataset (kept by triggers), so a refresh of
    // the similarity index that has nothing to do knows it without scanning every item.
    r#"
INSERT INTO counts(what, n) VALUES ('changes', 0);
CREATE TRIGGER changes_item_in AFTER INSERT ON items BEGIN
    UPDATE counts SET n = n + 1 WHERE what = 'changes' AND k1 = '' AND k2 = '';
END;
CREATE TRIGGER changes_item_text AFTER UPDATE OF content_hash, dataset ON items
    WHEN OLD.content_hash IS NOT NEW.content_hash OR OLD.dataset IS NOT NEW.dataset
BEGIN
    UPDATE counts SET n = n + 1 WHERE what = 'changes' AND k1 = '' AND k2 = '';
END;
CREATE TRIGGER changes_item_out AFTER DELETE ON items BEGIN
    UPDATE counts SET n = n + 1 WHERE what = 'changes' AND k1 = '' AND k2 = '';
END;
"#,
    // 16: creation times in the queue's covering index, so `sort:age` orders by when an item
    // was opened without reading item rows.
    r#"
DROP INDEX items_queue;
CREATE INDEX items_queue ON items(dataset, id, key, kind, title, repo, signals, created_at);
"#,
    // 17: suggestions counted again: stores of versions 13-16 added one for every suggestion
    // an INSERT OR REPLACE replaced (its delete trigger did not fire without
    // recursive_triggers, which sift now turns on).
    r#"
UPDATE counts SET n = (SELECT count(*) FROM suggestions) WHERE what = 'suggestions';
"#,
    // 18: one annotator's records without reading everyone's: the review screen reads only
    // its own annotator's answers before the first frame.
    r#"
CREATE INDEX IF NOT EXISTS annotations_annotator ON annotations(annotator, item_key, id);
"#,
    // 19: the FTS indexes merge their segments 16 at a time, not 4: a million-item import
    // spent a tenth of its writer's time merging at each commit, and `similar` at a million
    // items takes as long with the segments this leaves (BENCHMARKS.md).
    r#"
INSERT INTO item_fts(item_fts, rank) VALUES ('automerge', 16);
INSERT INTO item_keywords_fts(item_keywords_fts, rank) VALUES ('automerge', 16);
"#,
];

/// The schema version this build writes.
pub fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}
