//! Seeded impairments for any link: loss, duplication, reordering, bit-flip
//! corruption, delay and jitter.
//!
//! CONTRACT: [`Impaired`] applies its [`ImpairConfig`] to frames going out
//! (`send`), coming in (`recv`), or both (the default). Each direction draws
//! from its own ChaCha8 stream derived from one seed, so a run driven in
//! virtual time replays exactly; different seeds give different runs. Per
//! frame, in this order: lost with probability `loss`; otherwise duplicated
//! with probability `dup`; each copy gets one random bit flipped with
//! probability `corrupt`, is delayed by `delay` plus a uniform jitter in
//! `[-jitter, +jitter]` (never below zero; jitter alone can reorder), and
//! with probability `reorder` is held back until the next frame has been
//! released (or `gap` has passed with no next frame). Every decision is
//! counted in [`ImpairStats`]. Held frames are capped (`HELD_CAP`); beyond
//! it frames are dropped and counted as `overflow`.
//!
//! Spec strings (the CLI's `--impair`) parse with [`str::parse`]:
//! `loss=0.01,dup=0.01,reorder=0.05,corrupt=0.001,seed=7,delay=5ms,jitter=1ms,gap=10ms,dir=both`.
//! Probabilities accept `0.05` or `5%`; durations need a unit (`us`, `ms`, `s`).

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::str::FromStr;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sockstack_proto::{Duration, Instant, Medium};

use super::{earliest, Link, LinkStats, Waker};

/// Most frames held (delayed or reordered) per direction.
const HELD_CAP: usize = 65_536;
/// Most recycled buffers kept per direction.
const POOL_CAP: usize = 1024;

/// Which frames an [`Impaired`] link disturbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Frames the stack sends.
    Tx,
    /// Frames the stack receives.
    Rx,
    /// Both.
    #[default]
    Both,
}

/// What to do to frames. `Default` changes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpairConfig {
    /// Probability a frame is dropped.
    pub loss: f64,
    /// Probability a frame is sent twice.
    pub dup: f64,
    /// Probability a frame is held back behind the next one.
    pub reorder: f64,
    /// Probability one bit of a frame is flipped.
    pub corrupt: f64,
    /// Fixed extra delay.
    pub delay: Duration,
    /// Uniform jitter around `delay`.
    pub jitter: Duration,
    /// Longest a reordered frame waits for a successor.
    pub gap: Duration,
    pub seed: u64,
    pub direction: Direction,
}

impl Default for ImpairConfig {
    fn default() -> Self {
        ImpairConfig {
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            gap: Duration::from_millis(10),
            seed: 0,
            direction: Direction::Both,
        }
    }
}

impl ImpairConfig {
    /// Only loss, with `seed`.
    pub fn loss(p: f64, seed: u64) -> Self {
        ImpairConfig {
            loss: p,
            seed,
            ..ImpairConfig::default()
        }
    }
    fn applies_to_tx(&self) -> bool {
        matches!(self.direction, Direction::Tx | Direction::Both)
    }
    fn applies_to_rx(&self) -> bool {
        matches!(self.direction, Direction::Rx | Direction::Both)
    }
}

/// Why a spec string did not parse. Displays as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseImpairError {
    msg: String,
}

impl fmt::Display for ParseImpairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid impairment spec: {}", self.msg)
    }
}

impl std::error::Error for ParseImpairError {}

fn spec_err(msg: String) -> ParseImpairError {
    ParseImpairError { msg }
}

fn parse_prob(key: &str, v: &str) -> Result<f64, ParseImpairError> {
    let (num, scale) = match v.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (v, 1.0),
    };
    let p = num
        .trim()
        .parse::<f64>()
        .map_err(|_| spec_err(format!("{key}={v}: not a number")))?
        / scale;
    if !(0.0..=1.0).contains(&p) {
        return Err(spec_err(format!(
            "{key}={v}: probability must be between 0 and 1 (or 0% and 100%)"
        )));
    }
    Ok(p)
}

fn parse_duration(key: &str, v: &str) -> Result<Duration, ParseImpairError> {
    let v = v.trim();
    let (num, unit_micros) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        return Err(spec_err(format!(
            "{key}={v}: missing unit (use us, ms or s, e.g. {key}=5ms)"
        )));
    };
    let x: f64 = num
        .parse()
        .map_err(|_| spec_err(format!("{key}={v}: not a duration")))?;
    let micros = x * unit_micros;
    if !micros.is_finite() || !(0.0..=3.6e9).contains(&micros) {
        return Err(spec_err(format!(
            "{key}={v}: duration must be between 0 and 1 hour"
        )));
    }
    // Rounded, non-negative and below 3.6e9: fits in u64.
    Ok(Duration::from_micros(micros.round() as u64))
}

impl FromStr for ImpairConfig {
    type Err = ParseImpairError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let mut cfg = ImpairConfig::default();
        let spec = spec.trim();
        if spec.is_empty() || spec == "none" {
            return Ok(cfg);
        }
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(spec_err(format!("{item:?} is not key=value")));
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "loss" => cfg.loss = parse_prob(key, value)?,
                "dup" | "duplicate" => cfg.dup = parse_prob(key, value)?,
                "reorder" => cfg.reorder = parse_prob(key, value)?,
                "corrupt" => cfg.corrupt = parse_prob(key, value)?,
                "delay" => cfg.delay = parse_duration(key, value)?,
                "jitter" => cfg.jitter = parse_duration(key, value)?,
                "gap" => cfg.gap = parse_duration(key, value)?,
                "seed" => {
                    cfg.seed = value.parse().map_err(|_| {
                        spec_err(format!("seed={value}: not an unsigned 64-bit integer"))
                    })?
                }
                "dir" | "direction" => {
                    cfg.direction = match value {
                        "tx" | "out" => Direction::Tx,
                        "rx" | "in" => Direction::Rx,
                        "both" => Direction::Both,
                        _ => {
                            return Err(spec_err(format!(
                                "{key}={value}: expected tx, rx or both"
                            )))
                        }
                    }
                }
                _ => {
                    return Err(spec_err(format!(
                        "unknown key {key:?} (expected loss, dup, reorder, corrupt, delay, jitter, gap, seed, dir)"
                    )))
                }
            }
        }
        Ok(cfg)
    }
}

impl fmt::Display for ImpairConfig {
    /// The spec string that parses back to this config.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match self.direction {
            Direction::Tx => "tx",
            Direction::Rx => "rx",
            Direction::Both => "both",
        };
        write!(
            f,
            "loss={},dup={},reorder={},corrupt={},delay={}us,jitter={}us,gap={}us,seed={},dir={}",
            self.loss,
            self.dup,
            self.reorder,
            self.corrupt,
            self.delay.total_micros(),
            self.jitter.total_micros(),
            self.gap.total_micros(),
            self.seed,
            dir
        )
    }
}

/// What an impairment did, per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Frames offered to the impairment.
    pub frames: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
    /// Copies given a non-zero delay.
    pub delayed: u64,
    /// Frames dropped because too many were held.
    pub overflow: u64,
}

struct Held {
    release_at: Instant,
    seq: u64,
    data: Vec<u8>,
}

/// One direction's state: its RNG, its held frames and counters.
struct Lane {
    rng: ChaCha8Rng,
    /// Frames waiting for `release_at`, sorted by `(release_at, seq)`.
    pending: VecDeque<Held>,
    /// The frame held back for reordering, released after the next one.
    reorder_slot: Option<Held>,
    pool: Vec<Vec<u8>>,
    next_seq: u64,
    stats: ImpairStats,
}

impl Lane {
    fn new(seed: u64, stream: u64) -> Lane {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Lane {
            rng,
            pending: VecDeque::new(),
            reorder_slot: None,
            pool: Vec::new(),
            next_seq: 0,
            stats: ImpairStats::default(),
        }
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        // 53 random bits scaled into [0, 1): exact in f64.
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    fn held_count(&self) -> usize {
        self.pending.len() + usize::from(self.reorder_slot.is_some())
    }

    fn take_buf(&mut self, frame: &[u8]) -> Vec<u8> {
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(frame);
        buf
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < POOL_CAP {
            self.pool.push(buf);
        }
    }

    fn schedule(&mut self, held: Held) {
        let key = (held.release_at, held.seq);
        let pos = self
            .pending
            .iter()
            .rposition(|h| (h.release_at, h.seq) <= key)
            .map_or(0, |i| i + 1);
        self.pending.insert(pos, held);
    }

    /// Run one frame through the impairments, scheduling what survives.
    fn offer(&mut self, cfg: &ImpairConfig, now: Instant, frame: &[u8]) {
        self.stats.frames += 1;
        if self.chance(cfg.loss) {
            self.stats.lost += 1;
            return;
        }
        let copies = if self.chance(cfg.dup) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            if self.held_count() >= HELD_CAP {
                self.stats.overflow += 1;
                continue;
            }
            let mut data = self.take_buf(frame);
            if !data.is_empty() && self.chance(cfg.corrupt) {
                let bits = data.len() as u64 * 8;
                let bit = self.rng.next_u64() % bits;
                // bit / 8 < data.len() by construction.
                if let Some(b) = data.get_mut((bit / 8) as usize) {
                    *b ^= 1 << (bit % 8);
                }
                self.stats.corrupted += 1;
            }
            let delay = self.draw_delay(cfg);
            if delay > Duration::ZERO {
                self.stats.delayed += 1;
            }
            let release_at = now + delay;
            let seq = self.next_seq;
            self.next_seq += 1;
            let held = Held {
                release_at,
                seq,
                data,
            };
            if self.reorder_slot.is_none() && self.chance(cfg.reorder) {
                self.stats.reordered += 1;
                self.reorder_slot = Some(Held {
                    release_at: release_at + cfg.gap,
                    ..held
                });
                continue;
            }
            self.schedule(held);
            // The held-back frame follows the one just scheduled.
            if let Some(mut late) = self.reorder_slot.take() {
                late.release_at = release_at;
                late.seq = self.next_seq;
                self.next_seq += 1;
                self.schedule(late);
            }
        }
    }

    fn draw_delay(&mut self, cfg: &ImpairConfig) -> Duration {
        if cfg.jitter == Duration::ZERO {
            return cfg.delay;
        }
        let span = cfg.jitter.total_micros();
        // Uniform in [0, 2*span]; then shift by -span around `delay`.
        let offset = self.rng.next_u64() % (span.saturating_mul(2).saturating_add(1));
        let micros = cfg.delay.total_micros().saturating_add(offset);
        Duration::from_micros(micros.saturating_sub(span))
    }

    /// Move an expired reorder hold into the schedule.
    fn expire_slot(&mut self, now: Instant) {
        if self
            .reorder_slot
            .as_ref()
            .is_some_and(|h| h.release_at <= now)
        {
            if let Some(h) = self.reorder_slot.take() {
                self.schedule(h);
            }
        }
    }

    /// The next frame due at `now`, if any.
    fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.expire_slot(now);
        if self.pending.front().is_some_and(|h| h.release_at <= now) {
            return self.pending.pop_front().map(|h| h.data);
        }
        None
    }

    fn next_event(&self) -> Option<Instant> {
        earliest(
            self.pending.front().map(|h| h.release_at),
            self.reorder_slot.as_ref().map(|h| h.release_at),
        )
    }
}

/// A link that disturbs frames per an [`ImpairConfig`]. See the module doc.
pub struct Impaired<L: Link> {
    inner: L,
    cfg: ImpairConfig,
    tx: Lane,
    rx: Lane,
    scratch: Vec<u8>,
}

impl<L: Link> Impaired<L> {
    pub fn new(inner: L, cfg: ImpairConfig) -> Self {
        let scratch = vec![0; inner.frame_capacity()];
        Impaired {
            tx: Lane::new(cfg.seed, 0),
            rx: Lane::new(cfg.seed, 1),
            inner,
            cfg,
            scratch,
        }
    }
    pub fn config(&self) -> &ImpairConfig {
        &self.cfg
    }
    /// What was done to frames sent through this link.
    pub fn tx_stats(&self) -> ImpairStats {
        self.tx.stats
    }
    /// What was done to frames received through this link.
    pub fn rx_stats(&self) -> ImpairStats {
        self.rx.stats
    }
    pub fn inner(&self) -> &L {
        &self.inner
    }
    pub fn inner_mut(&mut self) -> &mut L {
        &mut self.inner
    }
    pub fn into_inner(self) -> L {
        self.inner
    }

    fn release_tx(&mut self, now: Instant) -> io::Result<()> {
        while let Some(data) = self.tx.pop_due(now) {
            let res = self.inner.send(now, &data);
            self.tx.recycle(data);
            res?;
        }
        Ok(())
    }
}

impl<L: Link> Link for Impaired<L> {
    fn medium(&self) -> Medium {
        self.inner.medium()
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn frame_capacity(&self) -> usize {
        self.inner.frame_capacity()
    }

    fn send(&mut self, now: Instant, frame: &[u8]) -> io::Result<()> {
        if !self.cfg.applies_to_tx() {
            return self.inner.send(now, frame);
        }
        self.tx.offer(&self.cfg, now, frame);
        self.release_tx(now)
    }

    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if !self.cfg.applies_to_rx() {
            return self.inner.recv(now, buf);
        }
        while let Some(n) = self.inner.recv(now, &mut self.scratch)? {
            let frame = self.scratch.get(..n).unwrap_or_default();
            self.rx.offer(&self.cfg, now, frame);
        }
        let Some(data) = self.rx.pop_due(now) else {
            return Ok(None);
        };
        let n = data.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), data.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.rx.recycle(data);
        Ok(Some(n))
    }

    fn flush(&mut self, now: Instant) -> io::Result<()> {
        self.release_tx(now)?;
        self.inner.flush(now)
    }

    fn next_event(&self) -> Option<Instant> {
        earliest(
            self.inner.next_event(),
            earliest(self.tx.next_event(), self.rx.next_event()),
        )
    }

    fn raw_fd(&self) -> Option<RawFd> {
        self.inner.raw_fd()
    }

    fn set_waker(&mut self, waker: Waker) {
        self.inner.set_waker(waker);
    }

    fn stats(&self) -> LinkStats {
        self.inner.stats()
    }

    fn capabilities(&self) -> super::LinkCaps {
        self.inner.capabilities()
    }
}
