//! Summarise access logs (status classes, latency percentiles, slowest endpoints).
//! Input lines look like: `2024-06-01T10:15:02Z GET /api/items 200 35ms`

use std::collections::HashMap;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub latency_ms: u32,
}

#[derive(Debug, PartialEq)]
pub struct LineError(pub String);

impl FromStr for Request {
    type Err = LineError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let mut parts = line.split_whitespace();
        let _timestamp = parts.next().ok_or_else(|| LineError("empty line".into()))?;
        let mut field = |name: &str| {
            parts
                .next()
                .ok_or_else(|| LineError(format!("missing {name}")))
        };
        let method = field("method")?.to_string();
        let path = field("path")?.to_string();
        let status = field("status")?
            .parse()
            .map_err(|_| LineError("status is not a number".into()))?;
        let latency_ms = field("latency")?
            .strip_suffix("ms")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| LineError("latency must look like 12ms".into()))?;
        Ok(Request { method, path, status, latency_ms })
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub total: usize,
    pub skipped: usize,
    pub by_class: [usize; 5], // 1xx..5xx
    pub p50_ms: u32,
    pub p95_ms: u32,
    pub slowest: Vec<(String, u32)>,
}

/// Nearest-rank percentile on a sorted slice.
fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summarise<'a>(lines: impl IntoIterator<Item = &'a str>, top_n: usize) -> Summary {
    let mut summary = Summary::default();
    let requests: Vec<Request> = lines
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| match l.parse::<Request>() {
            Ok(r) => Some(r),
            Err(_) => {
                summary.skipped += 1;
                None
            }
        })
        .collect();

    summary.total = requests.len();
    for r in &requests {
        let class = (r.status / 100) as usize;
        if (1..=5).contains(&class) {
            summary.by_class[class - 1] += 1;
        }
    }

    let mut latencies: Vec<u32> = requests.iter().map(|r| r.latency_ms).collect();
    latencies.sort_unstable();
    summary.p50_ms = percentile(&latencies, 50.0);
    summary.p95_ms = percentile(&latencies, 95.0);

    // Worst latency seen per "METHOD path".
    let mut worst: HashMap<String, u32> = HashMap::new();
    for r in &requests {
        let key = format!("{} {}", r.method, r.path);
        let slot = worst.entry(key).or_insert(0);
        *slot = (*slot).max(r.latency_ms);
    }
    let mut ranked: Vec<(String, u32)> = worst.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(top_n);
    summary.slowest = ranked;

    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
2024-06-01T10:00:00Z GET /api/items 200 35ms
2024-06-01T10:00:01Z POST /api/orders 201 120ms
2024-06-01T10:00:02Z GET /api/items 500 900ms
this line is garbage
2024-06-01T10:00:03Z GET /health 200 2ms
";

    #[test]
    fn parses_a_line() {
        let r: Request = "t GET /x 404 7ms".parse().unwrap();
        assert_eq!((r.status, r.latency_ms), (404, 7));
        assert_eq!(percentile(&[], 99.0), 0);
    }

    #[test]
    fn summarises_log() {
        let s = summarise(LOG.lines(), 2);
        assert_eq!(s.total, 4);
        assert_eq!(s.skipped, 1);
        assert_eq!(s.by_class, [0, 3, 0, 0, 1]);
        assert_eq!(s.p50_ms, 35);
        assert_eq!(s.p95_ms, 900);
        assert_eq!(s.slowest[0], ("GET /api/items".to_string(), 900));
        assert_eq!(s.slowest.len(), 2);
    }
}
