//! Ctrl-C and SIGTERM: the engine child gets the signal (passed on when only
//! the xtask received it), the xtask notes it and stops after the child exits,
//! so it can say what was built instead of dying mid-sentence. A second signal
//! exits at once.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static CHILD: AtomicI32 = AtomicI32::new(0);

/// Whether the user asked the run to stop.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Remembers the running engine process, to pass a signal on to it.
pub(crate) fn set_child(pid: Option<u32>) {
    let pid = pid.and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
    CHILD.store(pid, Ordering::SeqCst);
}

#[cfg(unix)]
extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn kill(pid: i32, sig: i32) -> i32;
    fn _exit(status: i32) -> !;
}

#[cfg(unix)]
pub(crate) fn install() {
    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;
    // Only async-signal-safe work here: atomics, kill and _exit.
    extern "C" fn on_signal(sig: i32) {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            // SAFETY: _exit is async-signal-safe.
            unsafe { _exit(130) }
        }
        let child = CHILD.load(Ordering::SeqCst);
        if child > 0 {
            // SAFETY: kill is async-signal-safe; a stale pid gets ESRCH at worst.
            unsafe { kill(child, sig) };
        }
    }
    // SAFETY: installing a handler that only touches atomics and calls
    // async-signal-safe functions.
    unsafe {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    }
}

#[cfg(not(unix))]
pub(crate) fn install() {}

/// Whether process `pid` still runs (signal 0 checks without sending).
#[cfg(unix)]
pub(crate) fn process_alive(pid: u32) -> bool {
    const ESRCH: i32 = 3;
    let Ok(pid) = i32::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists.
    let found = unsafe { kill(pid, 0) } == 0;
    found || std::io::Error::last_os_error().raw_os_error() != Some(ESRCH)
}

/// Without a way to ask, every process might still run.
#[cfg(not(unix))]
pub(crate) fn process_alive(_pid: u32) -> bool {
    true
}
