//! Threads that do bulk work beside a writer (parsing, counting terms, choosing keywords,
//! copying the log back) run at a lower priority: on a busy machine a save from another
//! process, and the writer whose transaction that save waits for, get a processor first.

/// The nice value of a bulk thread: CFS then gives it about a tenth of a normal thread's share
/// while both want the same processor, and all of an idle one.
#[cfg(target_os = "linux")]
const BULK_NICE: i32 = 10;

/// Lower the calling thread's scheduling priority (Linux; elsewhere nothing changes). Only
/// ever lowered, which needs no privilege; a refusal changes nothing either.
pub fn lower_priority() {
    // On Linux the nice value is the calling thread's own, not its process's (setpriority(2),
    // "Bugs"): the writer keeps its priority.
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::process::setpriority_process(None, BULK_NICE);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A bulk thread lowers its own priority and no other thread's.
    #[test]
    fn a_bulk_thread_lowers_its_own_priority_only() {
        let before = rustix::process::getpriority_process(None).unwrap();
        let inside = std::thread::spawn(|| {
            lower_priority();
            rustix::process::getpriority_process(None).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(inside, BULK_NICE.max(before));
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), before);
    }
}
