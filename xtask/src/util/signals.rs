//! Ctrl-C and SIGTERM: the engine child gets the signal (passed on when only
//! the xtask received it), the xtask notes it and stops after the child exits,
//! so it can say what was built instead of dying mid-sentence. A second signal
//! does the same, and never ends the xtask on the spot: the run still unwinds
//! through its guards (verify's export container and temporary tag, a key tag
//! made for a push), so an impatient second Ctrl-C leaves nothing behind.
//! Ctrl-\ (SIGQUIT, not handled here) ends it at once.

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
}

#[cfg(unix)]
pub(crate) fn install() {
    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;
    // Only async-signal-safe work here: atomics, errno and kill. Every
    // signal is passed on, the second as the first: the child may still run
    // after one, and the guards run once it has ended.
    extern "C" fn on_signal(sig: i32) {
        INTERRUPTED.store(true, Ordering::SeqCst);
        let child = CHILD.load(Ordering::SeqCst);
        if child > 0 {
            // kill may set errno (ESRCH for a child that has just ended):
            // the code this handler interrupted may be about to read it.
            let errno = errno::get();
            // SAFETY: kill is async-signal-safe; a stale pid gets ESRCH at worst.
            unsafe { kill(child, sig) };
            errno::set(errno);
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

/// The calling thread's errno, where each C library keeps it.
#[cfg(unix)]
mod errno {
    extern "C" {
        #[cfg_attr(
            any(target_os = "macos", target_os = "ios", target_os = "freebsd"),
            link_name = "__error"
        )]
        #[cfg_attr(
            any(target_os = "android", target_os = "netbsd", target_os = "openbsd"),
            link_name = "__errno"
        )]
        #[cfg_attr(any(target_os = "solaris", target_os = "illumos"), link_name = "___errno")]
        fn __errno_location() -> *mut i32;
    }

    pub(super) fn get() -> i32 {
        // SAFETY: the C library's pointer to this thread's errno.
        unsafe { *__errno_location() }
    }

    pub(super) fn set(value: i32) {
        // SAFETY: as above.
        unsafe { *__errno_location() = value }
    }
}

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
