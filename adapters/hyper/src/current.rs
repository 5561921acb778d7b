//! The drain of the server whose runtime runs the current thread. Each of
//! the server's threads is given it when it starts, so code running for a
//! request (an axum extractor, say) finds it without the request carrying
//! it: a per-request extension costs every request an allocation, read or
//! not.

use std::cell::RefCell;

use handover::DrainToken;

thread_local! {
    static DRAIN: RefCell<Option<DrainToken>> = const { RefCell::new(None) };
}

/// The drain token of the server (this crate's, or an adapter's built on
/// it, such as `handover-axum`) whose runtime runs the calling thread: its
/// worker threads, its blocking threads, and the thread that runs it. `None`
/// on any other thread, such as a runtime of the app's own.
///
/// ```
/// // Outside a server: no drain.
/// assert!(handover_hyper::current_drain().is_none());
/// ```
pub fn current_drain() -> Option<DrainToken> {
    DRAIN.with(|drain| drain.borrow().clone())
}

/// Gives the calling thread `token` for good: a thread the server's
/// runtime started, which ends with it.
pub(crate) fn give(token: DrainToken) {
    DRAIN.with(|drain| *drain.borrow_mut() = Some(token));
}

/// Gives the calling thread `token` until the guard drops, then gives it
/// back what it had: the thread that runs the server, which goes on after.
pub(crate) fn enter(token: DrainToken) -> Entered {
    Entered(DRAIN.with(|drain| drain.replace(Some(token))))
}

/// The calling thread's drain before [`enter`], given back on drop.
pub(crate) struct Entered(Option<DrainToken>);

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.0.take();
        DRAIN.with(|drain| *drain.borrow_mut() = previous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_has_the_drain_it_was_given_and_others_have_none() {
        let trigger = handover::DrainTrigger::new();
        std::thread::spawn(move || {
            assert!(current_drain().is_none());
            let outer = handover::DrainTrigger::new();
            give(outer.token());
            {
                let _entered = enter(trigger.token());
                trigger.drain();
                assert!(current_drain().unwrap().is_draining(), "the entered one");
                std::thread::spawn(|| assert!(current_drain().is_none()))
                    .join()
                    .unwrap();
            }
            let back = current_drain().unwrap();
            assert!(!back.is_draining(), "the one given before, back");
            outer.drain();
            assert!(back.is_draining());
        })
        .join()
        .unwrap();
    }
}
