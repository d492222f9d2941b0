//! The EHLO reply: the extensions submitd offers, and which SASL mechanisms are
//! advertised on a connection in its current state.

use postern_ipc::Mechanism;

use super::reply::Reply;

/// What the EHLO reply depends on.
#[derive(Debug, Clone)]
pub struct EhloContext<'a> {
    /// Our host name, first line of the reply.
    pub hostname: &'a str,
    /// The name the client greeted with.
    pub client_name: &'a str,
    /// Whether the connection is on TLS (STARTTLS is offered only when not).
    pub tls: bool,
    /// Whether the `tls-exporter` channel binding exists (TLS 1.3): the -PLUS variants.
    pub channel_binding: bool,
    /// Whether a registered client certificate authenticated this connection: EXTERNAL.
    pub certificate: bool,
    /// Whether AUTH may still be used (not after a SASL login).
    pub auth_allowed: bool,
    /// SIZE.
    pub max_message_size: u64,
    /// LIMITS RCPTMAX (RFC 9422).
    pub max_recipients: usize,
}

/// The SASL mechanisms to advertise, in the order of the submission issue: EXTERNAL
/// first when a registered client certificate came, the -PLUS variants only with a
/// channel binding, PLAIN and LOGIN only on TLS. Nothing without TLS, where AUTH is
/// refused.
pub fn advertised_mechanisms(context: &EhloContext<'_>) -> Vec<Mechanism> {
    if !context.tls || !context.auth_allowed {
        return Vec::new();
    }
    Mechanism::SASL
        .into_iter()
        .filter(|mechanism| match mechanism {
            Mechanism::External => context.certificate,
            m if m.is_plus() => context.channel_binding,
            _ => true,
        })
        .collect()
}

/// The full EHLO reply.
pub fn ehlo_reply(context: &EhloContext<'_>) -> Reply {
    let mut lines = vec![
        format!("{} greets {}", context.hostname, context.client_name),
        "PIPELINING".to_owned(),
        "8BITMIME".to_owned(),
        "SMTPUTF8".to_owned(),
        format!("SIZE {}", context.max_message_size),
        "ENHANCEDSTATUSCODES".to_owned(),
        "CHUNKING".to_owned(),
        format!("LIMITS RCPTMAX={}", context.max_recipients),
    ];
    if !context.tls {
        lines.push("STARTTLS".to_owned());
    }
    let mechanisms = advertised_mechanisms(context);
    if !mechanisms.is_empty() {
        let names: Vec<&str> = mechanisms.iter().map(|m| m.name()).collect();
        lines.push(format!("AUTH {}", names.join(" ")));
    }
    Reply::plain(250, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(tls: bool, channel_binding: bool, certificate: bool) -> EhloContext<'static> {
        EhloContext {
            hostname: "mail.test",
            client_name: "client",
            tls,
            channel_binding,
            certificate,
            auth_allowed: true,
            max_message_size: 1000,
            max_recipients: 10,
        }
    }

    fn text(context: &EhloContext<'_>) -> String {
        String::from_utf8(ehlo_reply(context).to_bytes()).unwrap()
    }

    #[test]
    fn plain_connection_offers_starttls_and_no_auth() {
        let reply = text(&context(false, false, false));
        assert!(reply.ends_with("250 STARTTLS\r\n"), "{reply}");
        assert!(!reply.contains("AUTH"), "{reply}");
        assert!(reply.contains("250-SIZE 1000\r\n"), "{reply}");
    }

    #[test]
    fn tls13_with_certificate_lists_everything_in_order() {
        let reply = text(&context(true, true, true));
        assert!(!reply.contains("STARTTLS"), "{reply}");
        assert!(
            reply.ends_with(
                "250 AUTH EXTERNAL SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS \
                 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN\r\n"
            ),
            "{reply}"
        );
    }

    #[test]
    fn tls12_without_certificate_has_no_plus_and_no_external() {
        let reply = text(&context(true, false, false));
        assert!(
            reply.ends_with("250 AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN\r\n"),
            "{reply}"
        );
    }

    #[test]
    fn no_auth_after_login() {
        let mut context = context(true, true, false);
        context.auth_allowed = false;
        assert!(!text(&context).contains("AUTH"));
    }
}
