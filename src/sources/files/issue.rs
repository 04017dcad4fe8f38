//! Issue records: `title`, `body`, optional id, number, repository, author, dates and labels.

use super::*;

/// An issue row; a missing title falls back to the body's first line.
pub(super) fn issue(obj: &mut Map<String, Value>) -> Result<Item, String> {
    let body = take_text(obj, "body")?.unwrap_or_default();
    let title = match take_text(obj, "title")?.filter(|t| !t.trim().is_empty()) {
        Some(title) => title.trim().to_string(),
        None if !body.trim().is_empty() => first_line(&body),
        None => return Err("issue row has neither a \"title\" nor a \"body\"".to_string()),
    };
    Ok(Item {
        kind: Some(ItemKind::Issue),
        title,
        body,
        repo: take_text(obj, "repo")?,
        number: number(obj.get("number")),
        state: take_text(obj, "state")?,
        author: author(obj)?,
        url: match take_text(obj, "html_url")? {
            Some(url) => Some(url),
            None => take_text(obj, "url")?,
        },
        created_at: take_text(obj, "created_at")?,
        updated_at: take_text(obj, "updated_at")?,
        ..Item::default()
    })
}

/// `author`, or GitHub's `user` (a login or `{"login": ...}`).
pub(super) fn author(obj: &mut Map<String, Value>) -> Result<Option<String>, String> {
    if let Some(author) = take_text(obj, "author")? {
        return Ok(Some(author));
    }
    match obj.remove("user") {
        Some(Value::Object(mut user)) => take_text(&mut user, "login"),
        Some(Value::String(login)) if !login.is_empty() => Ok(Some(login)),
        _ => Ok(None),
    }
}
