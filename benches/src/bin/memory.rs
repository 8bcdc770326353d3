//! The heap-counting half of the comparison binary: runs one section that measures the
//! heap, under the counting allocator, and prints it for `ttlmap-bench` to place in the
//! report. The comparison binary builds and runs it; see `ttlmap_bench::heap`.

use std::process::ExitCode;

use ttlmap_bench::alloc::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() -> ExitCode {
    ttlmap_bench::heap::child_main()
}
