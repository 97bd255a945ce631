//! The OpenAPI 3.1 document served at `/v1/openapi.json`.
//!
//! Every operation is declared once in [`operations`], naming the Rust types its handler reads
//! and answers with; their JSON Schemas come from `schemars`, which honours the same serde
//! attributes the handlers serialise with, so the documented schema is the one on the wire.
//! Request schemas describe what deserialises (inline); response schemas describe what
//! serialises (referenced from `components/schemas`). Errors are declared as the
//! [`ProblemKind`]s a route can answer, grouped by status, each with the problem schema.
//!
//! The router is not built from this table: the API tests read the routes off the real router
//! (its paths, and the methods each path answers) and fail on a route missing here.

mod operations;

use crate::error::{ProblemKind, type_uri};
use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// No key needed (a key that is sent is still checked).
    Public,
    /// Any tenant key.
    Tenant,
    /// Admin keys only.
    Admin,
}

/// Makes the schema of a type from a generator (a request or a response one).
type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// A body's schema: from a Rust type, or written out where the handler reads bytes or a JSON
/// value it checks itself.
#[derive(Clone)]
enum Payload {
    Typed(SchemaFn),
    Literal(Value),
}

impl Payload {
    fn render(&self, g: &mut SchemaGenerator) -> Value {
        match self {
            Payload::Typed(f) => f(g).to_value(),
            Payload::Literal(v) => v.clone(),
        }
    }
}

/// A header of a request or a response.
#[derive(Clone)]
struct Header {
    name: &'static str,
    description: &'static str,
    schema: Value,
}

struct Response {
    status: u16,
    description: &'static str,
    content: Vec<(&'static str, Payload)>,
    headers: Vec<Header>,
}

/// One documented operation.
pub(crate) struct Op {
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    access: Access,
    /// The query struct the handler reads (its fields become query parameters).
    query: Option<SchemaFn>,
    headers: Vec<Header>,
    body: Option<(bool, Vec<(&'static str, Payload)>)>,
    responses: Vec<Response>,
    errors: Vec<ProblemKind>,
    /// Exempt from the request deadline (uploads, batch scoring, event streams).
    streaming: bool,
}

/// An operation answering `method path`; a tenant key is needed unless [`Op::public`] or
/// [`Op::admin`] says otherwise.
fn op(method: &'static str, path: &'static str, tag: &'static str, summary: &'static str) -> Op {
    Op {
        method,
        path,
        tag,
        summary,
        access: Access::Tenant,
        query: None,
        headers: Vec::new(),
        body: None,
        responses: Vec::new(),
        errors: Vec::new(),
        streaming: false,
    }
}

impl Op {
    fn public(mut self) -> Self {
        self.access = Access::Public;
        self
    }

    fn admin(mut self) -> Self {
        self.access = Access::Admin;
        self
    }

    fn streaming(mut self) -> Self {
        self.streaming = true;
        self
    }

    fn query<Q: JsonSchema>(mut self) -> Self {
        self.query = Some(schema_of::<Q>);
        // Unknown or mistyped parameters are refused.
        self.errors.push(ProblemKind::InvalidRequest);
        self
    }

    fn header(mut self, name: &'static str, description: &'static str) -> Self {
        self.headers.push(Header {
            name,
            description,
            schema: json!({ "type": "string" }),
        });
        self
    }

    /// A JSON body read by `ApiJson` (or `parse_json`): its media type, syntax, size and
    /// content are checked, each with its own problem.
    fn json_body<T: JsonSchema>(mut self) -> Self {
        self.body = Some((
            true,
            vec![("application/json", Payload::Typed(schema_of::<T>))],
        ));
        self.errors.extend([
            ProblemKind::MalformedJson,
            ProblemKind::InvalidRequest,
            ProblemKind::PayloadTooLarge,
            ProblemKind::UnsupportedMediaType,
        ]);
        self
    }

    fn body(mut self, required: bool, content: Vec<(&'static str, Payload)>) -> Self {
        self.body = Some((required, content));
        self
    }

    /// A JSON answer of type `T`.
    fn ok<T: JsonSchema>(self, status: u16, description: &'static str) -> Self {
        self.answer(
            status,
            description,
            vec![("application/json", Payload::Typed(schema_of::<T>))],
        )
    }

    fn answer(
        mut self,
        status: u16,
        description: &'static str,
        content: Vec<(&'static str, Payload)>,
    ) -> Self {
        self.responses.push(Response {
            status,
            description,
            content,
            headers: Vec::new(),
        });
        self
    }

    fn no_content(self, description: &'static str) -> Self {
        self.answer(204, description, Vec::new())
    }

    /// A header of the answer declared last.
    fn answer_header(mut self, name: &'static str, description: &'static str) -> Self {
        if let Some(r) = self.responses.last_mut() {
            r.headers.push(Header {
                name,
                description,
                schema: json!({ "type": "string" }),
            });
        }
        self
    }

    fn errors(mut self, kinds: &[ProblemKind]) -> Self {
        self.errors.extend_from_slice(kinds);
        self
    }

    /// Every problem the operation can answer: the declared ones and those every route of its
    /// kind shares (a bad key, a path id naming nothing, an admin-only call, the request
    /// deadline, a host failure).
    fn all_errors(&self) -> Vec<ProblemKind> {
        let mut kinds = self.errors.clone();
        // The auth layer checks any key that is sent, on public routes too.
        kinds.push(ProblemKind::Unauthorized);
        if self.path.contains('{') {
            kinds.push(ProblemKind::NotFound);
        }
        if self.access == Access::Admin {
            kinds.push(ProblemKind::Forbidden);
        }
        if !self.streaming {
            kinds.push(ProblemKind::Timeout);
        }
        kinds.push(ProblemKind::Internal);
        kinds.sort_by_key(|k| (k.status().as_u16(), k.slug()));
        kinds.dedup();
        kinds
    }

    fn path_params(&self) -> Vec<Value> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let description = match name {
                    "name" if self.path.starts_with("/v1/tenants") => "The tenant's name.",
                    "name" => "The deployment's name.",
                    "key_id" => "The key's public id.",
                    _ => "The resource's id.",
                };
                json!({
                    "name": name,
                    "in": "path",
                    "required": true,
                    "description": description,
                    "schema": { "type": "string" },
                })
            })
            .collect()
    }

    fn render(&self, req: &mut SchemaGenerator, resp: &mut SchemaGenerator) -> Value {
        let mut parameters = self.path_params();
        if let Some(q) = self.query {
            parameters.extend(query_params(q(req).to_value()));
        }
        for h in &self.headers {
            parameters.push(json!({
                "name": h.name,
                "in": "header",
                "required": false,
                "description": h.description,
                "schema": h.schema,
            }));
        }
        let mut responses = Map::new();
        for r in &self.responses {
            let mut v = json!({ "description": r.description });
            if !r.content.is_empty() {
                v["content"] = content(&r.content, resp);
            }
            if !r.headers.is_empty() {
                v["headers"] = headers(&r.headers);
            }
            responses.insert(r.status.to_string(), v);
        }
        let mut by_status: BTreeMap<u16, Vec<ProblemKind>> = BTreeMap::new();
        for k in self.all_errors() {
            by_status.entry(k.status().as_u16()).or_default().push(k);
        }
        for (status, kinds) in by_status {
            responses.insert(status.to_string(), problem_response(status, &kinds));
        }
        let mut op = json!({
            "tags": [self.tag],
            "summary": self.summary,
            "operationId": operation_id(self.method, self.path),
            "parameters": parameters,
            "responses": responses,
        });
        if self.access != Access::Public {
            op["security"] = json!([{ "bearer": [] }]);
        }
        if let Some((required, body)) = &self.body {
            op["requestBody"] = json!({ "required": required, "content": content(body, req) });
        }
        op
    }
}

fn operation_id(method: &str, path: &str) -> String {
    format!(
        "{method}_{}",
        path.trim_start_matches('/')
            .replace(['/', '.'], "_")
            .replace(['{', '}'], "")
    )
}

fn content(media: &[(&'static str, Payload)], g: &mut SchemaGenerator) -> Value {
    let mut out = Map::new();
    for (m, p) in media {
        out.insert((*m).into(), json!({ "schema": p.render(g) }));
    }
    Value::Object(out)
}

fn headers(hs: &[Header]) -> Value {
    let mut out = Map::new();
    for h in hs {
        out.insert(
            h.name.into(),
            json!({ "description": h.description, "schema": h.schema }),
        );
    }
    Value::Object(out)
}

/// Each field of a query struct's schema as a query parameter.
fn query_params(schema: Value) -> Vec<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema["properties"].as_object() else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, s)| {
            let mut s = s.clone();
            let description = s
                .as_object_mut()
                .and_then(|o| o.remove("description"))
                .unwrap_or(Value::Null);
            // `Option<T>` reads as "T or null"; a query parameter is absent instead.
            if let Some(types) = s["type"].as_array() {
                let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if kept.len() == 1 {
                    s["type"] = kept[0].clone();
                }
            }
            json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "description": description,
                "schema": s,
            })
        })
        .collect()
}

/// The problem answer of one status: the problem schema narrowed to the types that status
/// carries on this operation.
fn problem_response(status: u16, kinds: &[ProblemKind]) -> Value {
    let types: Vec<String> = kinds.iter().map(|k| type_uri(*k)).collect();
    let description = kinds
        .iter()
        .map(|k| format!("`{}`: {}", k.slug(), k.title()))
        .collect::<Vec<_>>()
        .join("; ");
    let mut v = json!({
        "description": description,
        "content": { "application/problem+json": { "schema": {
            "allOf": [
                { "$ref": "#/components/schemas/Problem" },
                { "properties": {
                    "type": { "enum": types },
                    "status": { "const": status },
                } }
            ]
        } } }
    });
    if kinds.contains(&ProblemKind::Overloaded) {
        v["headers"] = json!({ "Retry-After": {
            "description": "Seconds after which the same request may find a free slot.",
            "schema": { "type": "integer", "minimum": 0 },
        } });
    }
    if kinds.contains(&ProblemKind::Unauthorized) {
        v["headers"] = json!({ "WWW-Authenticate": {
            "description": "`Bearer`.",
            "schema": { "type": "string" },
        } });
    }
    v
}

/// Members an [`crate::ApiError`] may carry beside the RFC 9457 ones, with their types (a unit
/// test checks that every member the crate sets is listed).
const PROBLEM_MEMBERS: &[(&str, &str, &str)] = &[
    (
        "field",
        "string",
        "The request field at fault (a JSON path for nested ones).",
    ),
    ("row", "integer", "The 0-based row at fault."),
    (
        "limit",
        "integer",
        "The limit that was reached (a count, or bytes for storage).",
    ),
    ("limit_bytes", "integer", "The upload cap, bytes."),
    (
        "received_bytes",
        "integer",
        "Bytes received before the body stalled.",
    ),
    (
        "quota",
        "string",
        "The tenant quota that would be exceeded.",
    ),
    ("range", "string", "The range a value must lie in."),
    (
        "stage",
        "string",
        "The pipeline stage a plugin failed or timed out in.",
    ),
    (
        "deployment",
        "string",
        "The deployment that holds the resource.",
    ),
    (
        "deadline_secs",
        "number",
        "The deadline that passed, seconds.",
    ),
    (
        "retry_after_secs",
        "integer",
        "Seconds to wait before trying again (also `Retry-After`).",
    ),
    (
        "incident",
        "string",
        "The id under which the server log has the cause of a 500.",
    ),
];

fn problem_schema() -> Value {
    let mut properties = Map::new();
    properties.insert(
        "type".into(),
        json!({
            "type": "string",
            "format": "uri",
            "description": "Stable: `urn:microlearn:problem:<slug>`.",
            "enum": ProblemKind::ALL.iter().map(|k| type_uri(*k)).collect::<Vec<_>>(),
        }),
    );
    properties.insert(
        "title".into(),
        json!({ "type": "string", "description": "Fixed per type." }),
    );
    properties.insert(
        "status".into(),
        json!({ "type": "integer", "description": "The HTTP status." }),
    );
    properties.insert(
        "detail".into(),
        json!({ "type": "string", "description": "What is wrong, and where." }),
    );
    for (name, ty, description) in PROBLEM_MEMBERS {
        properties.insert(
            (*name).into(),
            json!({ "type": ty, "description": description }),
        );
    }
    json!({
        "type": "object",
        "description": "RFC 9457 problem details (`application/problem+json`).",
        "required": ["type", "title", "status", "detail"],
        "properties": properties,
    })
}

/// The generators: requests as they deserialise, inlined; responses as they serialise,
/// shared through `components/schemas`.
fn generators() -> (SchemaGenerator, SchemaGenerator) {
    let req = SchemaSettings::draft2020_12()
        .with(|s| {
            s.contract = Contract::Deserialize;
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let resp = SchemaSettings::draft2020_12()
        .with(|s| {
            s.contract = Contract::Serialize;
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    (req, resp)
}

/// The document.
pub fn document() -> Value {
    let (mut req, mut resp) = generators();
    let mut paths: Map<String, Value> = Map::new();
    for o in operations::all() {
        let rendered = o.render(&mut req, &mut resp);
        let entry = paths.entry(o.path.to_string()).or_insert_with(|| json!({}));
        entry[o.method] = rendered;
    }
    let mut schemas = resp.take_definitions(true);
    schemas.insert("Problem".into(), problem_schema());
    let kinds: Vec<Value> = ProblemKind::ALL
        .iter()
        .map(|k| json!({ "type": type_uri(*k), "status": k.status().as_u16(), "title": k.title() }))
        .collect();
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "MicroLearn",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "AutoML with sandboxed, pluggable stages. Every call but /healthz and this document needs `Authorization: Bearer <API key>`; every resource belongs to the key's tenant, and another tenant's ids answer 404. Errors are RFC 9457 problems (`application/problem+json`) with a stable `type`.",
        },
        "tags": [
            { "name": "service", "description": "Health, metrics, this document, the calling key." },
            { "name": "datasets", "description": "Uploaded tables with their inferred schema and profile." },
            { "name": "pipelines", "description": "AutoML runs in the background: stages, trials, leaderboard, events." },
            { "name": "models", "description": "Refit and evaluated models and their bundles." },
            { "name": "deployments", "description": "Served models: predict, batch scoring, canaries, stats." },
            { "name": "plugins", "description": "Stage plugins: the host's and the tenant's own." },
            { "name": "tenants", "description": "Tenants, quotas and API keys (admin keys)." },
        ],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas,
        },
        "x-problem-types": kinds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every member name the crate's sources pass to `ApiError::with` is documented.
    #[test]
    fn every_problem_member_the_crate_sets_is_documented() {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut files = vec![std::path::PathBuf::from(src)];
        let mut seen = 0;
        while let Some(p) = files.pop() {
            if p.is_dir() {
                for e in std::fs::read_dir(&p).expect("source folder").flatten() {
                    files.push(e.path());
                }
                continue;
            }
            if p.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&p).expect("source file");
            for part in text.split(".with(\"").skip(1) {
                let name = part.split('"').next().unwrap_or_default();
                seen += 1;
                assert!(
                    PROBLEM_MEMBERS.iter().any(|(m, _, _)| *m == name),
                    "{}: problem member '{name}' is not in PROBLEM_MEMBERS",
                    p.display()
                );
            }
        }
        assert!(seen > 10, "found only {seen} problem members");
    }

    #[test]
    fn every_problem_kind_is_answered_by_some_operation() {
        let doc = document();
        let text = doc["paths"].to_string();
        for k in ProblemKind::ALL {
            if matches!(k, ProblemKind::NoRoute | ProblemKind::MethodNotAllowed) {
                continue; // answers of the router, not of an operation
            }
            assert!(
                text.contains(&type_uri(k)),
                "{} is never documented",
                k.slug()
            );
        }
    }

    #[test]
    fn query_structs_become_optional_query_parameters() {
        let doc = document();
        let params = doc["paths"]["/v1/deployments/{name}/batch"]["post"]["parameters"]
            .as_array()
            .expect("parameters")
            .clone();
        let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(
            names,
            ["name", "format", "name", "output", "X-Routing-Key"],
            "{params:?}"
        );
        let output = &params[3];
        assert_eq!(output["in"], "query");
        assert_eq!(output["required"], false);
        assert_eq!(output["schema"]["type"], "string");
    }
}
