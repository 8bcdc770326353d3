#!/usr/bin/env bash
# Replays the stored fuzz inputs (fuzz/corpus/<target>/ and fuzz/artifacts/<target>/)
# through the stable replay binary (fuzz/src/bin/replay.rs) under AddressSanitizer (+
# LeakSanitizer): a use-after-free or double free that the interpreters' own checks
# cannot see (the `concurrent` target's references read under a pin, its values'
# drops) fails the run.
#
# As scripts/asan.sh: stable Rust through RUSTC_BOOTSTRAP=1 (an unsupported escape
# hatch; pin the toolchain); the ASan runtime ships in the stable rust-std; an explicit
# --target keeps build scripts and proc macros (derive_arbitrary) uninstrumented. Its
# own target dir, because RUSTFLAGS change every crate in the graph.
#
# Usage: scripts/fuzz-replay-asan.sh [replay args, e.g. `concurrent fuzz/artifacts/concurrent`]
# Without arguments every `concurrent` input runs $REPLAY_REPEAT times (default 20): its
# interleavings differ from run to run.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=address${RUSTFLAGS:+ $RUSTFLAGS}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/fuzz/target/asan-replay}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:symbolize=1:abort_on_error=0}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

if [ "$#" -eq 0 ]; then
  set -- --repeat "${REPLAY_REPEAT:-20}"
fi
exec cargo run --manifest-path fuzz/Cargo.toml --no-default-features --release \
  --target x86_64-unknown-linux-gnu --bin replay -- "$@"
