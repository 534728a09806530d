//! The measured path: one keep-alive connection per worker, its requests
//! and answers, and the server's own timers of the sampled requests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use rigor_engine::target::{AsyncWorker, OpError, Outcome};

use super::endpoint::{Bodies, Endpoint};
use crate::decision::{self, AsyncHandle, DecisionCache};
use crate::http1;

/// The parts of a Data API answer rigor reads; other fields are skipped
/// without being built.
#[derive(serde::Deserialize)]
struct Reply {
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    metrics: Option<Timers>,
}

/// OPA's two timers of interest, from `?metrics=true`.
#[derive(serde::Deserialize)]
struct Timers {
    #[serde(default)]
    timer_rego_query_eval_ns: Option<u64>,
    #[serde(default)]
    timer_server_handler_ns: Option<u64>,
}

pub(super) struct Connection {
    pub(super) endpoint: Arc<Endpoint>,
    pub(super) bodies: Bodies,
    /// The request being sent, written here from `bodies` (reused).
    pub(super) message: Vec<u8>,
    pub(super) offset: u64,
    pub(super) conn: Option<http1::Conn>,
    /// Input indices drawn before timing, when inputs are not round-robin.
    pub(super) order: Option<Vec<u32>>,
    pub(super) cache: Option<(AsyncHandle, Arc<Vec<Vec<u8>>>)>,
    /// The server's own timings of the requests that asked for them.
    pub(super) timings: Option<Box<ServerTimings>>,
    /// State of the draw that picks those requests.
    pub(super) sample: u64,
}

/// OPA's per-request timers, as the server reported them.
pub(super) struct ServerTimings {
    pub(super) eval: hdrhistogram::Histogram<u64>,
    pub(super) handler: hdrhistogram::Histogram<u64>,
}

impl ServerTimings {
    pub(super) fn new() -> Box<Self> {
        Box::new(ServerTimings {
            eval: rigor_engine::stats::new_histogram(),
            handler: rigor_engine::stats::new_histogram(),
        })
    }

    #[inline]
    fn record(&mut self, timers: &Timers) {
        if let Some(ns) = timers.timer_rego_query_eval_ns {
            self.eval.saturating_record(ns.max(1));
        }
        if let Some(ns) = timers.timer_server_handler_ns {
            self.handler.saturating_record(ns.max(1));
        }
    }
}

impl Connection {
    async fn connect(&mut self) -> Result<&mut http1::Conn, OpError> {
        if self.conn.as_ref().is_some_and(|c| !c.reusable()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let e = &self.endpoint;
            let conn = tokio::time::timeout(e.timeout, http1::Conn::connect(&e.authority))
                .await
                .map_err(|_| {
                    OpError::new(
                        "timeout",
                        format!("connecting to {} took longer than {:?}", e.url, e.timeout),
                    )
                })?
                .map_err(|err| {
                    OpError::new("connect", format!("cannot connect to {}: {err}", e.url))
                })?;
            self.conn = Some(conn);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| OpError::new("connect", "no connection"))
    }

    /// The input index of operation `op`.
    fn pick(&self, op: u64) -> usize {
        match &self.order {
            Some(order) => order[(op % order.len() as u64) as usize] as usize,
            None => ((op + self.offset) % self.bodies.len() as u64) as usize,
        }
    }

    /// Whether this request asks for the server's timers: a seeded draw,
    /// one in `metrics_every` on average, independent of which input it
    /// sends (a fixed stride would sample the same inputs of a round-robin).
    fn sample_metrics(&mut self) -> bool {
        if self.timings.is_none() {
            return false;
        }
        // xorshift64*
        let mut x = self.sample;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.sample = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
            .is_multiple_of(self.endpoint.metrics_every)
    }

    /// Sends one request and returns the decision (`"<undefined>"` when the
    /// server returns no `result`, as OPA does for undefined rules).
    pub(super) async fn decide(&mut self, index: usize) -> Result<serde_json::Value, OpError> {
        let ask = self.sample_metrics();
        let endpoint = self.endpoint.clone();
        // Taken out for the exchange, which borrows the connection, and put back after.
        let mut buffer = std::mem::take(&mut self.message);
        self.bodies.write(&endpoint, ask, index, &mut buffer);
        let message = &buffer[..];
        let result = tokio::time::timeout(endpoint.timeout, async {
            // A connection the server closed while idle fails its first write
            // or read; one fresh connection is tried before it counts.
            let fresh = self.conn.is_none();
            let reply = match self.exchange(&endpoint, message).await {
                Err(e) if !fresh && e.class == "io" => {
                    self.conn = None;
                    self.exchange(&endpoint, message).await
                }
                other => other,
            }?;
            if let (Some(t), Some(m)) = (&mut self.timings, &reply.metrics) {
                t.record(m);
            }
            Ok(reply
                .result
                .unwrap_or_else(|| serde_json::Value::String("<undefined>".into())))
        })
        .await
        .unwrap_or_else(|_| {
            Err(OpError::new(
                "timeout",
                format!("{} took longer than {:?}", endpoint.path, endpoint.timeout),
            ))
        });
        self.message = buffer;
        if let Err(e) = &result {
            // After a transport failure the connection's state is unknown: start
            // afresh. A complete answer (an HTTP error status, bad JSON) leaves it usable.
            if matches!(e.class, "io" | "timeout" | "connect") {
                self.conn = None;
            }
        }
        result
    }
}

impl Connection {
    /// One request on the open connection (opened first if needed), its
    /// answer parsed.
    async fn exchange(&mut self, endpoint: &Endpoint, message: &[u8]) -> Result<Reply, OpError> {
        let response = self
            .connect()
            .await?
            .request(message)
            .await
            .map_err(|e| request_failed(endpoint, e))?;
        parse_reply(endpoint, response.status, response.body)
    }
}

fn request_failed(endpoint: &Endpoint, e: OpError) -> OpError {
    OpError::new(e.class, format!("request to {} failed: {e}", endpoint.url))
}

/// A complete answer: its decision and timers, or an error naming the status
/// or the invalid JSON.
fn parse_reply(endpoint: &Endpoint, status: u16, body: &[u8]) -> Result<Reply, OpError> {
    if !(200..300).contains(&status) {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(OpError::new(
            "http_status",
            format!("{} answered {status}: {text}", endpoint.path),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        OpError::new(
            "decode",
            format!("{} answered invalid JSON: {e}", endpoint.path),
        )
    })
}

impl Connection {
    async fn op(&mut self, op: u64) -> Result<Outcome, OpError> {
        let index = self.pick(op);
        let Some((_, canon)) = &self.cache else {
            return self
                .decide(index)
                .await
                .map(|v| drop(std::hint::black_box(v)))
                .map(|_| Outcome::Done);
        };
        let key = decision::key(&canon[index.min(canon.len() - 1)]);
        if let Some((handle, _)) = &mut self.cache {
            if let Some(d) = handle.get(key).await? {
                std::hint::black_box(d);
                return Ok(Outcome::Lookup { hit: true });
            }
        }
        let value = self.decide(index).await?;
        let bytes = serde_json::to_vec(&value)
            .map_err(|e| OpError::new("decode", format!("decision does not serialise: {e}")))?;
        if let Some((handle, _)) = &mut self.cache {
            handle.put(key, Bytes::from(bytes)).await?;
        }
        Ok(Outcome::Lookup { hit: false })
    }
}

impl AsyncWorker for Connection {
    fn input_of(&self, op: u64) -> Option<usize> {
        Some(self.pick(op))
    }

    fn call(&mut self, op: u64) -> Pin<Box<dyn Future<Output = Result<Outcome, OpError>> + '_>> {
        Box::pin(self.op(op))
    }

    /// Opens the decision cache's Redis connection before timing.
    fn ready(&mut self) -> Pin<Box<dyn Future<Output = Result<(), OpError>> + '_>> {
        Box::pin(async move {
            match &mut self.cache {
                Some((handle, _)) => DecisionCache::connect(handle).await,
                None => Ok(()),
            }
        })
    }

    /// Warm-up requests' server timings are dropped.
    fn measuring(&mut self) {
        if let Some(t) = &mut self.timings {
            t.eval.reset();
            t.handler.reset();
        }
    }

    fn samples(&mut self) -> Vec<(&'static str, hdrhistogram::Histogram<u64>)> {
        match self.timings.take() {
            Some(t) => [("server.eval", t.eval), ("server.handler", t.handler)]
                .into_iter()
                .filter(|(_, h)| !h.is_empty())
                .collect(),
            None => Vec::new(),
        }
    }
}
