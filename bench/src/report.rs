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
            note: String::new(),
        }
    }

    /// > 1 means sockstack is better.
    pub fn ratio(&self) -> Option<f64> {
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

/// Median of the values (NaN when empty).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied()
}
