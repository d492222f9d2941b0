//! The capabilities postern advertises (mox-behaviour.md §12.4, limited to what postern
//! implements).

use crate::limits::APPEND_LIMIT;

/// The static capabilities, in mox's order, of the extensions postern serves.
pub const STATIC_CAPABILITIES: &[&str] = &[
    "IMAP4rev2",
    "IMAP4rev1",
    "ENABLE",
    "LITERAL+",
    "IDLE",
    "SASL-IR",
    "BINARY",
    "UNSELECT",
    "UIDPLUS",
    "ESEARCH",
    "SEARCHRES",
    "MOVE",
    "UTF8=ACCEPT",
    "LIST-EXTENDED",
    "SPECIAL-USE",
    "CREATE-SPECIAL-USE",
    "LIST-STATUS",
];

/// What the capability list depends on per connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapabilityContext {
    /// SASL mechanisms offered (without `AUTH=`), in order.
    pub mechanisms: Vec<String>,
    /// The connection is not (yet) TLS and STARTTLS is possible.
    pub starttls: bool,
    /// Plain-text login is allowed (on TLS); otherwise `LOGINDISABLED`.
    pub plain_allowed: bool,
    /// A client certificate's key is known: offer `AUTH=EXTERNAL`.
    pub external: bool,
}

/// The capability list for a connection, in advertised order.
pub fn capabilities(ctx: &CapabilityContext) -> Vec<String> {
    let mut caps: Vec<String> = STATIC_CAPABILITIES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    caps.extend(ctx.mechanisms.iter().map(|m| format!("AUTH={m}")));
    caps.push("ID".to_owned());
    caps.push(format!("APPENDLIMIT={APPEND_LIMIT}"));
    for c in [
        "CONDSTORE",
        "QRESYNC",
        "STATUS=SIZE",
        "SAVEDATE",
        "WITHIN",
        "NAMESPACE",
        "MULTIAPPEND",
    ] {
        caps.push(c.to_owned());
    }
    if ctx.starttls {
        caps.push("STARTTLS".to_owned());
    }
    if ctx.plain_allowed {
        caps.push("AUTH=PLAIN".to_owned());
    } else {
        caps.push("LOGINDISABLED".to_owned());
    }
    if ctx.external {
        caps.push("AUTH=EXTERNAL".to_owned());
    }
    caps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::EncodeOptions;
    use crate::response::{Data, Response};
    use imap_codec::ResponseCodec;
    use imap_codec::decode::Decoder;

    #[test]
    fn order_and_per_connection_parts() {
        let plain = capabilities(&CapabilityContext {
            mechanisms: vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()],
            starttls: true,
            plain_allowed: false,
            external: false,
        });
        assert_eq!(
            plain.join(" "),
            "IMAP4rev2 IMAP4rev1 ENABLE LITERAL+ IDLE SASL-IR BINARY UNSELECT UIDPLUS ESEARCH \
             SEARCHRES MOVE UTF8=ACCEPT LIST-EXTENDED SPECIAL-USE CREATE-SPECIAL-USE LIST-STATUS \
             AUTH=SCRAM-SHA-256-PLUS AUTH=SCRAM-SHA-256 ID APPENDLIMIT=104857600 CONDSTORE \
             QRESYNC STATUS=SIZE SAVEDATE WITHIN NAMESPACE MULTIAPPEND STARTTLS LOGINDISABLED"
        );
        let tls = capabilities(&CapabilityContext {
            mechanisms: vec![],
            starttls: false,
            plain_allowed: true,
            external: true,
        });
        assert!(tls.ends_with(&["AUTH=PLAIN".to_owned(), "AUTH=EXTERNAL".to_owned()]));
        for caps in [plain, tls] {
            let bytes = Response::Data(Data::Capability(caps)).to_bytes(EncodeOptions::default());
            let (rest, _) = ResponseCodec::default().decode(&bytes).unwrap();
            assert!(rest.is_empty());
        }
    }
}
