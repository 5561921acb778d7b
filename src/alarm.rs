//! [`Alarm`]: futures that share a task with busier work (a connection's
//! IO, a socket's messages) polled only when one of them woke, not at
//! every wake of the task: on hyper, the drain's close flag and the
//! watchdog's tick beside the connection (and on HTTP/2 the GOAWAY gate and
//! the drain's sleeps); in the root crate, the drain's watch beside a
//! WebSocket handler.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use futures_util::task::AtomicWaker;

/// The alarm of one task: its futures are polled with the alarm's waker,
/// which notes that one of them fired before it wakes the task, so the task
/// polls them again only then.
///
/// ```
/// use std::future::Future;
/// use std::pin::pin;
/// use std::task::{Context, Poll, Waker};
/// use handover::adapter::Alarm;
///
/// let (alarm, alarm_waker) = Alarm::new();
/// let mut registered = None;
/// let mut tick = pin!(std::future::pending::<()>());
/// let mut cx = Context::from_waker(Waker::noop());
/// // At every wake of the task, after its own work:
/// if alarm.rang(&cx, &mut registered) {
///     let mut alarms = Context::from_waker(&alarm_waker);
///     assert!(tick.as_mut().poll(&mut alarms).is_pending());
/// }
/// assert!(!alarm.rang(&cx, &mut registered), "nothing woke since");
/// ```
#[derive(Debug)]
pub struct Alarm {
    /// An alarm future woke since the task last looked (set at first, so
    /// that the first poll registers them).
    rang: AtomicBool,
    /// The connection task.
    task: AtomicWaker,
}

impl Alarm {
    /// An alarm, and the waker to poll the alarm futures with.
    pub fn new() -> (Arc<Alarm>, Waker) {
        let alarm = Arc::new(Alarm {
            rang: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(alarm.clone());
        (alarm, waker)
    }

    /// Whether an alarm future woke since the last call; the task in `cx`
    /// is the one woken next time. `registered` is the caller's note of
    /// the waker it registered last: an unchanged task is not registered
    /// again at every call, only after a wake used its registration up.
    #[inline]
    pub fn rang(&self, cx: &Context<'_>, registered: &mut Option<Waker>) -> bool {
        let same = registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        if !same {
            // Registered before the flag is read: a wake in between sets
            // the flag, which is read next, or wakes this registration.
            self.task.register(cx.waker());
            *registered = Some(cx.waker().clone());
        }
        if !(self.rang.load(Ordering::Acquire) && self.rang.swap(false, Ordering::AcqRel)) {
            return false;
        }
        if same {
            // The wake that set the flag took the registration: renewed
            // before the caller polls the alarm futures, which see
            // whatever fired since.
            self.task.register(cx.waker());
        }
        true
    }

    /// Makes the next [`Alarm::rang`] true without waking the task: for a
    /// caller that must poll its alarm futures again in the same poll.
    pub fn ring(&self) {
        self.rang.store(true, Ordering::Release);
    }
}

impl Wake for Alarm {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.rang.store(true, Ordering::Release);
        self.task.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wake_count::Count;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn rings_once_per_wake_and_wakes_the_task() {
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let task_waker = Waker::from(task.clone());
        let cx = Context::from_waker(&task_waker);
        let (alarm, waker) = Alarm::new();
        let mut registered = None;
        assert!(
            alarm.rang(&cx, &mut registered),
            "the first look polls the alarm futures"
        );
        assert!(!alarm.rang(&cx, &mut registered), "nothing woke since");
        waker.wake_by_ref();
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "the task is woken");
        assert!(alarm.rang(&cx, &mut registered));
        assert!(!alarm.rang(&cx, &mut registered));
        // The registration was renewed: the next wake wakes the task too.
        waker.wake_by_ref();
        assert_eq!(task.0.load(Ordering::SeqCst), 2, "woken again");
        assert!(alarm.rang(&cx, &mut registered));
        waker.wake_by_ref();
        assert_eq!(task.0.load(Ordering::SeqCst), 3, "and again");
    }
}
