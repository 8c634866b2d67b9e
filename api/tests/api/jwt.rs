//! Signed JSON Web Tokens, signed here with local test keys (`tests/fixtures/jwt`): HS256 with a
//! shared secret, RS256 with a public key file or a JWKS file; each way a token is refused.

use crate::helpers::{event, TestApp, TestDb};
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::path::PathBuf;

const AUDIENCE: &str = "pg-slo";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-only";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims of a valid token of `client`.
fn claims(client: &str) -> Value {
    json!({"sub": client, "aud": AUDIENCE, "iss": "https://idp.test", "exp": now() + 300, "iat": now()})
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn rs256(claims: &Value, private_key: &str, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    let pem = std::fs::read(fixture(private_key)).unwrap();
    encode(&header, claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

/// An unsigned token: `alg: none` and an empty signature.
fn unsigned(claims: &Value) -> String {
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

fn secret_file() -> PathBuf {
    let path = std::env::temp_dir().join(format!("pg-slo-test-secret-{}", uuid::Uuid::new_v4()));
    std::fs::write(&path, [SECRET, b"\n"].concat()).unwrap();
    path
}

/// A database where client `jwt-sched` may post for overdrafts (no token of its own), and the
/// app configured with every kind of key.
async fn setup() -> (TestDb, TestApp) {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO slo.client (client_id) VALUES ('jwt-sched'), ('jwt-nothing');
             INSERT INTO slo.client_application (client_id, app_id) VALUES ('jwt-sched', 'overdrafts');",
        )
        .await
        .unwrap();
    let secret = secret_file();
    let app = TestApp::spawn_with(&db, |c| {
        c.auth.jwt_hs256_secret_file = Some(secret);
        c.auth.jwt_rs256_public_key_file = Some(fixture("rsa-public.pem"));
        c.auth.jwt_jwks_file = Some(fixture("jwks.json"));
        c.auth.jwt_audience = Some(AUDIENCE.into());
        c.auth.jwt_issuer = Some("https://idp.test".into());
    })
    .await;
    (db, app)
}

#[tokio::test]
async fn hs256_and_rs256_tokens_are_accepted_and_their_client_is_stored() {
    let (db, app) = setup().await;
    let tokens = [
        hs256(&claims("jwt-sched"), SECRET),
        rs256(&claims("jwt-sched"), "rsa-private.pem", None),
        rs256(&claims("jwt-sched"), "rsa-private.pem", Some("test-key-1")),
        rs256(
            &claims("jwt-sched"),
            "other-rsa-private.pem",
            Some("test-key-2"),
        ),
    ];
    for (i, token) in tokens.iter().enumerate() {
        let mut e = event();
        e["run_id"] = json!(format!("run-{i}"));
        let reply = app.post_with_token(token, &e).await;
        assert_eq!(reply.status, 201, "token {i}: {}", reply.body);
    }
    let events = db.events().await;
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| e["client_id"] == "jwt-sched"));
}

#[tokio::test]
async fn each_kind_of_bad_jwt_is_401_saying_why() {
    let (db, app) = setup().await;
    let with = |field: &str, value: Value| {
        let mut c = claims("jwt-sched");
        c[field] = value;
        c
    };
    let without = |field: &str| {
        let mut c = claims("jwt-sched");
        c.as_object_mut().unwrap().remove(field);
        c
    };
    let public_pem = std::fs::read(fixture("rsa-public.pem")).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            hs256(&with("exp", json!(now() - 3600)), SECRET),
            "expired",
        ),
        (
            "wrong audience",
            hs256(&with("aud", json!("other-service")), SECRET),
            "audience",
        ),
        ("no audience", hs256(&without("aud"), SECRET), "\"aud\""),
        ("no expiry", hs256(&without("exp"), SECRET), "\"exp\""),
        (
            "wrong issuer",
            hs256(&with("iss", json!("https://evil.test")), SECRET),
            "issuer",
        ),
        (
            "not yet valid",
            hs256(&with("nbf", json!(now() + 3600)), SECRET),
            "not valid yet",
        ),
        ("unsigned", unsigned(&claims("jwt-sched")), "unsigned"),
        (
            "wrong secret",
            hs256(&claims("jwt-sched"), b"another-secret-another-secret-xx"),
            "signature",
        ),
        (
            "unknown RSA key",
            rs256(&claims("jwt-sched"), "other-rsa-private.pem", None),
            "signature",
        ),
        (
            "unknown key id",
            rs256(&claims("jwt-sched"), "other-rsa-private.pem", Some("nope")),
            "signature",
        ),
        // Algorithm confusion: an HS256 token whose "secret" is the public RSA key.
        (
            "public key as HMAC secret",
            hs256(&claims("jwt-sched"), &public_pem),
            "signature",
        ),
        ("no client claim", hs256(&without("sub"), SECRET), "\"sub\""),
        (
            "client claim not an id",
            hs256(&with("sub", json!(" padded ")), SECRET),
            "client id",
        ),
        (
            "client claim not a string",
            hs256(&with("sub", json!(42)), SECRET),
            "not a string",
        ),
    ];
    for (name, token, says) in cases {
        let reply = app.post_with_token(&token, &event()).await;
        assert_eq!(reply.status, 401, "{name}: {}", reply.body);
        assert_eq!(reply.content_type(), "application/problem+json");
        assert!(
            reply.body["detail"].as_str().unwrap().contains(says),
            "{name}: {}",
            reply.body
        );
    }
    // Other algorithms are refused before any key is tried.
    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &claims("jwt-sched"),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let reply = app.post_with_token(&hs512, &event()).await;
    assert_eq!(reply.status, 401);
    assert!(reply.body["detail"]
        .as_str()
        .unwrap()
        .contains("\"HS512\" is not accepted"));
    assert_eq!(db.events().await.len(), 0);
}

#[tokio::test]
async fn a_valid_jwt_of_a_client_without_the_application_is_403() {
    let (db, app) = setup().await;
    for client in ["jwt-nothing", "not-registered"] {
        let reply = app
            .post_with_token(&hs256(&claims(client), SECRET), &event())
            .await;
        assert_eq!(reply.status, 403, "{client}: {}", reply.body);
    }
    assert_eq!(db.events().await.len(), 0);
}

#[tokio::test]
async fn the_client_id_may_come_from_another_configured_claim() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO slo.client (client_id) VALUES ('svc-7');
             INSERT INTO slo.client_application (client_id, app_id) VALUES ('svc-7', 'overdrafts');",
        )
        .await
        .unwrap();
    let secret = secret_file();
    let app = TestApp::spawn_with(&db, |c| {
        c.auth.jwt_hs256_secret_file = Some(secret);
        c.auth.jwt_audience = Some(AUDIENCE.into());
        c.auth.jwt_client_claim = "azp".into();
    })
    .await;
    let mut c = claims("someone-else");
    c["azp"] = json!("svc-7");
    let reply = app.post_with_token(&hs256(&c, SECRET), &event()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(db.events().await[0]["client_id"], "svc-7");
    // Only HS256 is configured here: an RS256 token is refused.
    let reply = app
        .post_with_token(&rs256(&c, "rsa-private.pem", None), &event())
        .await;
    assert_eq!(reply.status, 401);
    assert!(reply.body["detail"]
        .as_str()
        .unwrap()
        .contains("\"RS256\" is not accepted"));
}

#[tokio::test]
async fn jwt_settings_that_cannot_be_safe_stop_the_service_from_starting() {
    let db = TestDb::new().await;
    let short = std::env::temp_dir().join(format!("pg-slo-test-short-{}", uuid::Uuid::new_v4()));
    std::fs::write(&short, b"too-short").unwrap();
    let no_keys = std::env::temp_dir().join(format!("pg-slo-test-jwks-{}", uuid::Uuid::new_v4()));
    std::fs::write(&no_keys, br#"{"keys": []}"#).unwrap();
    let build = |tweak: &dyn Fn(&mut api::config::ServeConfig)| {
        let mut config = api::config::ServeConfig {
            database_url: db.url(),
            listen: "127.0.0.1:0".parse().unwrap(),
            pool_size: 1,
            body_limit: 1024,
            db_timeout_secs: 1,
            group_commit_writers: 2,
            auth: Default::default(),
            limits: Default::default(),
            publish: Default::default(),
        };
        tweak(&mut config);
        config
    };
    let cases: Vec<(api::config::ServeConfig, &str)> = vec![
        (
            build(&|c| c.auth.jwt_hs256_secret_file = Some(secret_file())),
            "--jwt-audience is required",
        ),
        (
            build(&|c| {
                c.auth.jwt_hs256_secret_file = Some(short.clone());
                c.auth.jwt_audience = Some(AUDIENCE.into());
            }),
            "at least 32 bytes",
        ),
        (
            build(&|c| {
                c.auth.jwt_jwks_file = Some(no_keys.clone());
                c.auth.jwt_audience = Some(AUDIENCE.into());
            }),
            "no RSA key",
        ),
        (
            build(&|c| {
                c.auth.jwt_rs256_public_key_file = Some(fixture("jwks.json"));
                c.auth.jwt_audience = Some(AUDIENCE.into());
            }),
            "--jwt-rs256-public-key-file",
        ),
        (
            build(&|c| {
                c.auth.insecure_no_auth = true;
                c.auth.jwt_hs256_secret_file = Some(secret_file());
                c.auth.jwt_audience = Some(AUDIENCE.into());
            }),
            "--insecure-no-auth cannot be combined",
        ),
    ];
    for (config, says) in cases {
        let err = match api::startup::Application::build(&config).await {
            Ok(_) => panic!("started with {says}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(says), "{says}: {err}");
    }
}

#[tokio::test]
async fn a_jwt_accepted_before_is_refused_once_it_expires_although_answers_are_cached() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO slo.client (client_id) VALUES ('jwt-sched');
             INSERT INTO slo.client_application (client_id, app_id) VALUES ('jwt-sched', 'overdrafts');",
        )
        .await
        .unwrap();
    let secret = secret_file();
    let app = TestApp::spawn_with(&db, |c| {
        c.auth.jwt_hs256_secret_file = Some(secret);
        c.auth.jwt_audience = Some(AUDIENCE.into());
        c.auth.jwt_leeway_secs = 0;
        c.auth.auth_cache_secs = 300;
    })
    .await;
    let mut c = claims("jwt-sched");
    c["exp"] = json!(now() + 2);
    let token = hs256(&c, SECRET);
    assert_eq!(app.post_with_token(&token, &event()).await.status, 201);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let mut again = event();
    again["run_id"] = json!("run-2");
    let reply = app.post_with_token(&token, &again).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert!(reply.body["detail"].as_str().unwrap().contains("expired"));
}
