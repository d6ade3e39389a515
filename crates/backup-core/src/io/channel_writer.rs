//! [`ChannelWriter`]: the bottom of the backup chain, handing chunks to the storage fan-out task
//! through a bounded channel (so a slow storage blocks the source: backpressure).

use std::io;

use bytes::Bytes;
use futures::sink::{SinkExt, SinkMapErr};
use tokio::sync::mpsc;
use tokio_util::io::{CopyToBytes, SinkWriter};
use tokio_util::sync::{PollSendError, PollSender};

type MapErr = fn(PollSendError<Bytes>) -> io::Error;

/// An `AsyncWrite` whose every write becomes one `Bytes` chunk on a bounded channel. Put a
/// `BufWriter` above it to get large chunks. Shutting it down closes the channel.
pub type ChannelWriter = SinkWriter<CopyToBytes<SinkMapErr<PollSender<Bytes>, MapErr>>>;

fn storage_gone(_: PollSendError<Bytes>) -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "every storage failed; the upload stopped",
    )
}

/// A writer and the receiving end of its channel, which holds at most `capacity` chunks.
pub fn channel_writer(capacity: usize) -> (ChannelWriter, mpsc::Receiver<Bytes>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let sink = PollSender::new(tx).sink_map_err(storage_gone as MapErr);
    (SinkWriter::new(CopyToBytes::new(sink)), rx)
}
