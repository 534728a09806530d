//! rigor's target kinds, one module each, behind one typed seam.
//!
//! Each kind implements [`Kind`] for its own spec type (from the scenario
//! model), and [`Kinds`] maps a planned target to it in one exhaustive
//! match: adding a kind is its spec struct and `TargetSpec` variant, its
//! `KindSpec` arms in the scenario crate, its file here and its arm in
//! `dispatch`, all checked by the compiler (no kind is looked up by name).

use rigor_engine::target::{Target, TargetError};
use rigor_scenario::model::TargetSpec;
use rigor_scenario::plan::{Plan, TargetPlan};

pub mod calibration;
pub mod control;
pub mod decision;
mod http1;
pub mod keyspace;
pub mod moka;
pub mod opa;
pub mod opa_bench;
pub mod opa_http;
pub mod process;
pub mod profile;
pub mod prometheus;
pub mod redis;
pub mod redis_server;
pub mod regorus;
mod resp;
pub mod serve;

/// One kind's constructors, typed by its spec.
pub trait Kind {
    /// The kind's own part of the scenario (`RegorusSpec`, ...).
    type Spec;

    /// Builds the target, measuring setup costs.
    fn build(
        spec: &Self::Spec,
        target: &TargetPlan,
        plan: &Plan,
    ) -> Result<Box<dyn Target>, TargetError>;

    /// Checks the configuration without side effects on the outside world
    /// (`rigor validate`): by default a full build; kinds that talk to
    /// servers check what they can offline.
    fn check(spec: &Self::Spec, target: &TargetPlan, plan: &Plan) -> Result<(), TargetError> {
        Self::build(spec, target, plan).map(|_| ())
    }

    /// A target that makes this target's decisions without any server (an
    /// embedded policy without its decision cache), for `rigor validate` to
    /// evaluate every input. `None` for kinds that need a server.
    fn offline_decider(
        spec: &Self::Spec,
        target: &TargetPlan,
        plan: &Plan,
    ) -> Result<Option<Box<dyn Target>>, TargetError> {
        let _ = (spec, target, plan);
        Ok(None)
    }
}

/// Every kind built into rigor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kinds;

/// Every kind built into rigor.
pub fn registry() -> Kinds {
    Kinds
}

/// Something done to a planned target through its kind's typed [`Kind`].
trait Job {
    type Out;
    fn run<K: Kind>(
        spec: &K::Spec,
        target: &TargetPlan,
        plan: &Plan,
    ) -> Result<Self::Out, TargetError>;
}

struct Build;
impl Job for Build {
    type Out = Box<dyn Target>;
    fn run<K: Kind>(
        spec: &K::Spec,
        target: &TargetPlan,
        plan: &Plan,
    ) -> Result<Self::Out, TargetError> {
        K::build(spec, target, plan)
    }
}

struct Check;
impl Job for Check {
    type Out = ();
    fn run<K: Kind>(spec: &K::Spec, target: &TargetPlan, plan: &Plan) -> Result<(), TargetError> {
        K::check(spec, target, plan)
    }
}

struct Decider;
impl Job for Decider {
    type Out = Option<Box<dyn Target>>;
    fn run<K: Kind>(
        spec: &K::Spec,
        target: &TargetPlan,
        plan: &Plan,
    ) -> Result<Self::Out, TargetError> {
        K::offline_decider(spec, target, plan)
    }
}

/// The one match from a planned target to its kind.
fn dispatch<J: Job>(target: &TargetPlan, plan: &Plan) -> Result<J::Out, TargetError> {
    let (t, p) = (target, plan);
    let done = match &target.spec {
        TargetSpec::Regorus(s) => J::run::<regorus::Factory>(s, t, p),
        TargetSpec::Noop(s) => J::run::<calibration::NoopFactory>(s, t, p),
        TargetSpec::Spin(s) => J::run::<calibration::SpinFactory>(s, t, p),
        TargetSpec::Timed(s) => J::run::<calibration::TimedFactory>(s, t, p),
        TargetSpec::Leak(s) => J::run::<calibration::LeakFactory>(s, t, p),
        TargetSpec::OpaHttp(s) => J::run::<opa_http::Factory>(s, t, p),
        TargetSpec::OpaBench(s) => J::run::<opa_bench::Factory>(s, t, p),
        TargetSpec::Moka(s) => J::run::<moka::Factory>(s, t, p),
        TargetSpec::Redis(s) => J::run::<redis::Factory>(s, t, p),
    };
    // Every error names its target.
    done.map_err(|e| match e {
        TargetError::Invalid(m) => TargetError::Invalid(format!("target `{}`: {m}", target.id())),
        TargetError::Failed(m) => TargetError::Failed(format!("target `{}`: {m}", target.id())),
    })
}

impl Kinds {
    /// Builds one planned target.
    pub fn build(&self, target: &TargetPlan, plan: &Plan) -> Result<Box<dyn Target>, TargetError> {
        dispatch::<Build>(target, plan)
    }

    /// Checks one planned target offline (see [`Kind::check`]).
    pub fn check(&self, target: &TargetPlan, plan: &Plan) -> Result<(), TargetError> {
        dispatch::<Check>(target, plan)
    }

    /// The offline decider of one planned target (see [`Kind::offline_decider`]).
    pub fn offline_decider(
        &self,
        target: &TargetPlan,
        plan: &Plan,
    ) -> Result<Option<Box<dyn Target>>, TargetError> {
        dispatch::<Decider>(target, plan)
    }
}
