//! Parsing of raw model output into labels: tolerates code fences, prose around the JSON,
//! labels given as strings, confidences given as strings or percentages.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::LabelScore;

/// A provider's answer before validation against the taxonomy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RawAnswer {
    pub labels: Vec<LabelScore>,
    #[serde(default)]
    pub rationale: String,
    /// One or two sentences on what the item is about (seed 003), when the model gave one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    /// 5-8 keywords for similar-item search (seed 002), when the model gave them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("no JSON object with a `labels` field in the answer ({0} characters)")]
    NoJson(usize),
    #[error("the answer's `labels` is not a list")]
    BadLabels,
}

/// Find the answer in raw text: the first JSON value (object with `labels`, or a bare list
/// of labels) anywhere in it, fenced or not.
pub fn parse_answer(text: &str) -> Result<RawAnswer, ParseError> {
    for (i, c) in text.char_indices() {
        if c != '{' && c != '[' {
            continue;
        }
        let mut de = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
        if let Some(Ok(v)) = de.next()
            && let Some(answer) = from_value(&v)?
        {
            return Ok(answer);
        }
    }
    Err(ParseError::NoJson(text.chars().count()))
}

/// Read an answer from a JSON value (a tool call's input, or parsed text). Ok(None) when the
/// value is not answer-shaped at all.
pub fn from_value(v: &Value) -> Result<Option<RawAnswer>, ParseError> {
    let (labels, rationale) = match v {
        Value::Object(m) => match m.get("labels") {
            Some(l) => (l, m.get("rationale").and_then(Value::as_str).unwrap_or_default()),
            None => return Ok(None),
        },
        Value::Array(items) if !items.is_empty() && items.iter().all(|x| label(x).is_some()) => {
            (v, "")
        }
        _ => return Ok(None),
    };
    let Value::Array(list) = labels else { return Err(ParseError::BadLabels) };
    let labels = list.iter().filter_map(label).collect();
    let summary = v.get("summary").and_then(Value::as_str).unwrap_or_default().to_string();
    let keywords = v
        .get("keywords")
        .and_then(Value::as_array)
        .map(|k| k.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    Ok(Some(RawAnswer { labels, rationale: rationale.to_string(), summary, keywords }))
}

fn label(v: &Value) -> Option<LabelScore> {
    match v {
        Value::String(s) => Some(LabelScore { name: s.clone(), confidence: None }),
        Value::Object(m) => {
            let name = ["name", "label", "tag"].iter().find_map(|k| m.get(*k)?.as_str())?;
            let confidence = ["confidence", "score", "probability"]
                .iter()
                .find_map(|k| m.get(*k))
                .and_then(number);
            Some(LabelScore { name: name.to_string(), confidence })
        }
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim();
            match s.strip_suffix('%') {
                Some(p) => p.trim().parse::<f64>().ok().map(|x| x / 100.0),
                None => s.parse().ok(),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(a: &RawAnswer) -> Vec<&str> {
        a.labels.iter().map(|l| l.name.as_str()).collect()
    }

    #[test]
    fn plain_fenced_and_prose() {
        let plain = r#"{"labels":[{"name":"bug","confidence":0.9}],"rationale":"crash"}"#;
        let a = parse_answer(plain).unwrap();
        assert_eq!(names(&a), ["bug"]);
        assert_eq!(a.rationale, "crash");
        let fenced = format!("```json\n{plain}\n```");
        assert_eq!(parse_answer(&fenced).unwrap(), a);
        let prose = format!("Sure! Here is my answer:\n{plain}\nHope that {{helps}}.");
        assert_eq!(parse_answer(&prose).unwrap(), a);
    }

    #[test]
    fn lenient_shapes() {
        let a = parse_answer(r#"["bug", {"label": "docs", "score": "80%"}]"#).unwrap();
        assert_eq!(names(&a), ["bug", "docs"]);
        assert_eq!(a.labels[0].confidence, None);
        assert_eq!(a.labels[1].confidence, Some(0.8));
        // A stray brace before the answer does not hide it.
        let a = parse_answer(r#"use {x} then {"labels": [{"name": "bug", "confidence": "0.7"}]}"#)
            .unwrap();
        assert_eq!(a.labels[0].confidence, Some(0.7));
        let a = parse_answer(r#"see [1] and then {"labels": ["bug"]}"#).unwrap();
        assert_eq!(names(&a), ["bug"]);
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(matches!(parse_answer("I think it is a bug."), Err(ParseError::NoJson(_))));
        assert!(parse_answer(r#"{"labels": [ {"name": "bug", "#).is_err());
        assert_eq!(parse_answer(r#"{"labels": "bug"}"#), Err(ParseError::BadLabels));
    }
}
