//! How much runs at once: one count of the cores, and one way to make a pool of workers.

/// The cores this process may use (2 if the system will not say).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A pool of `threads` workers (at least one), named `name-N` in a debugger or `top -H`.
pub fn pool(
    threads: usize,
    name: &'static str,
) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(move |i| format!("{name}-{i}"))
        .build()
}
