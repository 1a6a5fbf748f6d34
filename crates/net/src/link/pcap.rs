//! Packet capture in classic pcap format, and a [`Captured`] link wrapper.
//!
//! CONTRACT: [`PcapWriter`] writes the classic libpcap format (magic
//! 0xa1b2c3d4 in native byte order, version 2.4, microsecond timestamps,
//! snaplen 262144, as tcpdump, so a 64 KiB offloaded segment fits) with link type Ethernet (1) or raw IPv4 (101). The header
//! is written on creation; records are buffered and written out by
//! [`PcapWriter::flush`], which [`Captured`] calls from [`Link::flush`], i.e.
//! once per driver iteration. So a crash loses at most the frames of the
//! iteration in progress, and the file is always a valid capture up to its
//! last complete record. Frames longer than the snaplen are truncated with
//! their original length recorded, as libpcap does.
//!
//! Frames sent with a partial checksum (`Link::send_partial`) are recorded
//! with the checksum finished, as they will appear on the wire.
//!
//! Timestamps are the driver's `now` plus an offset: zero for virtual time
//! (captures start at 1970-01-01), or the Unix time of the runtime's clock
//! epoch for real hosts (see [`PcapWriter::with_time_offset`]).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::RawFd;
use std::path::Path;

use sockstack_proto::{Duration, Instant, Medium, PartialChecksum};

use super::{Link, LinkStats, Waker};

/// Bytes kept of each frame.
pub const SNAPLEN: u32 = 262_144;

/// The pcap link type of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_RAW (101): bare IPv4/IPv6 packets.
    Raw,
}

impl LinkType {
    pub const fn code(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
        }
    }
    pub const fn for_medium(medium: Medium) -> LinkType {
        match medium {
            Medium::Ethernet => LinkType::Ethernet,
            Medium::Ip => LinkType::Raw,
        }
    }
}

/// Writes pcap records to any `Write`.
pub struct PcapWriter<W: Write = BufWriter<File>> {
    out: W,
    offset: Duration,
    records: u64,
}

impl PcapWriter<BufWriter<File>> {
    /// Create (truncate) `path` and write the file header.
    pub fn create(path: impl AsRef<Path>, link_type: LinkType) -> io::Result<Self> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("creating pcap file {}: {e}", path.display()),
            )
        })?;
        PcapWriter::new(BufWriter::with_capacity(64 * 1024, file), link_type)
    }
}

impl<W: Write> PcapWriter<W> {
    /// Write the file header to `out` (flushed at once, so even an empty
    /// capture is a valid file).
    pub fn new(mut out: W, link_type: LinkType) -> io::Result<Self> {
        let mut header = [0u8; 24];
        let fields: [&[u8]; 7] = [
            &0xa1b2_c3d4u32.to_ne_bytes(),
            &2u16.to_ne_bytes(),
            &4u16.to_ne_bytes(),
            &0i32.to_ne_bytes(), // thiszone
            &0u32.to_ne_bytes(), // sigfigs
            &SNAPLEN.to_ne_bytes(),
            &link_type.code().to_ne_bytes(),
        ];
        let mut at = 0;
        for f in fields {
            if let Some(dst) = header.get_mut(at..at + f.len()) {
                dst.copy_from_slice(f);
            }
            at += f.len();
        }
        out.write_all(&header)?;
        out.flush()?;
        Ok(PcapWriter {
            out,
            offset: Duration::ZERO,
            records: 0,
        })
    }

    /// Add `offset` to every timestamp (e.g. Unix time of the clock epoch).
    pub fn with_time_offset(mut self, offset: Duration) -> Self {
        self.offset = offset;
        self
    }

    /// Append one record (buffered until [`PcapWriter::flush`]).
    pub fn write_frame(&mut self, now: Instant, frame: &[u8]) -> io::Result<()> {
        let t = (now + self.offset).total_micros();
        let secs = u32::try_from(t / 1_000_000).unwrap_or(u32::MAX);
        // Below 1e6, fits in u32.
        let usecs = (t % 1_000_000) as u32;
        let orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let incl_len = orig_len.min(SNAPLEN);
        let mut rec = [0u8; 16];
        for (i, v) in [secs, usecs, incl_len, orig_len].into_iter().enumerate() {
            if let Some(dst) = rec.get_mut(i * 4..i * 4 + 4) {
                dst.copy_from_slice(&v.to_ne_bytes());
            }
        }
        self.out.write_all(&rec)?;
        let kept = frame.get(..incl_len as usize).unwrap_or(frame);
        self.out.write_all(kept)?;
        self.records += 1;
        Ok(())
    }

    /// Push buffered records to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flush and return the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A link whose frames, both directions, are also written to a pcap.
/// Capture errors (disk full...) are logged once and stop the capture; the
/// link keeps working. Dropping it flushes the file (`BufWriter`'s drop).
pub struct Captured<L: Link, W: Write = BufWriter<File>> {
    inner: L,
    writer: Option<PcapWriter<W>>,
    /// Where a partial-checksum frame is finished for the capture.
    scratch: Vec<u8>,
}

impl<L: Link> Captured<L> {
    /// Capture `inner` into a new file at `path`, link type from its medium.
    pub fn create(inner: L, path: impl AsRef<Path>) -> io::Result<Self> {
        let writer = PcapWriter::create(path, LinkType::for_medium(inner.medium()))?;
        Ok(Captured::new(inner, writer))
    }

    /// Like [`Captured::create`], with wall-clock timestamps for a link driven
    /// by a real-clock host on `clock`.
    pub fn create_wall_clock(
        inner: L,
        path: impl AsRef<Path>,
        clock: &crate::runtime::RealClock,
    ) -> io::Result<Self> {
        let writer = PcapWriter::create(path, LinkType::for_medium(inner.medium()))?
            .with_time_offset(clock.unix_offset());
        Ok(Captured::new(inner, writer))
    }
}

impl<L: Link, W: Write> Captured<L, W> {
    pub fn new(inner: L, writer: PcapWriter<W>) -> Self {
        Captured {
            inner,
            writer: Some(writer),
            scratch: Vec::new(),
        }
    }
    pub fn inner(&self) -> &L {
        &self.inner
    }
    pub fn inner_mut(&mut self) -> &mut L {
        &mut self.inner
    }
    /// Records written so far (0 once the capture failed).
    pub fn records(&self) -> u64 {
        self.writer.as_ref().map_or(0, PcapWriter::records)
    }
    /// Flush the capture and give back both parts.
    pub fn finish(mut self) -> io::Result<(L, Option<W>)> {
        let w = match self.writer.take() {
            Some(w) => Some(w.into_inner()?),
            None => None,
        };
        Ok((self.inner, w))
    }

    fn record(&mut self, now: Instant, frame: &[u8]) {
        if let Some(w) = &mut self.writer {
            if let Err(e) = w.write_frame(now, frame) {
                tracing::warn!("pcap capture stopped: {e}");
                self.writer = None;
            }
        }
    }
}

impl<L: Link, W: Write + Send> Link for Captured<L, W> {
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
        self.record(now, frame);
        self.inner.send(now, frame)
    }
    fn send_partial(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        csum: PartialChecksum,
    ) -> io::Result<()> {
        if !self.inner.capabilities().tx_checksum {
            // The inner link finishes it in software anyway: once, here.
            csum.complete(frame);
            self.record(now, frame);
            return self.inner.send(now, frame);
        }
        // The capture shows the frame as the device will send it, with the
        // checksum finished (unlike Linux tcpdump on the sending host, whose
        // copy of a CHECKSUM_PARTIAL packet reads as "incorrect"); the frame
        // itself goes on partial. This costs a copy and a sum per frame,
        // only while capturing.
        if self.writer.is_some() {
            self.scratch.clear();
            self.scratch.extend_from_slice(frame);
            csum.complete(&mut self.scratch);
            let copy = std::mem::take(&mut self.scratch);
            self.record(now, &copy);
            self.scratch = copy;
        }
        self.inner.send_partial(now, frame, csum)
    }
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        Ok(self.recv_info(now, buf)?.map(|(n, _)| n))
    }
    fn recv_info(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> io::Result<Option<(usize, super::RxInfo)>> {
        let got = self.inner.recv_info(now, buf)?;
        if let Some((n, _)) = got {
            let frame = buf.get(..n).unwrap_or_default();
            self.record(now, frame);
        }
        Ok(got)
    }
    fn flush(&mut self, now: Instant) -> io::Result<()> {
        if let Some(w) = &mut self.writer {
            if let Err(e) = w.flush() {
                tracing::warn!("pcap capture stopped: {e}");
                self.writer = None;
            }
        }
        self.inner.flush(now)
    }
    fn next_event(&self) -> Option<Instant> {
        self.inner.next_event()
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
