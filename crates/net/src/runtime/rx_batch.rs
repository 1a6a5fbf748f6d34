//! A runtime's receive batch: the frames one poll of the link returned,
//! handed to the stack together (`Stack::handle_frames`, which merges runs
//! of in-order TCP data: software GRO), as a NIC driver's NAPI poll does.
//!
//! CONTRACT: frames reach the stack in the order the link returned them.
//! A frame the link vouches for (`RxInfo::checksum_verified`) goes in on
//! its own through `handle_frame_verified`, after the frames before it.
//! At most `RX_BATCH` frames wait; their buffers are kept for the next
//! batch (each as long as the longest frame it held).

use sockstack_proto::{Instant, Stack};

use crate::link::RxInfo;

/// Most frames held before they are handed over.
pub(crate) const RX_BATCH: usize = 64;

#[derive(Default)]
struct RxFrame {
    buf: Vec<u8>,
    len: usize,
}

impl AsRef<[u8]> for RxFrame {
    fn as_ref(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

#[derive(Default)]
pub(crate) struct RxBatch {
    frames: Vec<RxFrame>,
    n: usize,
}

impl RxBatch {
    /// Take one received frame (copied: the link's buffer is reused).
    pub(crate) fn push(&mut self, stack: &mut Stack, now: Instant, frame: &[u8], info: RxInfo) {
        if info.checksum_verified {
            self.flush(stack, now);
            crate::link::deliver_frame(stack, now, frame, info);
            return;
        }
        if self.frames.len() <= self.n {
            self.frames.push(RxFrame::default());
        }
        if let Some(slot) = self.frames.get_mut(self.n) {
            slot.buf.clear();
            slot.buf.extend_from_slice(frame);
            slot.len = frame.len();
            self.n += 1;
        }
        if self.n >= RX_BATCH {
            self.flush(stack, now);
        }
    }

    /// Hand the waiting frames to the stack.
    pub(crate) fn flush(&mut self, stack: &mut Stack, now: Instant) {
        if self.n > 0 {
            stack.handle_frames(now, self.frames.get(..self.n).unwrap_or_default());
            self.n = 0;
        }
    }
}
