//! An asymmetric fence: the frequent side (a span ending) pays only a compiler fence, and the rare side
//! (shutdown) pays a heavy barrier that makes every thread of the process execute a full memory
//! barrier, through Linux's `membarrier(2)`.
//!
//! Together they give the store-then-load ordering a Dekker-style handshake needs: after the heavy
//! barrier, either shutdown sees the owner's store, or the owner's later load sees shutdown's. Where
//! `membarrier` is not available, [`available`] is false and callers use an atomic swap instead.

/// Whether the heavy barrier works here; decided once, on first use.
#[inline]
pub(crate) fn available() -> bool {
    imp::available()
}

/// The light side: orders this thread's preceding store before its following load, as far as the
/// heavy side can tell. Costs nothing at run time.
#[inline]
pub(crate) fn light() {
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// The heavy side: returns once every running thread of the process has executed a full barrier.
pub(crate) fn heavy() {
    imp::heavy();
}

#[cfg(target_os = "linux")]
mod imp {
    use std::sync::OnceLock;

    const PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    const REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

    fn membarrier(command: libc::c_int) -> bool {
        // SAFETY: membarrier takes (cmd, flags, cpu_id) by value and touches no memory of ours.
        unsafe { libc::syscall(libc::SYS_membarrier, command, 0, 0) == 0 }
    }

    /// `INSTRUMENT_NO_MEMBARRIER` in the environment turns the heavy barrier off, so that the
    /// fallback protocol can be tested (and used) on Linux too.
    pub(super) fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            std::env::var_os("INSTRUMENT_NO_MEMBARRIER").is_none()
                && membarrier(REGISTER_PRIVATE_EXPEDITED)
        })
    }

    const GLOBAL: libc::c_int = 1;

    pub(super) fn heavy() {
        // The expedited form cannot fail once registered; should it, the global form (slower, no
        // registration) gives the same guarantee. Going on without either would be unsound.
        assert!(
            membarrier(PRIVATE_EXPEDITED) || membarrier(GLOBAL),
            "instrument: membarrier(2) failed after it was registered; cannot shut down safely"
        );
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn available() -> bool {
        false
    }

    pub(super) fn heavy() {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }
}
