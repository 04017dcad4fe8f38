//! Synthetic conversations: chat and tool-call turns in the OpenAI message shape.

use super::*;

pub(super) struct Tool {
    pub(super) name: &'static str,
    pub(super) description: &'static str,
    /// (name, JSON type, description); all are required.
    pub(super) params: &'static [(&'static str, &'static str, &'static str)],
}

pub(super) const TOOLS: [Tool; 4] = [
    Tool {
        name: "search_code",
        description: "Search the code base for a symbol or phrase",
        params: &[
            ("query", "string", "What to look for"),
            ("language", "string", "Restrict to one language"),
            ("max_results", "integer", "How many matches to return"),
        ],
    },
    Tool {
        name: "run_tests",
        description: "Run the test suite, or the tests matching a filter",
        params: &[("path", "string", "Test file or folder"), ("filter", "string", "Name filter")],
    },
    Tool {
        name: "get_weather",
        description: "Get the current weather for a city",
        params: &[("city", "string", "City name"), ("unit", "string", "celsius or fahrenheit")],
    },
    Tool {
        name: "create_issue",
        description: "Open an issue in a repository",
        params: &[
            ("repo", "string", "owner/name"),
            ("title", "string", "Issue title"),
            ("labels", "array", "Label names"),
        ],
    },
];

pub(super) fn tool_schema(tool: &Tool) -> Value {
    let mut properties = Map::new();
    for &(name, kind, description) in tool.params {
        let mut schema = json!({ "type": kind, "description": description });
        if kind == "array" {
            schema["items"] = json!({ "type": "string" });
        }
        properties.insert(name.to_string(), schema);
    }
    let required: Vec<&str> = tool.params.iter().map(|p| p.0).collect();
    json!({
        "name": tool.name,
        "description": tool.description,
        "parameters": { "type": "object", "properties": properties, "required": required },
    })
}

/// (user request, call arguments, tool result) for one tool.
pub(super) fn tool_use(rng: &mut ChaCha8Rng, tool: &Tool) -> (String, Value, Value) {
    match tool.name {
        "search_code" => {
            let (query, language) = (pick(rng, &NOUNS), pick(rng, &LANGUAGES));
            let count = rng.random_range(1..=3);
            let matches: Vec<Value> = (0..count)
                .map(|_| {
                    let file = format!("src/{}.rs", pick(rng, &COMPONENTS));
                    json!({ "file": file, "line": rng.random_range(1..900), "snippet": code_line(rng) })
                })
                .collect();
            (
                format!("Where do we {} the {query} in our {language} code?", pick(rng, &VERBS)),
                json!({ "query": query, "language": language, "max_results": rng.random_range(1..20) }),
                json!({ "matches": matches }),
            )
        }
        "run_tests" => {
            let component = pick(rng, &COMPONENTS);
            let (passed, failed) = (rng.random_range(10..400), rng.random_range(0..4));
            (
                format!("Can you run the {component} tests and tell me what fails?"),
                json!({ "path": format!("tests/{component}.rs"), "filter": pick(rng, &IDENTS) }),
                json!({ "passed": passed, "failed": failed, "duration_ms": rng.random_range(200..90_000) }),
            )
        }
        "get_weather" => {
            let city = pick(rng, &CITIES);
            let celsius = rng.random_range(-80..380) as f64 / 10.0;
            (
                format!("What's the weather like in {city} right now?"),
                json!({ "city": city, "unit": "celsius" }),
                json!({ "city": city, "temperature": celsius, "conditions": pick(rng, &["sunny", "cloudy", "rain", "windy"]) }),
            )
        }
        _ => {
            let repo = pick(rng, &REPOS);
            let label = LABELS[weighted(rng, &LABEL_WEIGHTS)];
            let title = fill(rng, "The {m} fails to {v} a {a} {n}", &[]);
            let number = rng.random_range(1..5000);
            (
                format!("Please open an issue in {repo} about this: {title}."),
                json!({ "repo": repo, "title": title, "labels": [label] }),
                json!({ "number": number, "url": format!("https://github.com/{repo}/issues/{number}") }),
            )
        }
    }
}

pub(super) fn code_line(rng: &mut ChaCha8Rng) -> String {
    format!("let {} = {}.{}()?;", pick(rng, &IDENTS), pick(rng, &IDENTS), pick(rng, &METHODS))
}

pub(super) fn message(role: &str, text: String) -> Value {
    json!({ "from": role, "value": text })
}

/// One ShareGPT record: 2-6 turns, sometimes a system prompt, sometimes a tool call.
pub(super) fn conversation_record(rng: &mut ChaCha8Rng, number: usize) -> Value {
    let target: usize = rng.random_range(1500..2100);
    let mut record = Map::new();
    record.insert("id".to_string(), json!(format!("conv-{number:06}")));
    let mut turns = Vec::new();
    let mut used = 60;
    if rng.random_bool(0.3) {
        let template = pick(rng, &SYSTEM_PROMPTS);
        let prompt = fill(rng, template, &[]);
        used += prompt.len();
        // Both places real files put it: a top-level field or a leading system turn.
        if rng.random_bool(0.5) {
            record.insert("system".to_string(), json!(prompt));
        } else {
            turns.push(message("system", prompt));
        }
    }
    // A few files say user/assistant instead of human/gpt.
    let roles = if rng.random_bool(0.1) { ("user", "assistant") } else { ("human", "gpt") };
    if rng.random_bool(0.2) {
        tool_turns(rng, &mut record, &mut turns, roles, target.saturating_sub(used));
    } else {
        let pairs = rng.random_range(1..=3);
        chat_turns(rng, &mut turns, roles, target.saturating_sub(used), pairs);
    }
    record.insert("conversations".to_string(), Value::Array(turns));
    Value::Object(record)
}

/// `pairs` question/answer rounds whose text adds up to about `budget` bytes.
pub(super) fn chat_turns(
    rng: &mut ChaCha8Rng,
    turns: &mut Vec<Value>,
    (user, assistant): (&str, &str),
    budget: usize,
    pairs: usize,
) {
    let questions: Vec<String> = (0..pairs).map(|_| question(rng)).collect();
    let asked: usize = questions.iter().map(|q| q.len() + 40).sum();
    let per_answer = (budget.saturating_sub(asked) / pairs).max(120);
    for q in questions {
        turns.push(message(user, q));
        turns.push(message(assistant, answer(rng, per_answer)));
    }
}

pub(super) fn question(rng: &mut ChaCha8Rng) -> String {
    let template = pick(rng, &QUESTIONS);
    let mut q = fill(rng, template, &[]);
    if rng.random_bool(0.15) {
        q.push_str("\n\nHere is my code:\n");
        q.push_str(&code_block(rng));
    }
    q
}

pub(super) fn answer(rng: &mut ChaCha8Rng, len: usize) -> String {
    let mut text = String::with_capacity(len + 200);
    if rng.random_bool(0.35) {
        grow(rng, &mut text, len / 3, &ANSWERS, &[]);
        text.push_str("\n\nFor example:\n\n");
        text.push_str(&code_block(rng));
        text.push_str("\n\n");
    }
    grow(rng, &mut text, len, &ANSWERS, &[]);
    text
}

/// A tool round: request, function_call, observation, answer, and maybe one more chat round.
pub(super) fn tool_turns(
    rng: &mut ChaCha8Rng,
    record: &mut Map<String, Value>,
    turns: &mut Vec<Value>,
    roles: (&str, &str),
    budget: usize,
) {
    let tool = &TOOLS[rng.random_range(0..TOOLS.len())];
    let mut offered = vec![tool_schema(tool)];
    if rng.random_bool(0.5) {
        let other = &TOOLS[rng.random_range(0..TOOLS.len())];
        if other.name != tool.name {
            offered.push(tool_schema(other));
        }
    }
    // glaive-style files hold the tool list as JSON text, others as JSON.
    let tools = Value::Array(offered);
    let tools = if rng.random_bool(0.5) { Value::String(tools.to_string()) } else { tools };
    record.insert("tools".to_string(), tools);

    let (request, arguments, result) = tool_use(rng, tool);
    let call = json!({ "name": tool.name, "arguments": arguments }).to_string();
    let mut used = request.len() + call.len() + 200;
    turns.push(message(roles.0, request));
    if rng.random_bool(0.2) {
        // Text and call in one assistant turn once imported.
        turns.push(message(roles.1, "Let me check that for you.".to_string()));
    }
    turns.push(message("function_call", call));
    let observation = result.to_string();
    used += observation.len();
    turns.push(message("observation", observation));
    let follow_up = rng.random_bool(0.5);
    let rest = budget.saturating_sub(used);
    let first = if follow_up { rest / 2 } else { rest };
    turns.push(message(roles.1, answer(rng, first.max(120))));
    if follow_up {
        chat_turns(rng, turns, roles, rest - first, 1);
    }
}
