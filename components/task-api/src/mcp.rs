//! The task operations as MCP tools: JSON-RPC 2.0 over MCP's Streamable HTTP transport, answered
//! with plain JSON (no server-initiated streams, so `GET /mcp` is 405). Same auth, validation and
//! events as REST: every tool calls [`Tasks`].

use crate::service::{ApiError, Tasks};
use serde_json::{json, Value};
use spin_sdk::http::{Method, Request, Response};
use todo_events::uuid::Uuid;
use todo_http::json;
use todo_problem::{Problem, ValidationErrors};
use todo_tasks::UpdateTask;

/// Protocol revisions this server speaks, newest first.
const VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// Serves one HTTP request to `/mcp`.
pub async fn serve(tasks: &Tasks<'_>, req: &Request) -> Response {
    if *req.method() != Method::Post {
        return todo_http::method_not_allowed("POST");
    }
    let body = match todo_http::read_json_body(req) {
        Ok(b) => b,
        Err(p) => return todo_http::problem(&p),
    };
    let Ok(msg) = serde_json::from_slice::<Value>(body) else {
        return json(400, &rpc_error(Value::Null, -32700, "parse error"));
    };
    let Some(method) = msg.get("method").and_then(Value::as_str) else {
        return json(
            400,
            &rpc_error(
                msg.get("id").cloned().unwrap_or(Value::Null),
                -32600,
                "invalid request",
            ),
        );
    };
    let Some(id) = msg.get("id").cloned() else {
        return Response::builder().status(202).build(); // a notification: accepted, no body
    };
    let params = msg.get("params").cloned().unwrap_or(json!({}));
    let reply = match method {
        "initialize" => Ok(initialize(&params)),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": tool_list() })),
        "tools/call" => call(tasks, &params).await,
        _ => Err((-32601, format!("method not found: {method}"))),
    };
    match reply {
        Ok(result) => json(
            200,
            &json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        ),
        Err((code, message)) => json(200, &rpc_error(id, code, &message)),
    }
}

fn rpc_error(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

fn initialize(params: &Value) -> Value {
    let asked = params
        .get("protocolVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let version = VERSIONS
        .iter()
        .find(|v| **v == asked)
        .unwrap_or(&VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": { "name": "todo-task-api", "version": env!("CARGO_PKG_VERSION") },
        "instructions": "Manage the signed-in user's tasks: add, list, update, complete, delete, set reminders, and see which reminders are upcoming, sent, missed or failed."
    })
}

/// Runs a tool; a failed operation (bad arguments included) is a tool result with `isError`
/// naming the field, so the model can read why; an unknown tool is a JSON-RPC error.
async fn call(tasks: &Tasks<'_>, params: &Value) -> Result<Value, (i64, String)> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut args = params.get("arguments").cloned().unwrap_or(json!({}));
    let Some(obj) = args.as_object_mut() else {
        return Err((-32602, "arguments must be an object".into()));
    };
    let task_id = obj.remove("task_id");
    let id = || -> Result<Uuid, ApiError> {
        task_id
            .as_ref()
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| {
                ApiError::Problem(Problem::validation(&ValidationErrors::single(
                    "/task_id",
                    "must be a task's UUID",
                )))
            })
    };
    let outcome = match name {
        "add_task" => tasks
            .create(args.to_string().as_bytes())
            .await
            .map(to_value),
        "list_tasks" => tasks.list(&query_string(&args)).await,
        "complete_task" => match id() {
            Ok(id) => tasks
                .update(id, &UpdateTask::completion(true))
                .await
                .map(to_value),
            Err(e) => Err(e),
        },
        "delete_task" => match id() {
            Ok(id) => tasks.delete(id).await.map(|()| json!({ "deleted": id })),
            Err(e) => Err(e),
        },
        "update_task" => match (id(), UpdateTask::from_value(&args)) {
            (Ok(id), Ok(patch)) => tasks.update(id, &patch).await.map(to_value),
            (Err(e), _) => Err(e),
            (_, Err(e)) => Err(e.into()),
        },
        "set_reminder" => match id() {
            Ok(id) => tasks.add_reminder(id, args).await.map(to_value),
            Err(e) => Err(e),
        },
        "list_reminders" => {
            if let (Some(obj), Some(t)) = (args.as_object_mut(), task_id.clone()) {
                obj.insert("task_id".into(), t);
            }
            tasks.reminders(&query_string(&args)).await
        }
        _ => return Err((-32602, format!("unknown tool: {name}"))),
    };
    Ok(match outcome {
        Ok(value) => json!({
            "content": [{ "type": "text", "text": value.to_string() }],
            "structuredContent": value,
            "isError": false,
        }),
        Err(e) => {
            let p: Problem = e.problem();
            if let ApiError::Internal(detail) = &e {
                eprintln!("task-api: mcp {name}: {detail}");
            }
            json!({ "content": [{ "type": "text", "text": p.to_json().to_string() }], "isError": true })
        }
    })
}

fn to_value(t: impl serde::Serialize) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// The list tool's arguments as the REST query string (so both parse the same way).
fn query_string(args: &Value) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in args.as_object().into_iter().flatten() {
        match v {
            Value::String(s) => drop(q.append_pair(k, s)),
            Value::Null => {}
            other => drop(q.append_pair(k, &other.to_string())),
        }
    }
    q.finish()
}

fn tool(name: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    json!({
        "name": name,
        "description": description,
        "inputSchema": { "type": "object", "properties": properties, "required": required, "additionalProperties": false },
    })
}

/// The tools and their input schemas.
pub fn tool_list() -> Vec<Value> {
    let task_id = json!({ "type": "string", "format": "uuid", "description": "The task's id." });
    let priority = json!({ "type": "string", "enum": ["low", "normal", "high", "urgent"] });
    let channel = json!({ "type": "string", "enum": ["in_app", "email", "webhook"] });
    let reminder = json!({
        "type": "object",
        "description": "Either remind_at (an instant) or before_minutes (before the due date).",
        "properties": {
            "remind_at": { "type": "string", "format": "date-time" },
            "before_minutes": { "type": "integer", "minimum": 0, "maximum": 525600 },
            "channel": channel,
        },
        "additionalProperties": false,
    });
    let fields = json!({
        "title": { "type": "string", "minLength": 1, "maxLength": 200 },
        "description": { "type": ["string", "null"], "maxLength": 4000 },
        "completed": { "type": "boolean" },
        "priority": priority,
        "tags": { "type": "array", "maxItems": 20, "items": { "type": "string", "minLength": 1, "maxLength": 50 } },
        "due_date": { "type": ["string", "null"], "format": "date-time", "description": "RFC 3339 instant." },
        "timezone": { "type": ["string", "null"], "description": "IANA time zone, e.g. Europe/Berlin." },
        "recurrence": { "type": ["string", "null"], "description": "RRULE, e.g. FREQ=MONTHLY;BYDAY=-1FR." },
        "reminders": { "type": "array", "maxItems": 10, "items": reminder },
    });
    let mut update = fields.clone();
    update["task_id"] = task_id.clone();
    update["version"] = json!({ "type": "integer", "description": "Fail with a conflict unless the task is at this version." });
    let mut set_reminder = reminder["properties"].clone();
    set_reminder["task_id"] = task_id.clone();
    vec![
        tool("add_task", "Create a task for the signed-in user.", fields, &["title"]),
        tool(
            "list_tasks",
            "List the user's tasks with filters, sorting and paging (pass next_cursor back as cursor).",
            json!({
                "completed": { "type": "boolean" },
                "priority": priority,
                "tag": { "type": "string" },
                "due_before": { "type": "string", "format": "date-time" },
                "due_after": { "type": "string", "format": "date-time" },
                "q": { "type": "string", "description": "Text search over title and description." },
                "sort": { "type": "string", "enum": ["due_date", "priority", "created", "title"] },
                "order": { "type": "string", "enum": ["asc", "desc"] },
                "limit": { "type": "integer", "minimum": 1, "maximum": 100 },
                "cursor": { "type": "string" },
            }),
            &[],
        ),
        tool("complete_task", "Mark a task completed.", json!({ "task_id": task_id }), &["task_id"]),
        tool("delete_task", "Delete a task.", json!({ "task_id": task_id }), &["task_id"]),
        tool("update_task", "Change some fields of a task; null clears an optional field.", update, &["task_id"]),
        tool("set_reminder", "Add a reminder to a task.", set_reminder, &["task_id"]),
        tool(
            "list_reminders",
            "List the user's reminders by time: upcoming, sent, missed, failed or cancelled (pass next_cursor back as cursor).",
            json!({
                "state": { "type": "string", "description": "upcoming, sent, missed, failed or cancelled; several comma-separated." },
                "task_id": task_id,
                "order": { "type": "string", "enum": ["asc", "desc"] },
                "limit": { "type": "integer", "minimum": 1, "maximum": 100 },
                "cursor": { "type": "string" },
            }),
            &[],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_seven_tools_with_object_schemas() {
        let tools = tool_list();
        let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "add_task",
                "list_tasks",
                "complete_task",
                "delete_task",
                "update_task",
                "set_reminder",
                "list_reminders"
            ]
        );
        for t in &tools {
            assert_eq!(t["inputSchema"]["type"], "object");
        }
        assert_eq!(tools[4]["inputSchema"]["required"], json!(["task_id"]));
    }

    #[test]
    fn list_arguments_become_the_rest_query() {
        let q = query_string(
            &json!({ "completed": false, "tag": "home work", "limit": 5, "cursor": null }),
        );
        assert_eq!(q, "completed=false&limit=5&tag=home+work");
    }

    #[test]
    fn initialize_echoes_a_known_version_and_offers_the_newest_otherwise() {
        assert_eq!(
            initialize(&json!({ "protocolVersion": "2025-06-18" }))["protocolVersion"],
            "2025-06-18"
        );
        assert_eq!(
            initialize(&json!({ "protocolVersion": "1999-01-01" }))["protocolVersion"],
            VERSIONS[0]
        );
    }
}
