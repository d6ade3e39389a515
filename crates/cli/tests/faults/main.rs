//! The fault suite: the `lifeboat` binary killed at seeded random points, its S3 storage
//! refusing, resetting, stalling and slowing through a proxy, a full disk and a read-only
//! one. Each test asserts what the README documents (no partial backup listed, every older
//! backup verifies, the next run succeeds, leftovers collected after the grace, the exit
//! code) and prints one `faults:` line with its figures.
//!
//! `LIFEBOAT_FAULT_SEED=N` replays a run (every test prints its seed); `FAULT_RUNS=N` sets
//! the kill points per group (`benches/faults.sh` runs the long mode).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod disk_faults;
mod harness;
mod kill_points;
mod proxy_faults;
mod rig;
