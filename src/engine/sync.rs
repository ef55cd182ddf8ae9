//! How the hosts of one stage wait for each other: at a barrier (every host is past the steps
//! before it) and for a serial turn (the host before has finished the step).
//!
//! Each host publishes how far it is in the stage's step order: `passed = p` means it is done
//! with (finished, skipped or does not have) every step at a position below `p`. Hosts only
//! ever move forward, and a host that ends (or whose task is dropped) is past everything, so
//! a waiter is always released: by the others moving on, or by the cancel token.

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    passed: usize,
    /// Position of the step this host failed, if it did.
    failed_at: Option<usize>,
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// Go ahead with the step.
    Go,
    /// This host failed a step before the barrier.
    PeerFailed(String),
    Cancelled,
}

/// The shared progress of one stage's hosts (in the stage's host order).
pub struct StageSync {
    hosts: Vec<String>,
    progress: watch::Sender<Vec<Progress>>,
}

impl StageSync {
    pub fn new(hosts: Vec<String>) -> StageSync {
        let (progress, _) = watch::channel(vec![Progress::default(); hosts.len()]);
        StageSync { hosts, progress }
    }

    /// Host `h` is done with every position below `pos`.
    pub fn pass(&self, h: usize, pos: usize) {
        self.progress.send_if_modified(|v| {
            let moved = v[h].passed < pos;
            v[h].passed = v[h].passed.max(pos);
            moved
        });
    }

    /// Host `h` failed the step at `pos` (and is past it).
    pub fn fail(&self, h: usize, pos: usize) {
        self.progress.send_modify(|v| {
            v[h].failed_at.get_or_insert(pos);
            v[h].passed = v[h].passed.max(pos + 1);
        });
    }

    /// Host `h` has nothing more to do in the stage.
    pub fn end(&self, h: usize) {
        self.pass(h, usize::MAX);
    }

    /// The other hosts a barrier at `pos` still waits for.
    pub fn not_at(&self, me: usize, pos: usize) -> Vec<String> {
        let v = self.progress.borrow();
        (0..self.hosts.len())
            .filter(|&i| i != me && v[i].passed < pos)
            .map(|i| self.hosts[i].clone())
            .collect()
    }

    /// Whether host `h` is past the step at `pos` (for a serial turn).
    pub fn is_past(&self, h: usize, pos: usize) -> bool {
        self.progress.borrow()[h].passed > pos
    }

    pub fn host(&self, h: usize) -> &str {
        &self.hosts[h]
    }

    /// Host `me` is at the barrier before the step at `pos`: wait until every host is, then
    /// say whether one of them failed a step before it.
    pub async fn barrier(&self, me: usize, pos: usize, cancel: &CancellationToken) -> Wait {
        self.pass(me, pos);
        let mut rx = self.progress.subscribe();
        let all_there = rx.wait_for(|v| v.iter().all(|p| p.passed >= pos));
        let v = tokio::select! {
            r = all_there => r.expect("the sender lives as long as self").clone(),
            _ = cancel.cancelled() => return Wait::Cancelled,
        };
        match v.iter().position(|p| p.failed_at.is_some_and(|f| f < pos)) {
            Some(i) => Wait::PeerFailed(self.hosts[i].clone()),
            None => Wait::Go,
        }
    }

    /// Wait until host `before` is past the step at `pos` (finished, failed or skipped it).
    pub async fn turn_after(&self, before: usize, pos: usize, cancel: &CancellationToken) -> Wait {
        let mut rx = self.progress.subscribe();
        let done = rx.wait_for(|v| v[before].passed > pos);
        tokio::select! {
            r = done => {
                r.expect("the sender lives as long as self");
                Wait::Go
            }
            _ = cancel.cancelled() => Wait::Cancelled,
        }
    }
}

/// Marks a host as ended when its task ends in any way (returns, errors, is aborted), so no
/// other host waits for it forever.
pub struct EndOnDrop {
    pub sync: std::sync::Arc<StageSync>,
    pub host: usize,
}

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.sync.end(self.host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn sync(n: usize) -> Arc<StageSync> {
        Arc::new(StageSync::new((1..=n).map(|i| format!("n{i}")).collect()))
    }

    /// The future is still pending after the runtime had every chance to run it.
    async fn pending<F: std::future::Future + Unpin>(f: &mut F) -> bool {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut *f).poll(cx).is_pending())
        })
        .await
    }

    #[tokio::test]
    async fn a_barrier_opens_when_the_last_host_arrives() {
        let s = sync(3);
        let cancel = CancellationToken::new();
        let mut w = Box::pin(s.barrier(0, 2, &cancel));
        assert!(pending(&mut w).await);
        assert_eq!(s.not_at(0, 2), vec!["n2", "n3"]);
        s.pass(1, 2);
        assert!(pending(&mut w).await, "n3 is not there yet");
        // A host without the barrier step arrives when it goes past it.
        s.pass(2, 3);
        assert_eq!(w.await, Wait::Go);
        assert!(s.not_at(0, 2).is_empty());
    }

    #[tokio::test]
    async fn a_peer_failing_before_the_barrier_releases_the_waiters_with_its_name() {
        let s = sync(3);
        let cancel = CancellationToken::new();
        let mut w = Box::pin(s.barrier(0, 3, &cancel));
        s.pass(1, 3);
        s.fail(2, 0);
        assert!(
            pending(&mut w).await,
            "n3 has not skipped up to the barrier"
        );
        s.end(2);
        assert_eq!(w.await, Wait::PeerFailed("n3".into()));
        // Failing the step just before the barrier is being past it.
        let s = sync(2);
        s.fail(1, 1);
        assert_eq!(
            s.barrier(0, 2, &cancel).await,
            Wait::PeerFailed("n2".into())
        );
        // A failure at or after the barrier's position does not count against it.
        let s = sync(2);
        s.fail(1, 2);
        assert_eq!(s.barrier(0, 2, &cancel).await, Wait::Go);
    }

    #[tokio::test]
    async fn cancel_releases_every_waiter() {
        let s = sync(3);
        let cancel = CancellationToken::new();
        let tasks: Vec<_> = (0..2)
            .map(|i| {
                let (s, c) = (s.clone(), cancel.clone());
                tokio::spawn(async move {
                    if i == 0 {
                        s.barrier(0, 1, &c).await
                    } else {
                        s.turn_after(0, 1, &c).await
                    }
                })
            })
            .collect();
        tokio::task::yield_now().await;
        cancel.cancel();
        for t in tasks {
            let r = tokio::time::timeout(Duration::from_secs(5), t).await;
            assert_eq!(r.expect("released").unwrap(), Wait::Cancelled);
        }
    }

    #[tokio::test]
    async fn a_serial_turn_comes_when_the_host_before_is_past_the_step() {
        let s = sync(2);
        let cancel = CancellationToken::new();
        s.pass(0, 1); // n1 is at the step (position 1), not past it
        let mut w = Box::pin(s.turn_after(0, 1, &cancel));
        assert!(pending(&mut w).await);
        assert!(!s.is_past(0, 1));
        s.pass(0, 2);
        assert_eq!(w.await, Wait::Go);
        // A failed step is passed too: the next host's turn comes.
        let s = sync(2);
        s.fail(0, 1);
        assert_eq!(s.turn_after(0, 1, &cancel).await, Wait::Go);
    }

    #[tokio::test]
    async fn a_dropped_host_task_never_blocks_the_others() {
        let s = sync(2);
        let cancel = CancellationToken::new();
        {
            let _guard = EndOnDrop {
                sync: s.clone(),
                host: 1,
            };
        }
        assert_eq!(s.barrier(0, 5, &cancel).await, Wait::Go);
    }
}
