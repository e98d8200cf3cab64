//! bundle: carry container images into air-gapped networks as one signed, seekable file.
//! The binary is a thin shell over this library; tests use it directly too.

pub mod causes;
pub mod charts;
pub mod cli;
pub mod config;
pub mod console;
pub mod cosign;
pub mod create;
pub mod digest;
pub mod exit_codes;
pub mod format;
pub mod fsutil;
pub mod held;
pub mod imagelist;
pub mod inspect;
pub mod interrupt;
pub mod inventory;
pub mod keys;
pub mod load;
pub mod manifest;
pub mod mirrors;
pub mod naming;
pub mod platform;
pub mod progress;
pub mod prune;
pub mod reference;
pub mod reference_tars;
pub mod registry;
pub mod report;
pub mod select;
pub mod serve;
pub mod tarindex;
pub mod verify;
pub mod workers;
