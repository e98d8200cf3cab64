//! The integration tests: one binary (so the fixtures are compiled once), a module per command.
//! Each runs the real `bundle` binary against real components on 127.0.0.1.

mod architecture;
mod chart_bytes;
mod charts;
mod common;
mod compact;
mod create;
mod delta;
mod hostile;
mod load;
mod local_sources;
mod mirrors;
mod patch;
mod prune;
mod referrers;
mod release_cycle;
mod rough_edges;
mod security;
mod serve;
mod split;
mod verify;
