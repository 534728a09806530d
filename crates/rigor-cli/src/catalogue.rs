//! `rigor metrics`: the metric catalogue as a table.

/// The metric catalogue as an aligned table (the guide's table in docs/scenarios.md, from the
/// same source), with how trials combine and what each metric is used for.
pub(crate) fn metrics_table() -> String {
    use rigor_scenario::metrics::{Across, Direction, Gate, Unit, METRICS};
    let rows: Vec<[String; 6]> = METRICS
        .iter()
        .map(|m| {
            let unit = match m.unit {
                Unit::Nanos => "duration",
                Unit::Bytes => "size",
                Unit::Fraction => "ratio",
                Unit::PerSecond => "rate",
                Unit::Count => "count",
            };
            let better = match m.direction {
                Direction::LowerIsBetter => "lower",
                Direction::HigherIsBetter => "higher",
            };
            let across = match m.across {
                Across::Pooled => "pooled",
                Across::Median => "median",
                Across::Max => "max",
            };
            let uses: Vec<&str> = [
                (m.stats, "stats"),
                (m.gate == Gate::Shift, "gated"),
                (m.gate == Gate::Exact, "gated-exact"),
                (m.compared, "compared"),
                (m.history, "history"),
            ]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
            let uses = if uses.is_empty() {
                "-".to_string()
            } else {
                uses.join(",")
            };
            [m.name, unit, better, across, &uses, m.description].map(str::to_string)
        })
        .collect();
    let header = ["metric", "unit", "better", "trials", "used for", "meaning"].map(str::to_string);
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].len())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let w: Vec<usize> = (0..5).map(width).collect();
    std::iter::once(header)
        .chain(rows)
        .map(|r| {
            format!(
                "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {:w4$}  {}\n",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3],
                w4 = w[4]
            )
        })
        .collect()
}
