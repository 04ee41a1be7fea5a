/// jemalloc: the request path allocates small, short-lived buffers, which it
/// serves faster than the system allocator, with a small idle footprint.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    rampart::cli::run()
}
