//! The byte-stream stages the pipelines are built from.

mod channel_writer;
mod end_gate;
mod hashing;
mod no_shutdown;
mod progress;
mod shared_reader;
mod stream_error;

pub use channel_writer::{channel_writer, ChannelWriter};
pub use end_gate::{EndGate, FailureSlot};
pub use hashing::{Digest, DigestSlot, Expected, HashReader, HashWriter};
pub use no_shutdown::NoShutdown;
pub use progress::Progress;
pub use shared_reader::SharedReader;
pub use stream_error::{MapErrReader, StreamError};

/// A boxed writer stage.
pub type BoxWriter = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;
