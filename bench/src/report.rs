//! Result rows: the JSON line format and the table.

/// One comparison: sockstack against one peer on one metric.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub sockstack: Option<f64>,
    pub peer: &'static str,
    pub peer_value: Option<f64>,
    /// The median of per-run ratios when both stacks ran the same runs
    /// alternately (`paired`); `ratio` then reports it instead of the
    /// quotient of the two medians, which on a noisy machine pairs a fast
    /// run of one stack with a slow run of the other.
    pub paired: Option<f64>,
    /// Why a value is missing, or a remark ("stopped: ...").
    pub note: String,
}

impl Row {
    pub fn new(
        scenario: impl Into<String>,
        unit: &'static str,
        hib: bool,
        peer: &'static str,
    ) -> Row {
        Row {
            scenario: scenario.into(),
            unit,
            higher_is_better: hib,
            sockstack: None,
            peer,
            peer_value: None,
            paired: None,
            note: String::new(),
        }
    }

    /// > 1 means sockstack is better.
    pub fn ratio(&self) -> Option<f64> {
        if self.paired.is_some() {
            return self.paired;
        }
        let (s, p) = (self.sockstack?, self.peer_value?);
        let r = if self.higher_is_better { s / p } else { p / s };
        r.is_finite().then_some(r)
    }

    pub fn json(&self) -> String {
        let num = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{}", round(v)));
        let mut s = format!(
            "{{\"scenario\":\"{}\",\"unit\":\"{}\",\"higher_is_better\":{},\"sockstack\":{},\"peer\":\"{}\",\"peer_value\":{},\"ratio\":{}",
            self.scenario,
            self.unit,
            self.higher_is_better,
            num(self.sockstack),
            self.peer,
            num(self.peer_value),
            num(self.ratio())
        );
        if !self.note.is_empty() {
            s.push_str(&format!(",\"note\":\"{}\"", self.note.replace('"', "'")));
        }
        s.push('}');
        s
    }
}

/// Four significant digits.
fn round(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let mag = v.abs().log10().floor() as i32;
    let k = 10f64.powi(3 - mag);
    (v * k).round() / k
}

fn cell(v: Option<f64>) -> String {
    match v {
        None => "-".to_string(),
        Some(v) => format!("{}", round(v)),
    }
}

/// A plain-text (also Markdown) table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | unit | sockstack | peer | peer value | ratio (>1: sockstack better) | note |\n|---|---|---:|---|---:|---:|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.scenario,
            r.unit,
            cell(r.sockstack),
            r.peer,
            cell(r.peer_value),
            r.ratio().map_or("-".to_string(), |v| format!("{v:.2}")),
            r.note
        ));
    }
    out
}

/// Set the row's two medians from the runs of each stack, and its ratio
/// from the runs taken in pairs (run `i` of sockstack, then run `i` of the
/// peer) when every run of both succeeded.
pub fn set_runs(row: &mut Row, ours: Vec<f64>, peer: Vec<f64>) {
    if !ours.is_empty() && ours.len() == peer.len() {
        let hib = row.higher_is_better;
        let per_run = ours
            .iter()
            .zip(&peer)
            .map(|(&s, &p)| if hib { s / p } else { p / s })
            .filter(|r| r.is_finite())
            .collect::<Vec<_>>();
        if per_run.len() == ours.len() {
            row.paired = median(per_run);
        }
    }
    row.sockstack = median(ours);
    row.peer_value = median(peer);
}

/// Median of the values (None when empty).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_ratio_is_the_median_of_per_run_ratios() {
        let mut r = Row::new("x", "MB/s", true, "smoltcp");
        // Medians 20 and 20 (quotient 1.0); per-run ratios 2, 0.5, 1.5.
        set_runs(&mut r, vec![20.0, 10.0, 30.0], vec![10.0, 20.0, 20.0]);
        assert_eq!((r.sockstack, r.peer_value), (Some(20.0), Some(20.0)));
        assert_eq!(r.ratio(), Some(1.5));
        // Lower is better: peer / ours.
        let mut r = Row::new("y", "us", false, "smoltcp");
        set_runs(&mut r, vec![1.0, 2.0, 4.0], vec![2.0, 2.0, 2.0]);
        assert_eq!(r.ratio(), Some(1.0));
        // Unequal runs (one failed): the quotient of the medians.
        let mut r = Row::new("z", "conn/s", true, "smoltcp");
        set_runs(&mut r, vec![30.0, 10.0], vec![10.0]);
        assert_eq!(r.paired, None);
        assert_eq!(r.ratio(), Some(3.0));
    }
}
