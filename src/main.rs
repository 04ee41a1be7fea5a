/// jemalloc: the request path allocates small, short-lived buffers, which it
/// serves faster than the system allocator, with a small idle footprint.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts (before `main`); the variable
/// `_RJEM_MALLOC_CONF` still overrides them.
///
/// `tcache_gc_incr_bytes`: how much a thread allocates between two sweeps
/// of its cache of freed blocks, which hand unused blocks back to the
/// arenas. At jemalloc's default, 64 KiB, a request path that allocates a
/// few KiB swept every fifth request; every 1 MiB, a sweep comes a
/// sixteenth as often and finds more to hand back, for about half the cost
/// per request (counted in `benches/README.md`). The cache is bounded per
/// size class either way: sweeping less often changes how soon a thread's
/// idle blocks go back, not how many it may keep.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: Option<&'static std::ffi::c_char> =
    // SAFETY: the first byte of a NUL-terminated string that lives as long
    // as the program: what jemalloc reads `malloc_conf` as.
    Some(unsafe { &*c"tcache_gc_incr_bytes:1048576".as_ptr() });

fn main() -> std::process::ExitCode {
    rampart::cli::run()
}
