//! [`Connection::tunnel`]: a TCP connection made by the host's sshd (direct-tcpip), so the
//! control machine can talk to a service as a client on that host's network sees it — etcd's
//! client and peer ports, for `kubewiz diagnose`.

use std::time::Duration;

use russh::client::Msg;
use russh::{ChannelOpenFailure, ChannelStream};

use super::connection::Connection;
use super::error::SshError;

/// Why a tunnel did not open.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    /// The host's sshd tried and could not connect (the port refused it, or no route).
    #[error("{via} could not connect to {target}: refused or unreachable from there")]
    ConnectFailed { via: String, target: String },
    /// sshd does not allow forwarding (AllowTcpForwarding no, or a forced command).
    #[error("{via} does not allow TCP forwarding (sshd AllowTcpForwarding), so {target} cannot be reached through it")]
    Prohibited { via: String, target: String },
    /// No answer within the deadline: packets dropped on the way (a firewall) or a host down.
    #[error("{target} did not answer {via} within {after:?} (dropped by a firewall, or the host is down)")]
    NoAnswer {
        via: String,
        target: String,
        after: Duration,
    },
    #[error(transparent)]
    Ssh(#[from] SshError),
}

impl Connection {
    /// Ask this host's sshd to connect to `address:port` and hand back the byte stream.
    pub async fn tunnel(
        &self,
        address: &str,
        port: u16,
        deadline: Duration,
    ) -> Result<ChannelStream<Msg>, TunnelError> {
        let via = self.host().to_string();
        let target = format!("{address}:{port}");
        let handle = self.session().await?;
        // The originator fields are informational for the server; loopback says "this client".
        let open = handle.channel_open_direct_tcpip(address, port.into(), "127.0.0.1", 0);
        match tokio::time::timeout(deadline, open).await {
            Ok(Ok(channel)) => Ok(channel.into_stream()),
            Ok(Err(russh::Error::ChannelOpenFailure(
                ChannelOpenFailure::AdministrativelyProhibited,
            ))) => Err(TunnelError::Prohibited { via, target }),
            Ok(Err(russh::Error::ChannelOpenFailure(_))) => {
                Err(TunnelError::ConnectFailed { via, target })
            }
            Ok(Err(e)) => Err(TunnelError::Ssh(SshError::Channel {
                host: via,
                during: format!("opening a tunnel to {target}"),
                reason: e.to_string(),
            })),
            Err(_) => Err(TunnelError::NoAnswer {
                via,
                target,
                after: deadline,
            }),
        }
    }
}
