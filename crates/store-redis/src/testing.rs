//! The scratch `redis-server` spawner of restore drills, for test harnesses (cargo feature
//! `testing`, which `lifeboat-testing`'s feature `redis` enables): tests start their servers
//! with the same code the drill uses.

pub use crate::scratch::{ScratchError, ScratchOptions, ScratchServer};
