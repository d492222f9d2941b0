//! `postern status`: asks the running supervisor over its control socket.

use std::path::Path;

use anyhow::{Context as _, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use postern_config::Config;
use postern_ipc::FrameCodec;
use postern_ipc::control::{ControlRequest, ControlResponse, DaemonStatus, MAX_CONTROL_FRAME};
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

/// Asks the supervisor for each daemon's state.
pub async fn query(socket: &Path) -> anyhow::Result<Vec<DaemonStatus>> {
    let stream = UnixStream::connect(socket).await.with_context(|| {
        format!(
            "cannot reach the supervisor at {} (is `postern serve` or `postern localserve` running?)",
            socket.display()
        )
    })?;
    let mut framed = Framed::new(
        stream,
        FrameCodec::<ControlResponse, ControlRequest>::new(MAX_CONTROL_FRAME, MAX_CONTROL_FRAME),
    );
    framed.send(ControlRequest::Status).await?;
    match framed.next().await {
        Some(Ok(ControlResponse::Status(daemons))) => Ok(daemons),
        Some(Ok(ControlResponse::Error(message))) => bail!("{message}"),
        Some(Err(e)) => Err(e.into()),
        None => bail!("the supervisor closed the connection"),
    }
}

/// Prints the state of each daemon, as a table or JSON.
pub async fn run(config_path: &Path, json: bool) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let daemons = query(&config.control_socket()).await?;
    let text = if json {
        serde_json::to_string_pretty(&daemons)? + "\n"
    } else {
        let mut text = format!(
            "{:<10} {:>8} {:>10} {:>8}  {}\n",
            "DAEMON", "PID", "UPTIME", "RESTARTS", "LAST EXIT"
        );
        for d in &daemons {
            text.push_str(&format!(
                "{:<10} {:>8} {:>10} {:>8}  {}\n",
                d.name,
                d.pid.map_or("-".into(), |p| p.to_string()),
                d.uptime_seconds.map_or("-".into(), |s| format!("{s}s")),
                d.restarts,
                d.last_exit.as_deref().unwrap_or("-"),
            ));
        }
        text
    };
    crate::output::emit(&text)?;
    Ok(())
}
