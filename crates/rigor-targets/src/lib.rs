//! rigor's target kinds. Each kind is one module with one
//! [`TargetFactory`]; [`registry`] lists them all. Adding a kind is one file
//! here, one line in [`registry`] and one variant in the scenario model.

use rigor_engine::target::{Registry, TargetFactory};

pub mod calibration;
pub mod decision;
mod http1;
pub mod keyspace;
pub mod moka;
pub mod opa;
pub mod opa_bench;
pub mod opa_http;
pub mod process;
pub mod redis;
pub mod redis_server;
pub mod regorus;
mod resp;
pub mod serve;

/// Every kind built into rigor.
pub fn registry() -> Registry {
    let factories: Vec<Box<dyn TargetFactory>> = vec![
        Box::new(regorus::Factory),
        Box::new(calibration::NoopFactory),
        Box::new(calibration::SpinFactory),
        Box::new(opa_http::Factory),
        Box::new(opa_bench::Factory),
        Box::new(moka::Factory),
        Box::new(redis::Factory),
    ];
    Registry::new(factories)
}
