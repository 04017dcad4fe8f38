//! Foundation rows: import 100,000 ShareGPT conversations (~2 KB each), re-import unchanged,
//! open a 100k-item store.

use std::path::Path;

use sift::app::Context;
use sift::sources::files::Format;
use sift::sources::import::{ImportOptions, import_file};
use sift::store::Store;
use sift::synth::{self, Layout};
use sift::workspace::{Overrides, Workspace};

use crate::common::{in_child, median, median_of, row};

const N: usize = 100_000;

pub fn run(filter: &str) {
    if !"import".contains(filter) && !filter.is_empty() && !"foundation".contains(filter) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("conversations.jsonl");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).expect("create"));
    synth::write_conversations(&mut w, N, 7, Layout::Jsonl).expect("write synth");
    drop(w);
    let mb = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!("import file: {N} conversations, {mb:.0} MB");

    let mut first = Vec::new();
    let mut again = Vec::new();
    let mut rss = Vec::new();
    let mut last_ws = None;
    for i in 0..3 {
        let ws = dir.path().join(format!("ws{i}"));
        Workspace::init(&ws, "bench").expect("init");
        let (s, r) = in_child(&[
            "import",
            ws.to_str().unwrap_or_default(),
            file.to_str().unwrap_or_default(),
        ]);
        first.push(s);
        rss.push(r);
        let (s, _) = in_child(&[
            "import",
            ws.to_str().unwrap_or_default(),
            file.to_str().unwrap_or_default(),
        ]);
        again.push(s);
        last_ws = Some(ws);
    }
    row("import 100k ShareGPT conversations (~2 KB)", "<= 5 s", format!("{:.2} s", median(first)));
    row("import peak RSS", "<= 200 MB", format!("{:.0} MB", median(rss)));
    row("re-import the unchanged file", "<= 2 s", format!("{:.2} s", median(again)));
    if let Some(ws) = last_ws {
        let db = ws.join(".sift/store.db");
        let t = median_of(7, || {
            let s = Store::open(&db).expect("open");
            s.item_count(None).expect("count")
        });
        row("open a 100k-item store", "<= 50 ms", format!("{:.1} ms", t.as_secs_f64() * 1000.0));
    }
}

/// Child side of the import rows: `import WS FILE`.
pub fn child(args: &[&str]) {
    if let ["import", ws, file] = args {
        let ctx = Context::open(Some(Path::new(ws)), &Overrides::default());
        let mut ctx = ctx.expect("open workspace");
        let opts = ImportOptions {
            dataset: "bench".into(),
            format: Format::Auto,
            taxonomy: None,
            label_column: None,
            annotator: None,
            mixed_kinds: false,
        };
        let s = import_file(&mut ctx, Path::new(file), &opts).expect("import");
        assert_eq!(s.imported + s.unchanged + s.updated, N, "{s:?}");
    }
}
