//! `postern-webd`: the account and admin web pages. Listeners come by socket
//! activation (`web-https`, `web-http`, `web-admin`), or are bound from the config's
//! `[webd]` section when none are passed.

use std::sync::Arc;

use anyhow::Context as _;
use postern_daemon::connection_limits::{ConnectionLimits, Refusal};
use postern_daemon::{
    DaemonTls, Started, accept_connections, serve_until_stopped, tcp_listeners, warn_unused,
};
use postern_ipc::control::DAEMON_CONTROL_FD_NAME;
use postern_webd::server::{Server, serve_connection};
use postern_webd::{App, Listener, Routers};
use tokio::net::TcpStream;

fn main() -> std::process::ExitCode {
    postern_daemon::exit_code("postern-webd", start())
}

fn start() -> anyhow::Result<()> {
    // SAFETY: first thing in main; no other thread exists yet.
    let Started {
        config,
        mut activated,
        ..
    } = unsafe { postern_daemon::begin("postern-webd", "postern's account and admin web pages.") }?;
    let passed = !activated.is_empty();
    let https = activated.take(Listener::Https.socket_name());
    let http = activated.take(Listener::Http.socket_name());
    let admin = activated.take(Listener::Admin.socket_name());
    // TLS only when there is an HTTPS listener; otherwise the control socket (for
    // certificate reloads) has nothing to do.
    let wants_tls = if passed {
        !https.is_empty()
    } else {
        !config.webd.https_listen.is_empty()
    };
    let tls = if wants_tls {
        Some(DaemonTls::start(
            "webd",
            &mut activated,
            &config.webd.tls_certificate,
            &config.webd.tls_key,
        )?)
    } else {
        drop(activated.take(DAEMON_CONTROL_FD_NAME));
        None
    };
    warn_unused(&activated);
    let app = Arc::new(App::new(&config).map_err(|e| anyhow::anyhow!("[webd]: {e}"))?);
    let routers = Routers::new(app, config.webd.admin_on_account_listeners);
    let server = Arc::new(Server::new(
        routers,
        tls.as_ref().map(|t| t.acceptor.clone()),
    ));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let https = tcp_listeners(https, passed, &config.webd.https_listen)
                .await
                .context("HTTPS listeners")?;
            let http = tcp_listeners(http, passed, &config.webd.http_listen)
                .await
                .context("HTTP listeners")?;
            let admin = tcp_listeners(admin, passed, &config.webd.admin_listen)
                .await
                .context("admin listeners")?;
            accept_connections(
                vec![
                    (https, Listener::Https),
                    (http, Listener::Http),
                    (admin, Listener::Admin),
                ],
                ConnectionLimits::for_config(&config),
                refuse_connection,
                move |tcp, listener| serve_connection(tcp, listener, server.clone()),
            );
            serve_until_stopped("webd", tls.as_ref()).await?;
            Ok(())
        })
}

/// Answers a connection over a limit on a plain-HTTP listener with a 503; on HTTPS
/// just the close (no TLS work for it).
fn refuse_connection(tcp: &TcpStream, listener: Listener, refusal: Refusal) {
    if listener != Listener::Https {
        let body = format!("{refusal}\n");
        let _ = tcp.try_write(
            format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
}
