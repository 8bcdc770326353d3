#!/usr/bin/env bash
# Runs the ttlmap unit and integration tests under AddressSanitizer (+ LeakSanitizer).
#
# Works on stable Rust through RUSTC_BOOTSTRAP=1 (an unsupported escape hatch; pin the
# toolchain): the ASan runtime ships in the stable rust-std, no -Zbuild-std needed.
# An explicit --target is required so that build scripts and proc macros are not
# instrumented. Doctests are excluded (--lib --tests): rustdoc would need the same
# flags for every doctest binary and they add nothing the unit tests don't cover.
#
# Usage: scripts/asan.sh [extra cargo test args, e.g. a test name filter]
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=address${RUSTFLAGS:+ $RUSTFLAGS}"
export RUSTDOCFLAGS="-Zsanitizer=address${RUSTDOCFLAGS:+ $RUSTDOCFLAGS}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/asan}"
# Symbolized reports; fail on leaks too (LSan is on by default with ASan on Linux).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:symbolize=1:abort_on_error=0}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

exec cargo test -p ttlmap --target x86_64-unknown-linux-gnu --lib --tests "$@"
