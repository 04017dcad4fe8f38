//! Consistency rules of labels.yml, checked after validation (seed 001): a label may
//! `require` a structural signal (`tools`, `code`, `multi-turn`, `system`, `lang`) or another
//! label (`label:NAME`), and `exclude` labels; a dimension's rules hold for each of its labels.

use crate::model::LabelScore;
use crate::taxonomy::Taxonomy;
use crate::text::signals::Signals;

/// What the rules found for one suggestion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checked {
    /// Broken rules, one line each (stored with the suggestion).
    pub violations: Vec<String>,
    /// Rules met only by inference (a language seen in unfenced code), for the monitor log.
    pub notes: Vec<String>,
}

/// Check the labels of a suggestion against the item's signals.
pub fn check(tax: &Taxonomy, labels: &[LabelScore], sig: &Signals) -> Checked {
    let mut out = Checked::default();
    let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
    for l in labels {
        let Some((dim, def)) = tax.label(&l.name) else { continue };
        for r in dim.require.iter().chain(&def.require) {
            if let Some(other) = r.strip_prefix("label:") {
                let other = tax.resolve(other).unwrap_or(other);
                if !names.contains(&other) {
                    out.violations.push(format!("`{}` requires the label `{other}`", l.name));
                }
                continue;
            }
            let met = match r.as_str() {
                "tools" => sig.has_tools(),
                "code" => sig.code_blocks > 0,
                "multi-turn" => sig.multi_turn,
                "system" => sig.system_prompt,
                "lang" => language(def, sig, &mut out.notes),
                _ => true,
            };
            if !met {
                out.violations.push(format!("`{}` requires {}", l.name, explain(r, &l.name)));
            }
        }
        for e in dim.exclude.iter().chain(&def.exclude) {
            let e = tax.resolve(e).unwrap_or(e);
            if e != l.name && names.contains(&e) {
                out.violations.push(format!("`{}` excludes `{e}`", l.name));
            }
        }
    }
    out.violations.dedup();
    out
}

/// A language label needs a code block in that language: fenced, or (with a note) inferred.
fn language(def: &crate::taxonomy::LabelDef, sig: &Signals, notes: &mut Vec<String>) -> bool {
    let names: Vec<String> =
        std::iter::once(&def.name).chain(&def.aliases).map(|n| n.to_lowercase()).collect();
    if sig.languages.iter().any(|l| names.contains(l)) {
        return true;
    }
    if sig.languages_inferred.iter().any(|l| names.contains(l)) {
        notes.push(format!("`{}` is inferred from unfenced code", def.name));
        return true;
    }
    false
}

fn explain(rule: &str, label: &str) -> String {
    match rule {
        "tools" => "tool roles or tool calls, and the item has none".into(),
        "code" => "a code block, and the item has none".into(),
        "multi-turn" => "a multi-turn conversation".into(),
        "system" => "a system prompt".into(),
        "lang" => format!("a code block in {label}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Item, ItemKind, Turn};

    fn tax() -> Taxonomy {
        let text = "taxonomies:\n  t:\n    dimensions:\n      - name: agentic\n        select: many\n        require: [tools]\n        labels: [call-tools, no-agent-x]\n      - name: language\n        select: many\n        labels:\n          - name: rust\n            require: [lang]\n          - name: python\n            aliases: [py]\n            require: [lang]\n      - name: kind\n        select: many\n        labels:\n          - name: chat\n            exclude: [rust]\n          - name: fix\n            require: [\"label:rust\"]\n";
        crate::taxonomy::LabelsFile::parse(text, std::path::Path::new("l.yml"))
            .unwrap()
            .taxonomies
            .remove("t")
            .unwrap()
    }

    fn ls(names: &[&str]) -> Vec<LabelScore> {
        names.iter().map(|n| LabelScore { name: (*n).into(), confidence: Some(0.9) }).collect()
    }

    fn sig(text: &str) -> Signals {
        Signals::of(&Item {
            kind: Some(ItemKind::Conversation),
            turns: vec![Turn { role: "user".into(), content: text.into(), tool_calls: vec![] }],
            ..Default::default()
        })
    }

    #[test]
    fn rules_flag_what_they_should() {
        let t = tax();
        let plain = sig("hello");
        let c = check(&t, &ls(&["call-tools", "rust", "chat", "fix"]), &plain);
        assert!(
            c.violations.iter().any(|v| v.contains("`call-tools` requires tool roles")),
            "{c:?}"
        );
        assert!(c.violations.iter().any(|v| v.contains("`rust` requires a code block in rust")));
        assert!(c.violations.iter().any(|v| v.contains("`chat` excludes `rust`")));
        assert!(!c.violations.iter().any(|v| v.contains("`fix`")), "fix has its rust label");
        let fenced = check(&t, &ls(&["rust"]), &sig("```rust\nfn a() {}\n```"));
        assert_eq!(fenced, Checked::default());
        let inferred = check(&t, &ls(&["python"]), &sig("```\ndef f(x):\n    return x\n```"));
        assert!(inferred.violations.is_empty());
        assert_eq!(inferred.notes.len(), 1);
        assert!(
            check(&t, &ls(&["fix"]), &plain).violations[0].contains("requires the label `rust`")
        );
    }

    #[test]
    fn unknown_rule_names_are_refused_at_load() {
        for bad in ["require: [telepathy]", "require: [\"label:nope\"]", "exclude: [nope]"] {
            let text = format!(
                "taxonomies:\n  t:\n    dimensions:\n      - name: d\n        select: many\n        labels:\n          - name: a\n            {bad}\n"
            );
            let e = crate::taxonomy::LabelsFile::parse(&text, std::path::Path::new("l.yml"))
                .unwrap_err();
            assert!(e.to_string().contains("l.yml"), "{e}");
        }
    }
}
