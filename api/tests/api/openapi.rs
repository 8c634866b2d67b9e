//! `GET /openapi.json`: a valid OpenAPI 3.1 document, and every real response of the API (each
//! status it can give) has its status and media type documented and its body valid against the
//! documented schema.

use crate::helpers::{event, event_with, TestApp, TestDb};
use serde_json::{json, Value};

async fn document(app: &TestApp) -> Value {
    let resp = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    resp.json().await.unwrap()
}

/// A validator for a schema of the document, its `$ref`s resolved within the document.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("{schema} is not a valid JSON Schema: {e}"))
}

/// Checks one real response against the document: status documented, media type documented,
/// body valid against the documented schema, documented headers present.
async fn check(doc: &Value, path: &str, method: &str, resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let documented = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(
        documented.is_object(),
        "{method} {path} answered {status}, which the document does not list"
    );
    let content_type = headers["content-type"].to_str().unwrap();
    let content = &documented["content"][content_type];
    assert!(
        content.is_object(),
        "{method} {path} {status}: media type {content_type} not documented (documented: {})",
        documented["content"]
    );
    let body: Value = if content_type.contains("json") {
        serde_json::from_str(&text).unwrap()
    } else {
        Value::String(text)
    };
    if let Some(schema) = content.get("schema") {
        let v = validator(doc, schema);
        let errors: Vec<String> = v
            .iter_errors(&body)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: body {body} breaks its schema: {errors:?}"
        );
    }
    if let Some(hs) = documented["headers"].as_object() {
        for name in hs.keys() {
            assert!(
                headers.contains_key(name.as_str()),
                "{method} {path} {status}: documented header {name} missing"
            );
        }
    }
    (status, body)
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1_and_lists_every_route() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let doc = document(&app).await;
    let spec = oas3::from_json(doc.to_string()).expect("parses as an OpenAPI 3.1 document");
    assert_eq!(spec.validate_version().unwrap().to_string(), "3.1.0");
    let mut paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "/healthz",
            "/metrics",
            "/openapi.json",
            "/readyz",
            "/v1/job-status"
        ]
    );
    // Every schema is a valid JSON Schema (2020-12, OpenAPI 3.1's dialect), and every $ref resolves.
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        assert!(
            jsonschema::meta::is_valid(schema),
            "schema {name} is not valid JSON Schema"
        );
    }
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    // The problem document names the RFC 9457 members.
    let problem = &doc["components"]["schemas"]["Problem"]["properties"];
    for member in ["type", "title", "status", "detail", "errors"] {
        assert!(problem.get(member).is_some(), "Problem.{member}");
    }
}

#[tokio::test]
async fn the_request_schema_accepts_the_readme_example_and_refuses_what_the_api_refuses() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let doc = document(&app).await;
    let body = &doc["paths"]["/v1/job-status"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"];
    let v = validator(&doc, body);
    assert!(v.is_valid(&event()));
    assert!(v.is_valid(&json!([event(), event_with("run_id", json!("run-2"))])));
    assert!(v.is_valid(&event_with("period_start", json!("06:30"))));
    for bad in [
        event_with("status", json!("done")),
        event_with("colour", json!("red")),
        event_with("app_id", json!("")),
        json!([]),
    ] {
        assert!(!v.is_valid(&bad), "{bad}");
        assert_eq!(app.post(&bad).await.status, 422, "{bad}");
    }
}

#[tokio::test]
async fn every_real_response_matches_the_document() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(&db).await;
    let doc = document(&app).await;
    let post = |body: Vec<u8>, content_type: &'static str| {
        app.http
            .post(app.url("/v1/job-status"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let json_body = |v: &Value| serde_json::to_vec(v).unwrap();
    let mut seen = Vec::new();
    for (body, ct) in [
        (json_body(&event()), "application/json"),
        (
            json_body(&json!([event(), event_with("run_id", json!("r2"))])),
            "application/json",
        ),
        (
            json_body(&json!([
                event_with("status", json!("done")),
                event_with("job_id", json!(7))
            ])),
            "application/json",
        ),
        (b"{\"app_id\": ".to_vec(), "application/json"),
        (json_body(&event()), "text/plain"),
    ] {
        let (status, _) = check(
            &doc,
            "/v1/job-status",
            "post",
            post(body, ct).await.unwrap(),
        )
        .await;
        seen.push(status);
    }
    assert_eq!(seen, [201, 201, 422, 400, 415]);

    // 401 without credentials, 403 for an application the client may not post for, 429 over
    // the rate limit.
    let resp = app
        .anonymous
        .post(app.url("/v1/job-status"))
        .json(&event())
        .send()
        .await
        .unwrap();
    assert_eq!(check(&doc, "/v1/job-status", "post", resp).await.0, 401);
    let resp = app
        .http
        .post(app.url("/v1/job-status"))
        .json(&event_with("app_id", json!("payments")))
        .send()
        .await
        .unwrap();
    let status = check(&doc, "/v1/job-status", "post", resp).await.0;
    assert!(
        status == 403 || status == 422,
        "an application of nobody: {status}"
    );
    let limited = TestApp::spawn_with(&db, |c| {
        c.limits.rate_limit_per_sec = 1;
        c.limits.rate_limit_burst = 1;
    })
    .await;
    let mut statuses = Vec::new();
    for run in ["r-a", "r-b", "r-c"] {
        let resp = limited
            .http
            .post(limited.url("/v1/job-status"))
            .json(&event_with("run_id", json!(run)))
            .send()
            .await
            .unwrap();
        statuses.push(check(&doc, "/v1/job-status", "post", resp).await.0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let (status, _) = check(
            &doc,
            path,
            "get",
            app.http.get(app.url(path)).send().await.unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{path}");
    }

    // 413 from an instance with a small body limit.
    let small = TestApp::spawn_with(&db, |c| c.body_limit = 64).await;
    let big = json!([event(), event(), event()]);
    let resp = small
        .http
        .post(small.url("/v1/job-status"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(check(&doc, "/v1/job-status", "post", resp).await.0, 413);

    // 503 (with Retry-After) from an instance whose database cannot be reached.
    let down = TestApp::spawn_at(
        "host=127.0.0.1 port=1 user=postgres dbname=none".into(),
        Some(format!("pgslo_{}", "0".repeat(64))),
        |c| c.db_timeout_secs = 1,
    )
    .await;
    let resp = down
        .http
        .post(down.url("/v1/job-status"))
        .json(&event())
        .send()
        .await
        .unwrap();
    assert_eq!(check(&doc, "/v1/job-status", "post", resp).await.0, 503);
    let resp = down.http.get(down.url("/readyz")).send().await.unwrap();
    assert_eq!(check(&doc, "/readyz", "get", resp).await.0, 503);
}
