//! Go servers' Prometheus `/metrics` (OPA's): the request count and Go heap
//! counters rigor reads before and after each trial.

/// What a server's Prometheus `/metrics` says of its requests and Go heap:
/// `requests` (the Data API's, `http_request_duration_seconds_count` with
/// `handler="v1/data"`), `alloc_bytes`, `mallocs`, `gc_cycles`, `heap_inuse`.
pub fn go_server_counters(text: &str) -> Option<std::collections::BTreeMap<&'static str, f64>> {
    let mut out = std::collections::BTreeMap::new();
    let mut requests = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let key = match name {
            "go_memstats_alloc_bytes_total" => "alloc_bytes",
            "go_memstats_mallocs_total" => "mallocs",
            "go_gc_duration_seconds_count" => "gc_cycles",
            "go_memstats_heap_inuse_bytes" => "heap_inuse",
            n if n.starts_with("http_request_duration_seconds_count{")
                && n.contains("handler=\"v1/data\"") =>
            {
                *requests.get_or_insert(0.0) += value;
                continue;
            }
            _ => continue,
        };
        out.insert(key, value);
    }
    if out.is_empty() {
        return None;
    }
    // OPA's labelled counter appears with the first decision it serves:
    // none yet is none counted.
    out.insert("requests", requests.unwrap_or(0.0));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_server_counters_are_read_from_prometheus_text() {
        let text = "# HELP x\ngo_memstats_alloc_bytes_total 8.12624e+06\ngo_memstats_mallocs_total 102242\n\
            go_gc_duration_seconds_count 3\ngo_memstats_heap_inuse_bytes 6.127616e+06\n\
            http_request_duration_seconds_count{code=\"200\",handler=\"v1/data\",method=\"post\"} 40\n\
            http_request_duration_seconds_count{code=\"400\",handler=\"v1/data\",method=\"post\"} 2\n\
            http_request_duration_seconds_count{code=\"200\",handler=\"health\",method=\"get\"} 9\n";
        let c = go_server_counters(text).expect("counters");
        assert_eq!(c["requests"], 42.0);
        assert_eq!(c["alloc_bytes"], 8_126_240.0);
        assert_eq!(c["mallocs"], 102_242.0);
        assert_eq!(c["gc_cycles"], 3.0);
        assert_eq!(c["heap_inuse"], 6_127_616.0);
        // Before OPA's first decision its request counter has no series yet.
        assert_eq!(
            go_server_counters("go_memstats_mallocs_total 1\n").unwrap()["requests"],
            0.0
        );
        assert!(go_server_counters("process_cpu_seconds_total 1\n").is_none());
    }
}
