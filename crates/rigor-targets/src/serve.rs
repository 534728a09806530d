//! `rigor serve`: a real HTTP server speaking the parts of OPA's REST Data
//! API that benchmarks use, evaluating with regorus. It is what tests and
//! the demo scenario run against where no OPA binary is available, and it
//! measures what putting the same engine behind HTTP costs.
//!
//! Endpoints: `POST|GET /v1/data/{path}` (`{"input": ...}` in, `{"result": ...}`
//! out, no `result` when undefined), `PUT /v1/policies/{id}` (Rego text),
//! `PUT /v1/data/{path}` (JSON), `GET /health`.
//!
//! Evaluation is CPU-bound and runs inline on the runtime's worker threads;
//! each thread keeps its own clone of the prepared engine and refreshes it
//! when policies or data change.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use regorus::{Engine, Value};
use rigor_scenario::plan::PolicyPlan;

/// What the server evaluates.
struct State {
    modules: BTreeMap<String, String>,
    data: serde_json::Value,
    rego_v0: bool,
    engine: Engine,
    generation: u64,
}

impl State {
    fn rebuild(&mut self) -> Result<(), String> {
        let mut engine = Engine::new();
        engine.set_rego_v0(self.rego_v0);
        // As OPA's server does by default, print() output goes nowhere near
        // the request path: gathered and dropped after each evaluation.
        engine.set_gather_prints(true);
        for (id, text) in &self.modules {
            engine
                .add_policy(id.clone(), text.clone())
                .map_err(|e| e.to_string())?;
        }
        engine
            .add_data(Value::from(self.data.clone()))
            .map_err(|e| e.to_string())?;
        self.engine = engine;
        self.generation += 1;
        Ok(())
    }
}

thread_local! {
    static ENGINE: RefCell<Option<(u64, Engine)>> = const { RefCell::new(None) };
}

type Shared = Arc<RwLock<State>>;

/// A server ready to listen.
#[derive(Clone)]
pub struct Server {
    state: Shared,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

impl Server {
    /// A server holding `policy` (or nothing, to be filled by uploads).
    pub fn new(policy: Option<&PolicyPlan>) -> Result<Self, String> {
        let mut state = State {
            modules: BTreeMap::new(),
            data: serde_json::json!({}),
            rego_v0: policy.is_some_and(|p| p.rego_v0),
            engine: Engine::new(),
            generation: 0,
        };
        if let Some(p) = policy {
            for m in &p.modules {
                state.modules.insert(m.path.clone(), m.text.clone());
            }
            state.data = p.data.clone();
        }
        state.rebuild()?;
        Ok(Server {
            state: Arc::new(RwLock::new(state)),
        })
    }

    /// Serves on `listener` until the process ends.
    pub async fn serve(self, listener: tokio::net::TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let state = self.state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }
}

/// Binds `addr` and serves on a multi-threaded runtime with `threads` workers;
/// calls `ready` with the bound address (port 0 picks a free one).
pub fn run(
    server: Server,
    addr: SocketAddr,
    threads: usize,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        ready(bound);
        tokio::select! {
            _ = server.serve(listener) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(())
    })
}

fn json(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response<Full<Bytes>> {
    json(
        status,
        serde_json::json!({ "code": code, "message": message.into() }),
    )
}

async fn handle(
    state: Shared,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await?.to_bytes();
    Ok(route(&state, &method, &path, &body))
}

fn route(state: &Shared, method: &Method, path: &str, body: &Bytes) -> Response<Full<Bytes>> {
    if path == "/health" {
        return json(StatusCode::OK, serde_json::json!({}));
    }
    if let Some(rest) = path.strip_prefix("/v1/data") {
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        return match *method {
            Method::POST | Method::GET => evaluate(state, &segments, body),
            Method::PUT => put_data(state, &segments, body),
            _ => error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use GET, POST or PUT",
            ),
        };
    }
    if let Some(id) = path.strip_prefix("/v1/policies/") {
        if *method != Method::PUT {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use PUT",
            );
        }
        return put_policy(state, id, body);
    }
    error(
        StatusCode::NOT_FOUND,
        "resource_not_found",
        format!("{path} is not an endpoint of this server"),
    )
}

fn evaluate(state: &Shared, segments: &[&str], body: &Bytes) -> Response<Full<Bytes>> {
    let input = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(doc) => doc.get("input").cloned(),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_parameter",
                    format!("body is not JSON: {e}"),
                )
            }
        }
    };
    let rule = if segments.is_empty() {
        "data".to_string()
    } else {
        format!("data.{}", segments.join("."))
    };
    let result = ENGINE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let shared = state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cell
            .as_ref()
            .is_none_or(|(generation, _)| *generation != shared.generation)
        {
            *cell = Some((shared.generation, shared.engine.clone()));
        }
        drop(shared);
        let engine = &mut cell.as_mut().ok_or("no engine")?.1;
        engine.set_input(input.map(Value::from).unwrap_or(Value::Undefined));
        let result = engine.eval_rule(rule).map_err(|e| e.to_string());
        drop(engine.take_prints());
        result
    });
    match result {
        Ok(Value::Undefined) => json(StatusCode::OK, serde_json::json!({})),
        Ok(v) => match serde_json::to_value(&v) {
            Ok(v) => json(StatusCode::OK, serde_json::json!({ "result": v })),
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                e.to_string(),
            ),
        },
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", e),
    }
}

fn update(state: &Shared, change: impl FnOnce(&mut State)) -> Response<Full<Bytes>> {
    // A panic in an earlier rebuild poisons the lock; the state it left is usable.
    let mut shared = state
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (modules, data) = (shared.modules.clone(), shared.data.clone());
    change(&mut shared);
    match shared.rebuild() {
        Ok(()) => json(StatusCode::OK, serde_json::json!({})),
        Err(e) => {
            shared.modules = modules;
            shared.data = data;
            let _ = shared.rebuild();
            error(StatusCode::BAD_REQUEST, "invalid_parameter", e)
        }
    }
}

fn put_policy(state: &Shared, id: &str, body: &Bytes) -> Response<Full<Bytes>> {
    let text = String::from_utf8_lossy(body).into_owned();
    update(state, |s| {
        s.modules.insert(id.to_string(), text);
    })
}

fn put_data(state: &Shared, segments: &[&str], body: &Bytes) -> Response<Full<Bytes>> {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                format!("body is not JSON: {e}"),
            )
        }
    };
    update(state, |s| {
        let mut node = &mut s.data;
        for seg in segments {
            if !node.is_object() {
                *node = serde_json::json!({});
            }
            node = node
                .as_object_mut()
                .map(|o| o.entry(seg.to_string()).or_insert(serde_json::json!({})))
                .expect("just made an object");
        }
        *node = value;
    })
}
