//! Loom model tests of ttlmap; see tests/.
