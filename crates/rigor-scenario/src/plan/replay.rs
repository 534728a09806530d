//! `rate: recorded`: the arrival times a replayed decision log gives the
//! open-loop schedule.

use super::*;

impl Builder<'_> {
    /// `rate: recorded`: each input's start, in ns from the first, at
    /// `speed`; every input must be a timestamped decision-log event, in
    /// time order.
    pub(super) fn arrivals(
        &self,
        w: &Spanned<crate::model::Workload>,
        inputs: &Inputs,
        speed: f64,
    ) -> Result<Vec<u64>, Diagnostic> {
        let help = "`rate: recorded` replays inputs from `decision_log:` entries at their logged times; use a fixed `rate` for other inputs";
        if inputs.is_empty() {
            return Err(self
                .error(w, "`rate: recorded` has no inputs to replay")
                .with_help(help));
        }
        let mut out = Vec::with_capacity(inputs.len());
        let mut first = None;
        let mut last = i64::MIN;
        for i in 0..inputs.len() {
            let Some(t) = inputs.time(i) else {
                return Err(self
                    .error(
                        w,
                        format!(
                            "`rate: recorded`: input {} has no logged time",
                            inputs.origin(i)
                        ),
                    )
                    .with_help(help));
            };
            if t < last {
                return Err(self
                    .error(
                        w,
                        format!(
                            "`rate: recorded`: input {} was logged before the one before it",
                            inputs.origin(i)
                        ),
                    )
                    .with_help(
                        "replay one log at a time, or logs whose events are in time order",
                    ));
            }
            last = t;
            let t0 = *first.get_or_insert(t);
            out.push(((t - t0) as f64 / speed) as u64);
        }
        Ok(out)
    }
}
