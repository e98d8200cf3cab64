//! Each encoder against its producer, on real files from this machine and seeded inputs: the
//! bytes must be the same, at every level. Needs the producers `make test-deps` installs (Go
//! toolchains, Debian's pgzip sources, GNU gzip, Python).

mod gnu;
mod go;
mod klauspost;
mod pigz;
mod producers;
mod zlib;
