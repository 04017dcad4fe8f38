//! Conversation records: ShareGPT `conversations`, OpenAI `messages` (content parts, tool
//! calls) and Alpaca `instruction`/`input`/`output` with `history`.

use super::*;

pub(super) fn sharegpt(obj: &mut Map<String, Value>) -> Result<Item, String> {
    let field = if obj.contains_key("conversations") { "conversations" } else { "conversation" };
    let list = take_list(obj, field)?.ok_or("no \"conversations\" field (format sharegpt)")?;
    conversation(obj, field, list)
}

pub(super) fn openai(obj: &mut Map<String, Value>) -> Result<Item, String> {
    let list = take_list(obj, "messages")?.ok_or("no \"messages\" field (format openai)")?;
    conversation(obj, "messages", list)
}

/// ShareGPT and OpenAI records differ only in where the turn list lives; each turn may use
/// either from/value or role/content, since datasets in the wild mix them.
pub(super) fn conversation(
    obj: &mut Map<String, Value>,
    field: &str,
    list: Vec<Value>,
) -> Result<Item, String> {
    if list.is_empty() {
        return Err(format!("{field:?} is empty"));
    }
    let mut turns = Vec::with_capacity(list.len() + 1);
    if let Some(system) = take_text(obj, "system")?.filter(|s| !s.trim().is_empty()) {
        turns.push(turn("system", system));
    }
    for (index, message) in list.into_iter().enumerate() {
        add_message(&mut turns, message)
            .map_err(|e| format!("{field:?} turn {}: {e}", index + 1))?;
    }
    Ok(Item {
        kind: Some(ItemKind::Conversation),
        title: conversation_title(&turns),
        created_at: take_text(obj, "created_at")?,
        meta: tools_meta(obj)?,
        turns,
        ..Item::default()
    })
}

pub(super) fn turn(role: &str, content: String) -> Turn {
    Turn { role: role.to_string(), content, tool_calls: Vec::new() }
}

/// A role as found in files, normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    System,
    User,
    Assistant,
    /// A ShareGPT `function_call` turn: the assistant calling a tool.
    Call,
    Tool,
}

pub(super) fn role(name: &str) -> Option<Role> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "system" => Role::System,
        "human" | "user" | "prompter" => Role::User,
        "gpt" | "assistant" | "bing" | "chatgpt" | "bard" | "model" | "bot" => Role::Assistant,
        "function_call" | "tool_call" => Role::Call,
        "observation" | "tool" | "function" | "ipython" | "tool_response" => Role::Tool,
        _ => return None,
    })
}

pub(super) fn add_message(turns: &mut Vec<Turn>, message: Value) -> Result<(), String> {
    let Value::Object(mut m) = message else {
        return Err(format!("expected an object, found {}", type_name(&message)));
    };
    let name = match take_text(&mut m, "from")? {
        Some(name) => name,
        None => take_text(&mut m, "role")?.ok_or("no \"from\" or \"role\"")?,
    };
    let role = role(&name).ok_or_else(|| format!("unknown role {name:?}"))?;
    let content = m.remove("value").or_else(|| m.remove("content")).unwrap_or(Value::Null);
    if role == Role::Call {
        let calls = calls_from_text(content)?;
        add_calls(turns, calls);
        return Ok(());
    }
    let mut tool_calls = take_tool_calls(&mut m)?;
    if let Some(legacy) = m.remove("function_call").filter(|v| !v.is_null()) {
        tool_calls.push(tool_call(legacy).map_err(|e| format!("\"function_call\": {e}"))?);
    }
    let role = match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant | Role::Call => "assistant",
        Role::Tool => "tool",
    };
    turns.push(Turn { role: role.to_string(), content: content_text(content)?, tool_calls });
    Ok(())
}

/// A `function_call` turn continues the assistant turn right before it (the OpenAI shape has
/// text and calls in one message); otherwise it is an assistant turn of its own.
pub(super) fn add_calls(turns: &mut Vec<Turn>, calls: Vec<ToolCall>) {
    match turns.last_mut() {
        Some(last) if last.role == "assistant" => last.tool_calls.extend(calls),
        _ => turns.push(Turn {
            role: "assistant".to_string(),
            content: String::new(),
            tool_calls: calls,
        }),
    }
}

/// The value of a `function_call` turn: JSON text (or JSON) holding one call or a list.
pub(super) fn calls_from_text(content: Value) -> Result<Vec<ToolCall>, String> {
    let value = match content {
        Value::String(text) => serde_json::from_str(&text).map_err(|e| {
            format!("function_call is not JSON {{\"name\", \"arguments\"}}: {}", json_message(&e))
        })?,
        other => other,
    };
    match value {
        Value::Array(calls) => calls.into_iter().map(tool_call).collect(),
        other => Ok(vec![tool_call(other)?]),
    }
}

pub(super) fn take_tool_calls(m: &mut Map<String, Value>) -> Result<Vec<ToolCall>, String> {
    match m.remove("tool_calls") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(calls)) => calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| tool_call(c).map_err(|e| format!("tool call {}: {e}", i + 1)))
            .collect(),
        Some(other) => Err(format!("\"tool_calls\" must be a list, found {}", type_name(&other))),
    }
}

/// `{"name", "arguments"}`, or OpenAI's `{"id", "type", "function": {"name", "arguments"}}`.
/// Arguments given as a string are kept as written; an object is rendered as compact JSON.
pub(super) fn tool_call(value: Value) -> Result<ToolCall, String> {
    let Value::Object(mut obj) = value else {
        return Err(format!("expected {{\"name\", \"arguments\"}}, found {}", type_name(&value)));
    };
    if let Some(Value::Object(function)) = obj.remove("function") {
        obj = function;
    }
    let name = take_text(&mut obj, "name")?.ok_or("tool call has no \"name\"")?;
    let arguments = match obj.remove("arguments").or_else(|| obj.remove("parameters")) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text,
        Some(other) => other.to_string(),
    };
    Ok(ToolCall { name, arguments })
}

/// Message content: a string, null, or a list of parts (`{"type": "text", "text"|"value"}`);
/// parts that are not text become a placeholder such as `[image]`.
pub(super) fn content_text(content: Value) -> Result<String, String> {
    match content {
        Value::String(text) => Ok(text),
        Value::Null => Ok(String::new()),
        Value::Array(parts) => {
            let mut pieces = Vec::with_capacity(parts.len());
            for (i, part) in parts.into_iter().enumerate() {
                pieces.push(part_text(part).map_err(|e| format!("content part {}: {e}", i + 1))?);
            }
            Ok(pieces.join("\n"))
        }
        Value::Object(_) => part_text(content),
        other => {
            Err(format!("content must be text or a list of parts, found {}", type_name(&other)))
        }
    }
}

pub(super) fn part_text(part: Value) -> Result<String, String> {
    let mut obj = match part {
        Value::String(text) => return Ok(text),
        Value::Object(obj) => obj,
        other => return Err(format!("expected an object, found {}", type_name(&other))),
    };
    let kind = take_text(&mut obj, "type")?;
    match kind.as_deref() {
        None | Some("text" | "input_text" | "output_text") => {
            // OpenAI says "text"; LLaMA-Factory says "value".
            let text = match take_text(&mut obj, "text")? {
                Some(text) => Some(text),
                None => take_text(&mut obj, "value")?,
            };
            match (text, kind) {
                (Some(text), _) => Ok(text),
                (None, Some(_)) => Ok(String::new()),
                (None, None) => Err("part has no \"type\" or \"text\"".to_string()),
            }
        }
        Some("image" | "image_url" | "input_image") => Ok("[image]".to_string()),
        Some("audio" | "input_audio") => Ok("[audio]".to_string()),
        Some("video" | "video_url") => Ok("[video]".to_string()),
        Some(other) => Ok(format!("[{other}]")),
    }
}

/// Tool schemas (`tools`, a JSON string or JSON) kept as parsed JSON in `meta.tools`.
pub(super) fn tools_meta(obj: &mut Map<String, Value>) -> Result<Value, String> {
    let tools = match obj.remove("tools") {
        None | Some(Value::Null) => return Ok(Value::Null),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(Value::Null),
        Some(Value::String(text)) => serde_json::from_str(&text)
            .map_err(|e| format!("\"tools\" is not valid JSON: {}", json_message(&e)))?,
        Some(other) => other,
    };
    if tools.as_array().is_some_and(Vec::is_empty) {
        return Ok(Value::Null);
    }
    let mut meta = Map::new();
    meta.insert("tools".to_string(), tools);
    Ok(Value::Object(meta))
}

/// The first user turn's first line; a conversation without one uses its first turn.
pub(super) fn conversation_title(turns: &[Turn]) -> String {
    let first = turns.iter().find(|t| t.role == "user").or_else(|| turns.first());
    first.map(|t| first_line(&t.content)).unwrap_or_default()
}

/// First non-blank line, cut to `TITLE_CHARS` chars (on a char boundary) with an ellipsis.
pub(super) fn first_line(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    match line.char_indices().nth(TITLE_CHARS - 1) {
        Some((cut, _)) if line.chars().count() > TITLE_CHARS => {
            format!("{}…", line[..cut].trim_end())
        }
        _ => line.to_string(),
    }
}

/// Alpaca: system, history pairs, then instruction (+ input) and output.
pub(super) fn alpaca(obj: &mut Map<String, Value>) -> Result<Item, String> {
    if !obj.contains_key("instruction") {
        return Err("no \"instruction\" field (format alpaca)".to_string());
    }
    let instruction = take_text(obj, "instruction")?.unwrap_or_default();
    let input = take_text(obj, "input")?.unwrap_or_default();
    let output = take_text(obj, "output")?.ok_or("no \"output\" (format alpaca)")?;
    let prompt = match (instruction.trim().is_empty(), input.trim().is_empty()) {
        (true, true) => return Err("\"instruction\" is empty".to_string()),
        (false, true) => instruction,
        (true, false) => input,
        (false, false) => format!("{instruction}\n\n{input}"),
    };
    let mut turns = Vec::new();
    if let Some(system) = take_text(obj, "system")?.filter(|s| !s.trim().is_empty()) {
        turns.push(turn("system", system));
    }
    add_history(&mut turns, obj.remove("history"))?;
    turns.push(turn("user", prompt));
    turns.push(turn("assistant", output));
    Ok(Item {
        kind: Some(ItemKind::Conversation),
        title: conversation_title(&turns),
        created_at: take_text(obj, "created_at")?,
        meta: tools_meta(obj)?,
        turns,
        ..Item::default()
    })
}

/// `history`: `[[user, assistant], ...]`, earlier rounds of the same conversation.
pub(super) fn add_history(turns: &mut Vec<Turn>, history: Option<Value>) -> Result<(), String> {
    let rounds = match history {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(rounds)) => rounds,
        Some(other) => {
            return Err(format!("\"history\" must be a list, found {}", type_name(&other)));
        }
    };
    for (i, round) in rounds.into_iter().enumerate() {
        match round {
            Value::Array(pair) => match <[Value; 2]>::try_from(pair) {
                Ok([Value::String(user), Value::String(assistant)]) => {
                    turns.push(turn("user", user));
                    turns.push(turn("assistant", assistant));
                }
                _ => return Err(history_error(i)),
            },
            _ => return Err(history_error(i)),
        }
    }
    Ok(())
}

pub(super) fn history_error(index: usize) -> String {
    format!("\"history\" round {} must be [user text, assistant text]", index + 1)
}
