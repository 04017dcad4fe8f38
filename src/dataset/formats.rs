//! Training-ready export formats: LLaMA-Factory's ShareGPT files with the `dataset_info.json`
//! it reads, and Hugging Face JSONL with a dataset card whose YAML header names the splits
//! (what `datasets.load_dataset(DIR)` reads). Plus `--where`, which picks a subset by gold
//! labels and structural signals.

use std::path::Path;

use serde_json::{Value, json};

use super::export::{ExportError, ExportRecord};
use crate::model::{Item, Turn};
use crate::text::signals::Signals;

/// One record in LLaMA-Factory's ShareGPT layout; None when its turns cannot alternate as
/// LLaMA-Factory requires (user or tool result, then assistant or tool call, in pairs).
pub fn sharegpt_record(r: &ExportRecord, tools: Option<&Value>) -> Option<Value> {
    let mut system = String::new();
    let mut turns: Vec<Value> = Vec::new();
    match &r.conversation {
        Some(conv) => {
            for t in conv {
                if t.role == "system" && turns.is_empty() && system.is_empty() {
                    system = t.content.clone();
                    continue;
                }
                turns.push(sharegpt_turn(t));
            }
        }
        None => {
            // An issue becomes one labeling exchange: the issue, then its gold labels.
            let text = format!("Title: {}\n\n{}", r.title, r.body.as_deref().unwrap_or(""));
            turns.push(json!({"from": "human", "value": text}));
            turns.push(json!({"from": "gpt", "value": r.labels.join(", ")}));
        }
    }
    let turns = merge_observations(turns);
    if !alternates(&turns) {
        return None;
    }
    let mut v = json!({
        "id": r.id,
        "conversations": turns,
        "labels": r.labels,
        "split": r.split,
        "signals": r.signals,
    });
    if !system.is_empty() {
        v["system"] = json!(system);
    }
    if let Some(t) = tools {
        // LLaMA-Factory reads tools as a JSON string.
        v["tools"] = json!(t.to_string());
    }
    Some(v)
}

/// Parallel tool results (consecutive observations) become one observation holding their list.
fn merge_observations(turns: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for t in turns {
        let is_obs = |v: &Value| v["from"] == "observation";
        match out.last_mut() {
            Some(prev) if is_obs(prev) && is_obs(&t) => {
                let mut list =
                    match serde_json::from_str::<Value>(prev["value"].as_str().unwrap_or("")) {
                        Ok(Value::Array(items)) if prev.get("merged").is_some() => items,
                        _ => vec![prev["value"].clone()],
                    };
                list.push(t["value"].clone());
                *prev = json!({"from": "observation", "value": Value::from(list).to_string(), "merged": true});
            }
            _ => out.push(t),
        }
    }
    for t in &mut out {
        if let Some(o) = t.as_object_mut() {
            o.remove("merged");
        }
    }
    out
}

/// Human or observation at even positions, gpt or function_call at odd ones, an even count.
fn alternates(turns: &[Value]) -> bool {
    !turns.is_empty()
        && turns.len().is_multiple_of(2)
        && turns.iter().enumerate().all(|(i, t)| {
            let from = t["from"].as_str().unwrap_or("");
            if i % 2 == 0 {
                from == "human" || from == "observation"
            } else {
                from == "gpt" || from == "function_call"
            }
        })
}

/// A turn's ShareGPT role tag and value; an assistant turn that calls tools becomes a
/// `function_call` turn (its text, if any, is not a separate turn in this layout).
fn sharegpt_turn(t: &Turn) -> Value {
    if !t.tool_calls.is_empty() {
        let calls: Vec<Value> = t
            .tool_calls
            .iter()
            .map(|c| {
                let args = serde_json::from_str::<Value>(&c.arguments)
                    .unwrap_or_else(|_| Value::String(c.arguments.clone()));
                json!({"name": c.name, "arguments": args})
            })
            .collect();
        let value =
            if calls.len() == 1 { calls[0].to_string() } else { Value::from(calls).to_string() };
        return json!({"from": "function_call", "value": value});
    }
    let from = match t.role.as_str() {
        "user" => "human",
        "assistant" => "gpt",
        "tool" => "observation",
        "system" => "system",
        other => other,
    };
    json!({"from": from, "value": t.content})
}

/// `dataset_info.json`: one entry per split file, with the columns and role tags.
pub fn dataset_info(name: &str, files: &[(&str, String)]) -> Value {
    let mut info = serde_json::Map::new();
    for (split, file) in files {
        info.insert(
            format!("{name}_{split}"),
            json!({
                "file_name": file,
                "formatting": "sharegpt",
                "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
                "tags": {
                    "role_tag": "from",
                    "content_tag": "value",
                    "user_tag": "human",
                    "assistant_tag": "gpt",
                    "observation_tag": "observation",
                    "function_tag": "function_call",
                    "system_tag": "system"
                }
            }),
        );
    }
    Value::Object(info)
}

/// The YAML header of a Hugging Face dataset card naming the split files (non-empty ones:
/// `datasets` refuses a split with no rows).
pub fn hf_card_header(files: &[(&str, String)]) -> String {
    let mut s = String::from("---\nconfigs:\n- config_name: default\n  data_files:\n");
    for (split, file) in files {
        let name = if *split == "val" { "validation" } else { split };
        s.push_str(&format!("  - split: {name}\n    path: {file}\n"));
    }
    s.push_str("---\n\n");
    s
}

/// A pretty-printed JSON array written one element at a time, byte for byte what
/// `serde_json::to_string_pretty` makes of the whole array (plus a final newline); the file
/// is created with the first element, so an empty array writes nothing.
pub struct JsonArrayFile<'p> {
    path: &'p Path,
    out: Option<std::io::BufWriter<std::fs::File>>,
}

impl<'p> JsonArrayFile<'p> {
    pub fn new(path: &'p Path) -> Self {
        JsonArrayFile { path, out: None }
    }

    fn err(&self, source: std::io::Error) -> ExportError {
        ExportError::Io { path: self.path.to_path_buf(), source }
    }

    pub fn push(&mut self, v: &Value) -> Result<(), ExportError> {
        use std::io::Write;
        let text =
            serde_json::to_string_pretty(v).map_err(|e| self.err(std::io::Error::other(e)))?;
        let first = self.out.is_none();
        if first {
            let f = std::fs::File::create(self.path).map_err(|e| self.err(e))?;
            self.out = Some(std::io::BufWriter::new(f));
        }
        let path = self.path;
        let err = |source| ExportError::Io { path: path.to_path_buf(), source };
        let Some(out) = self.out.as_mut() else { return Ok(()) };
        out.write_all(if first { b"[\n" } else { b",\n" }).map_err(err)?;
        // JSON strings hold no raw newline, so indenting line by line nests the element.
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                out.write_all(b"\n").map_err(err)?;
            }
            out.write_all(b"  ").map_err(err)?;
            out.write_all(line.as_bytes()).map_err(err)?;
        }
        Ok(())
    }

    /// Close the array; true when anything was written.
    pub fn finish(self) -> Result<bool, ExportError> {
        use std::io::Write;
        let path = self.path;
        let err = |source| ExportError::Io { path: path.to_path_buf(), source };
        let Some(mut out) = self.out else { return Ok(false) };
        out.write_all(b"\n]\n").map_err(err)?;
        out.flush().map_err(err)?;
        Ok(true)
    }
}

pub(crate) fn write_json(path: &Path, v: &Value) -> Result<(), ExportError> {
    let err = |source| ExportError::Io { path: path.to_path_buf(), source };
    let text = serde_json::to_string_pretty(v).map_err(|e| err(std::io::Error::other(e)))?;
    std::fs::write(path, text + "\n").map_err(err)
}

/// A `--where` selection: every term must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Where {
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Label(String),
    DimLabel(String, String),
    Lang(String),
    Tools(bool),
    Turns(std::cmp::Ordering, usize),
}

impl Where {
    /// Parse `difficulty:hard language:rust lang:rust tools:yes turns:>4 bug`; label and
    /// dimension names are checked against the taxonomy, and every unknown one is named.
    pub fn parse(text: &str, tax: &crate::taxonomy::Taxonomy) -> Result<Where, String> {
        let mut terms = Vec::new();
        let mut unknown = Vec::new();
        for word in text.split_whitespace() {
            let term = match word.split_once(':') {
                Some(("lang", v)) => Term::Lang(crate::text::signals::normalise_lang(v)),
                Some(("tools", v)) => match v.to_ascii_lowercase().as_str() {
                    "yes" | "true" | "1" => Term::Tools(true),
                    "no" | "false" | "0" => Term::Tools(false),
                    _ => return Err(format!("tools:{v}: say tools:yes or tools:no")),
                },
                Some(("turns", v)) => {
                    let (ord, n) = match v.chars().next() {
                        Some('>') => (std::cmp::Ordering::Greater, &v[1..]),
                        Some('<') => (std::cmp::Ordering::Less, &v[1..]),
                        _ => (std::cmp::Ordering::Equal, v),
                    };
                    let n = n
                        .parse()
                        .map_err(|_| format!("turns:{v}: say turns:>4, turns:<3 or turns:6"))?;
                    Term::Turns(ord, n)
                }
                Some((dim, label)) => match tax.resolve(label) {
                    Some(l) if tax.dimension_of(l).is_some_and(|d| d.name == dim) => {
                        Term::DimLabel(dim.to_string(), l.to_string())
                    }
                    _ => {
                        unknown.push(word.to_string());
                        continue;
                    }
                },
                None => match tax.resolve(word) {
                    Some(l) => Term::Label(l.to_string()),
                    None => {
                        unknown.push(word.to_string());
                        continue;
                    }
                },
            };
            terms.push(term);
        }
        if !unknown.is_empty() {
            return Err(format!(
                "--where: not a label of taxonomy {} (or not in that dimension): {}",
                tax.name,
                unknown.join(", ")
            ));
        }
        Ok(Where { terms })
    }

    /// Whether an item with these gold labels passes.
    pub fn matches(&self, item: &Item, labels: &[String]) -> bool {
        let signals = || Signals::of(item);
        let mut sig: Option<Signals> = None;
        self.terms.iter().all(|t| match t {
            Term::Label(l) | Term::DimLabel(_, l) => labels.contains(l),
            Term::Lang(l) => sig.get_or_insert_with(signals).all_languages().any(|x| x == l),
            Term::Tools(t) => sig.get_or_insert_with(signals).has_tools() == *t,
            Term::Turns(ord, n) => sig.get_or_insert_with(signals).turns.cmp(n) == *ord,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ItemKind, ToolCall};

    proptest::proptest! {
        /// Streaming an array element by element writes what pretty-printing it whole does.
        #[test]
        fn a_streamed_array_is_the_pretty_printed_array(
            texts in proptest::collection::vec(".*", 0..6)
        ) {
            let values: Vec<Value> = texts
                .iter()
                .enumerate()
                .map(|(i, t)| serde_json::json!({
                    "conversations": [{"from": "human", "value": t}, {"from": "gpt", "value": i}],
                    "tools": if i % 2 == 0 { Value::Null } else { Value::String(t.clone()) },
                    "empty": [], "nested": {"a": {"b": [1, 2, {}]}},
                }))
                .collect();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("train.json");
            let mut file = JsonArrayFile::new(&path);
            for v in &values {
                file.push(v).unwrap();
            }
            let wrote = file.finish().unwrap();
            proptest::prop_assert_eq!(wrote, !values.is_empty());
            if wrote {
                let whole = serde_json::to_string_pretty(&Value::from(values)).unwrap() + "\n";
                proptest::prop_assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
            } else {
                proptest::prop_assert!(!path.exists());
            }
        }
    }

    fn tax() -> crate::taxonomy::Taxonomy {
        let text = "taxonomies:\n  sft:\n    dimensions:\n      - name: difficulty\n        select: one\n        labels: [easy, hard]\n      - name: language\n        select: many\n        labels: [rust, python]\n";
        crate::taxonomy::LabelsFile::parse(text, Path::new("l.yml"))
            .unwrap()
            .taxonomies
            .remove("sft")
            .unwrap()
    }

    #[test]
    fn where_checks_labels_dimensions_and_signals() {
        let t = tax();
        let item = Item {
            kind: Some(ItemKind::Conversation),
            turns: vec![
                Turn {
                    role: "user".into(),
                    content: "```rust\nfn a() {}\n```".into(),
                    tool_calls: vec![],
                },
                Turn { role: "assistant".into(), content: "ok".into(), tool_calls: vec![] },
            ],
            ..Default::default()
        };
        let labels = vec!["hard".to_string(), "rust".to_string()];
        let w =
            Where::parse("difficulty:hard language:rust lang:rust tools:no turns:<3", &t).unwrap();
        assert!(w.matches(&item, &labels));
        assert!(!Where::parse("easy", &t).unwrap().matches(&item, &labels));
        assert!(!Where::parse("turns:>2", &t).unwrap().matches(&item, &labels));
        let e = Where::parse("language:hard nope", &t).unwrap_err();
        assert!(e.contains("language:hard") && e.contains("nope"), "{e}");
        assert!(Where::parse("tools:maybe", &t).is_err());
    }

    #[test]
    fn tool_calls_become_function_call_turns_and_issues_a_labeling_exchange() {
        let r = ExportRecord {
            id: "d:1".into(),
            title: "t".into(),
            body: None,
            conversation: Some(vec![
                Turn { role: "system".into(), content: "Be brief.".into(), tool_calls: vec![] },
                Turn { role: "user".into(), content: "hi".into(), tool_calls: vec![] },
                Turn {
                    role: "assistant".into(),
                    content: String::new(),
                    tool_calls: vec![ToolCall { name: "f".into(), arguments: "{\"a\":1}".into() }],
                },
                Turn { role: "tool".into(), content: "1".into(), tool_calls: vec![] },
                Turn { role: "assistant".into(), content: "done".into(), tool_calls: vec![] },
            ]),
            labels: vec!["x".into()],
            annotators: vec![],
            created_at: None,
            split: "train".into(),
            source: "d".into(),
            rationale: None,
            signals: Signals::default(),
        };
        let v = sharegpt_record(&r, Some(&json!([{"name": "f"}]))).unwrap();
        let froms: Vec<&str> = v["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["from"].as_str().unwrap())
            .collect();
        assert_eq!(froms, ["human", "function_call", "observation", "gpt"]);
        assert_eq!(v["system"], "Be brief.");
        assert_eq!(v["conversations"][1]["value"], r#"{"arguments":{"a":1},"name":"f"}"#);
        assert_eq!(v["tools"], r#"[{"name":"f"}]"#);
        let issue = ExportRecord { conversation: None, body: Some("b".into()), ..r };
        let v = sharegpt_record(&issue, None).unwrap();
        // Two parallel tool results are one observation; two user turns in a row cannot be.
        let mut par = issue.clone();
        let t =
            |role: &str, c: &str| Turn { role: role.into(), content: c.into(), tool_calls: vec![] };
        let call = Turn {
            role: "assistant".into(),
            content: String::new(),
            tool_calls: vec![
                ToolCall { name: "a".into(), arguments: "{}".into() },
                ToolCall { name: "b".into(), arguments: "{}".into() },
            ],
        };
        par.conversation =
            Some(vec![t("user", "q"), call, t("tool", "1"), t("tool", "2"), t("assistant", "ok")]);
        let p = sharegpt_record(&par, None).unwrap();
        assert_eq!(p["conversations"][2], json!({"from": "observation", "value": "[\"1\",\"2\"]"}));
        par.conversation = Some(vec![t("user", "a"), t("user", "b"), t("assistant", "c")]);
        assert!(sharegpt_record(&par, None).is_none());
        assert_eq!(v["conversations"][1], json!({"from": "gpt", "value": "x"}));
    }
}
