//! One SSH connection per host, opened on first use and shared by every step on that host.

use crate::ssh::{Connection, HostKeyPolicy, SshError, SshTarget};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

pub struct HostPool {
    policy: Arc<HostKeyPolicy>,
    connect_timeout: Duration,
    slots: HashMap<String, Slot>,
}

struct Slot {
    target: SshTarget,
    conn: OnceCell<Connection>,
}

impl HostPool {
    pub fn new(targets: Vec<SshTarget>, policy: HostKeyPolicy, connect_timeout: Duration) -> Self {
        let slots = targets
            .into_iter()
            .map(|t| {
                (
                    t.name.clone(),
                    Slot {
                        target: t,
                        conn: OnceCell::new(),
                    },
                )
            })
            .collect();
        HostPool {
            policy: Arc::new(policy),
            connect_timeout,
            slots,
        }
    }

    pub fn target(&self, host: &str) -> Option<&SshTarget> {
        self.slots.get(host).map(|s| &s.target)
    }

    /// The host's connection, connecting on first use. A failed connect is not cached: the
    /// next step (or retry) tries again.
    pub async fn connection(&self, host: &str) -> Result<Connection, SshError> {
        let slot = self
            .slots
            .get(host)
            .unwrap_or_else(|| panic!("host {host} is in the plan but not in the pool"));
        slot.conn
            .get_or_try_init(|| {
                Connection::connect(
                    slot.target.clone(),
                    self.policy.clone(),
                    self.connect_timeout,
                )
            })
            .await
            .cloned()
    }

    pub async fn close_all(&self) {
        for slot in self.slots.values() {
            if let Some(c) = slot.conn.get() {
                c.close().await;
            }
        }
    }
}

/// A stage's fixes connect through the pool (they need no more of the engine than this).
impl crate::stages::Connections for HostPool {
    fn connection<'a>(
        &'a self,
        host: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<Connection, SshError>> {
        Box::pin(HostPool::connection(self, host))
    }
}
