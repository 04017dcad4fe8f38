//! `sift labels sync`: make a repository's labels match labels.yml. Missing labels are created,
//! colour and description updated, a label named like an alias is renamed with PATCH new_name
//! (deleting and re-creating would strip it from every issue), deprecated labels deleted only
//! with --prune, labels sift does not know left alone. Planned first, sent only with --apply.

use serde::{Deserialize, Serialize};

use super::client::{Client, RepoSlug, Result, encode_segment};
use crate::taxonomy::Taxonomy;

/// GitHub's limit on a label description.
pub const MAX_DESCRIPTION: usize = 100;

/// A label as GitHub lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoLabel {
    pub name: String,
    #[serde(default)]
    pub color: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// One change to a repository's labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LabelOp {
    Create {
        name: String,
        color: String,
        description: String,
    },
    Update {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        new_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        color: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    Delete {
        name: String,
    },
}

/// The sync plan, with the problems that stop it from being applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabelPlan {
    pub ops: Vec<LabelOp>,
    /// Deprecated labels kept because --prune was not given.
    pub kept_deprecated: Vec<String>,
    pub problems: Vec<String>,
}

/// Normalise a colour to 6 lower-case hex digits without '#'.
pub fn normalize_color(c: &str) -> Option<String> {
    let c = c.trim().trim_start_matches('#');
    (c.len() == 6 && c.chars().all(|x| x.is_ascii_hexdigit())).then(|| c.to_ascii_lowercase())
}

/// A stable colour for a label without one (GitHub requires a colour on creation).
fn default_color(name: &str) -> String {
    crate::model::sha256_hex(name)[..6].to_string()
}

/// Plan the sync of `tax` onto `current`.
pub fn plan_labels(tax: &Taxonomy, current: &[RepoLabel], prune: bool) -> LabelPlan {
    let mut plan = LabelPlan::default();
    let find = |n: &str| current.iter().find(|l| l.name.eq_ignore_ascii_case(n));
    for (_, def) in tax.labels() {
        let description = def.description.trim().to_string();
        if description.chars().count() > MAX_DESCRIPTION {
            plan.problems.push(format!(
                "label `{}`: description has {} characters; GitHub allows at most {MAX_DESCRIPTION}",
                def.name,
                description.chars().count()
            ));
            continue;
        }
        let color = if def.color.is_empty() {
            None
        } else {
            match normalize_color(&def.color) {
                Some(c) => Some(c),
                None => {
                    plan.problems.push(format!(
                        "label `{}`: colour {:?} is not 6 hex digits",
                        def.name, def.color
                    ));
                    continue;
                }
            }
        };
        let existing = find(&def.name);
        if def.deprecated {
            match existing {
                Some(l) if prune => plan.ops.push(LabelOp::Delete { name: l.name.clone() }),
                Some(l) => plan.kept_deprecated.push(l.name.clone()),
                None => {}
            }
            continue;
        }
        // A repo label under an alias (and none under the name) is renamed in place.
        let (existing, renamed_from) = match existing {
            Some(l) => (Some(l), None),
            None => match def.aliases.iter().find_map(|a| find(a)) {
                Some(l) => (Some(l), Some(l.name.clone())),
                None => (None, None),
            },
        };
        match existing {
            None => plan.ops.push(LabelOp::Create {
                name: def.name.clone(),
                color: color.unwrap_or_else(|| default_color(&def.name)),
                description,
            }),
            Some(l) => {
                let new_name = renamed_from.as_ref().map(|_| def.name.clone()).or_else(|| {
                    // Same name in another case: GitHub keeps the case it was given.
                    (l.name != def.name).then(|| def.name.clone())
                });
                let color_change = color.filter(|c| !c.eq_ignore_ascii_case(&l.color));
                let current_desc = l.description.clone().unwrap_or_default();
                let desc_change = (!description.is_empty() && description != current_desc.trim())
                    .then(|| description.clone());
                if new_name.is_some() || color_change.is_some() || desc_change.is_some() {
                    plan.ops.push(LabelOp::Update {
                        name: l.name.clone(),
                        new_name,
                        color: color_change,
                        description: desc_change,
                    });
                }
            }
        }
    }
    plan
}

/// The plan as a diff.
pub fn render_label_plan(repo: &str, plan: &LabelPlan) -> String {
    use std::fmt::Write;
    let clean = crate::text::one_line;
    let mut s = String::new();
    for op in &plan.ops {
        let _ = match op {
            LabelOp::Create { name, color, description } => {
                writeln!(s, "+ {} #{color} {}", clean(name), clean(description))
            }
            LabelOp::Update { name, new_name, color, description } => {
                let mut parts = Vec::new();
                if let Some(n) = new_name {
                    parts.push(format!("rename to {}", clean(n)));
                }
                if let Some(c) = color {
                    parts.push(format!("colour #{c}"));
                }
                if let Some(d) = description {
                    parts.push(format!("description {:?}", clean(d)));
                }
                writeln!(s, "~ {}: {}", clean(name), parts.join(", "))
            }
            LabelOp::Delete { name } => writeln!(s, "- {}", clean(name)),
        };
    }
    for k in &plan.kept_deprecated {
        let _ = writeln!(s, "  {} is deprecated; kept (use --prune to delete it)", clean(k));
    }
    for p in &plan.problems {
        let _ = writeln!(s, "! {}", clean(p));
    }
    let _ = writeln!(s, "{repo}: {} change(s)", plan.ops.len());
    s
}

/// Every label of a repository.
pub async fn repo_labels(client: &mut Client, repo: &RepoSlug) -> Result<Vec<RepoLabel>> {
    let url = client.url(&format!("{}/labels?per_page=100", repo.path()));
    client.get_all(&url).await
}

/// Send the plan's ops, serially and spaced like every mutation.
pub async fn apply_labels(client: &mut Client, repo: &RepoSlug, plan: &LabelPlan) -> Result<usize> {
    let mut sent = 0;
    for op in &plan.ops {
        match op {
            LabelOp::Create { name, color, description } => {
                let url = client.url(&format!("{}/labels", repo.path()));
                let body =
                    serde_json::json!({ "name": name, "color": color, "description": description });
                client.mutate(reqwest::Method::POST, &url, Some(&body)).await?;
            }
            LabelOp::Update { name, new_name, color, description } => {
                let url = client.url(&format!("{}/labels/{}", repo.path(), encode_segment(name)));
                let mut body = serde_json::Map::new();
                if let Some(n) = new_name {
                    body.insert("new_name".into(), n.clone().into());
                }
                if let Some(c) = color {
                    body.insert("color".into(), c.clone().into());
                }
                if let Some(d) = description {
                    body.insert("description".into(), d.clone().into());
                }
                let body = serde_json::Value::Object(body);
                client.mutate(reqwest::Method::PATCH, &url, Some(&body)).await?;
            }
            LabelOp::Delete { name } => {
                let url = client.url(&format!("{}/labels/{}", repo.path(), encode_segment(name)));
                client.mutate(reqwest::Method::DELETE, &url, None).await?;
            }
        }
        sent += 1;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taxonomy::LabelsFile;

    fn tax() -> Taxonomy {
        let text = "taxonomies:\n  issues:\n    dimensions:\n      - name: type\n        select: many\n        labels:\n          - name: bug\n            color: D73A4A\n            description: Broken.\n            aliases: [defect]\n          - name: docs\n            color: 0075ca\n            description: Documentation.\n          - name: old\n            deprecated: true\n          - name: new\n            color: '112233'\n";
        LabelsFile::parse(text, std::path::Path::new("labels.yml")).unwrap().taxonomies["issues"]
            .clone()
    }

    fn l(name: &str, color: &str, d: &str) -> RepoLabel {
        RepoLabel { name: name.into(), color: color.into(), description: Some(d.into()) }
    }

    #[test]
    fn plan_creates_updates_renames_and_keeps_deprecated() {
        let current = [
            l("defect", "ffffff", "Broken."),
            l("docs", "0075ca", "Documentation."),
            l("old", "000000", ""),
            l("wontfix", "ffffff", ""),
        ];
        let p = plan_labels(&tax(), &current, false);
        assert_eq!(
            p.ops,
            vec![
                LabelOp::Update {
                    name: "defect".into(),
                    new_name: Some("bug".into()),
                    color: Some("d73a4a".into()),
                    description: None
                },
                LabelOp::Create {
                    name: "new".into(),
                    color: "112233".into(),
                    description: String::new()
                },
            ]
        );
        assert_eq!(p.kept_deprecated, vec!["old"]);
        let p = plan_labels(&tax(), &current, true);
        assert!(p.ops.contains(&LabelOp::Delete { name: "old".into() }));
        assert!(!p.ops.iter().any(|o| matches!(o, LabelOp::Delete { name } if name == "wontfix")));
    }

    #[test]
    fn long_descriptions_are_refused_before_sending() {
        let mut t = tax();
        t.dimensions[0].labels[0].description = "x".repeat(101);
        let p = plan_labels(&t, &[], false);
        assert_eq!(p.problems.len(), 1);
        assert!(p.ops.iter().all(|o| !matches!(o, LabelOp::Create { name, .. } if name == "bug")));
        assert_eq!(normalize_color("#ABCDEF").as_deref(), Some("abcdef"));
        assert!(normalize_color("abc").is_none());
    }
}
