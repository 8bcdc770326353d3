//! Helpers shared by integration test files (each file that needs them says `mod common;`).

use std::hash::{BuildHasherDefault, Hasher};

/// Hashes a `u64` key to itself, so that a test decides which bucket holds what.
#[derive(Default)]
pub struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys");
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A `BuildHasher` of [`Identity`].
pub type Direct = BuildHasherDefault<Identity>;
