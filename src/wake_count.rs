//! A waker that counts its wakes, for the unit tests of code that must
//! wake a task exactly when something happened.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Wake;

/// Counts the wakes of a task (`.0`, read with `Ordering::SeqCst`).
pub(crate) struct Count(pub(crate) AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
