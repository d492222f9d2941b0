//! SCRAM message syntax (RFC 5802 §7) and the proof arithmetic of §3: parsing the
//! client's two messages and computing the server's.

use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use crate::password::{ScramHash, ScramVerifier};

/// The only channel-binding type postern supports (RFC 9266).
pub const CHANNEL_BINDING_TYPE: &str = "tls-exporter";
/// Shortest client nonce accepted.
pub const MIN_CLIENT_NONCE_LEN: usize = 8;
/// Random bytes the server adds to the nonce (base64-encoded).
pub const SERVER_NONCE_BYTES: usize = 18;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// What is wrong with a client message, named as RFC 5802's `server-error-value`s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramSyntaxError {
    /// Not valid syntax or encoding.
    #[error("invalid-encoding: {0}")]
    InvalidEncoding(&'static str),
    /// A mandatory extension (`m=`) the server does not know.
    #[error("extensions-not-supported")]
    ExtensionsNotSupported,
    /// The username is not a valid `saslname`.
    #[error("invalid-username-encoding")]
    InvalidUsernameEncoding,
}

/// The client's gs2 channel-binding flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelBindingFlag {
    /// `n`: the client does not support channel binding.
    NotSupported,
    /// `y`: the client supports it but thinks the server does not.
    ClientSupports,
    /// `p=<name>`: the client binds to this channel-binding type.
    Binding(String),
}

/// The parsed client-first-message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The gs2 flag.
    pub flag: ChannelBindingFlag,
    /// Authorization identity, decoded.
    pub authzid: Option<String>,
    /// Username, decoded.
    pub username: String,
    /// Client nonce.
    pub nonce: String,
    /// The gs2 header as sent (flag, authzid and both commas).
    pub gs2_header: String,
    /// client-first-message-bare, as sent.
    pub bare: String,
}

fn decode_saslname(value: &str) -> Result<String, ScramSyntaxError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('=') {
        out.push_str(&rest[..pos]);
        let escape = rest.get(pos..pos + 3);
        match escape {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramSyntaxError::InvalidUsernameEncoding),
        }
        rest = &rest[pos + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(ScramSyntaxError::InvalidUsernameEncoding);
    }
    Ok(out)
}

fn is_printable_nonce(nonce: &str) -> bool {
    nonce
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// Parses client-first-message.
pub fn parse_client_first(message: &str) -> Result<ClientFirst, ScramSyntaxError> {
    let mut parts = message.splitn(3, ',');
    let flag_text = parts.next().unwrap_or_default();
    let authzid_text = parts
        .next()
        .ok_or(ScramSyntaxError::InvalidEncoding("missing gs2 header"))?;
    let bare = parts
        .next()
        .ok_or(ScramSyntaxError::InvalidEncoding("missing gs2 header"))?;
    let flag = match flag_text {
        "n" => ChannelBindingFlag::NotSupported,
        "y" => ChannelBindingFlag::ClientSupports,
        other => match other.strip_prefix("p=") {
            Some(name)
                if !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') =>
            {
                ChannelBindingFlag::Binding(name.to_string())
            }
            _ => {
                return Err(ScramSyntaxError::InvalidEncoding(
                    "bad gs2 channel-binding flag",
                ));
            }
        },
    };
    let authzid = if authzid_text.is_empty() {
        None
    } else {
        let value = authzid_text
            .strip_prefix("a=")
            .ok_or(ScramSyntaxError::InvalidEncoding("bad gs2 authzid"))?;
        Some(decode_saslname(value)?)
    };
    let gs2_header = format!("{flag_text},{authzid_text},");

    let mut attributes = bare.split(',');
    let first = attributes.next().unwrap_or_default();
    if first.starts_with("m=") {
        return Err(ScramSyntaxError::ExtensionsNotSupported);
    }
    let username = first
        .strip_prefix("n=")
        .ok_or(ScramSyntaxError::InvalidEncoding("expected n="))?;
    let username = decode_saslname(username)?;
    let nonce = attributes
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(ScramSyntaxError::InvalidEncoding("expected r="))?;
    if nonce.len() < MIN_CLIENT_NONCE_LEN || !is_printable_nonce(nonce) {
        return Err(ScramSyntaxError::InvalidEncoding("bad client nonce"));
    }
    // Optional extensions after the nonce are ignored, as RFC 5802 allows.
    Ok(ClientFirst {
        flag,
        authzid,
        username,
        nonce: nonce.to_string(),
        gs2_header,
        bare: bare.to_string(),
    })
}

/// The parsed client-final-message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal {
    /// Decoded `c=`: gs2 header plus channel-binding data.
    pub channel_binding: Vec<u8>,
    /// `r=`: the combined nonce.
    pub nonce: String,
    /// Decoded `p=`.
    pub proof: Vec<u8>,
    /// client-final-message-without-proof, as sent.
    pub without_proof: String,
}

/// Parses client-final-message.
pub fn parse_client_final(message: &str) -> Result<ClientFinal, ScramSyntaxError> {
    let (without_proof, proof) = message
        .rsplit_once(",p=")
        .ok_or(ScramSyntaxError::InvalidEncoding("missing proof"))?;
    let proof = b64()
        .decode(proof)
        .map_err(|_| ScramSyntaxError::InvalidEncoding("proof is not base64"))?;
    let mut attributes = without_proof.split(',');
    let channel_binding = attributes
        .next()
        .and_then(|a| a.strip_prefix("c="))
        .ok_or(ScramSyntaxError::InvalidEncoding("expected c="))?;
    let channel_binding = b64()
        .decode(channel_binding)
        .map_err(|_| ScramSyntaxError::InvalidEncoding("channel binding is not base64"))?;
    let nonce = attributes
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(ScramSyntaxError::InvalidEncoding("expected r="))?;
    Ok(ClientFinal {
        channel_binding,
        nonce: nonce.to_string(),
        proof,
        without_proof: without_proof.to_string(),
    })
}

/// server-first-message for a nonce, salt and iteration count.
pub fn server_first(nonce: &str, salt: &[u8], iterations: u32) -> String {
    format!("r={nonce},s={},i={iterations}", b64().encode(salt))
}

/// A new server nonce: the client's plus random bytes.
pub fn combined_nonce(client_nonce: &str, random: &[u8]) -> String {
    format!("{client_nonce}{}", b64().encode(random))
}

/// Checks a client proof against a verifier; on success returns the server signature.
pub fn verify_proof(
    hash: ScramHash,
    verifier: &ScramVerifier,
    auth_message: &str,
    proof: &[u8],
) -> Option<Vec<u8>> {
    let client_signature = hash.hmac(&verifier.stored_key, auth_message.as_bytes());
    if proof.len() != client_signature.len() {
        return None;
    }
    let client_key: Vec<u8> = proof
        .iter()
        .zip(&client_signature)
        .map(|(p, s)| p ^ s)
        .collect();
    let matches: bool = hash.hash(&client_key).ct_eq(&verifier.stored_key).into();
    matches.then(|| hash.hmac(&verifier.server_key, auth_message.as_bytes()))
}

/// server-final-message for a success.
pub fn server_final_verifier(signature: &[u8]) -> String {
    format!("v={}", b64().encode(signature))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Computes a client proof the way a client does (for tests).
    pub(crate) fn client_proof(
        hash: ScramHash,
        password: &str,
        salt: &[u8],
        iterations: u32,
        auth_message: &str,
    ) -> (Vec<u8>, Vec<u8>) {
        let salted = hash.salted_password(password.as_bytes(), salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        let stored_key = hash.hash(&client_key);
        let signature = hash.hmac(&stored_key, auth_message.as_bytes());
        let proof = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hash.hmac(&salted, b"Server Key");
        (proof, hash.hmac(&server_key, auth_message.as_bytes()))
    }

    fn check_rfc_vector(
        hash: ScramHash,
        client_first: &str,
        server_first_msg: &str,
        client_final: &str,
        server_final: &str,
    ) {
        let first = parse_client_first(client_first).unwrap();
        assert_eq!(first.username, "user");
        assert_eq!(first.gs2_header, "n,,");
        let mut attrs = server_first_msg.split(',');
        let nonce = attrs.next().unwrap().strip_prefix("r=").unwrap();
        let salt = b64()
            .decode(attrs.next().unwrap().strip_prefix("s=").unwrap())
            .unwrap();
        let iterations: u32 = attrs.next().unwrap()[2..].parse().unwrap();
        assert!(nonce.starts_with(&first.nonce));
        assert_eq!(server_first(nonce, &salt, iterations), server_first_msg);

        let fin = parse_client_final(client_final).unwrap();
        assert_eq!(fin.channel_binding, b"n,,");
        assert_eq!(fin.nonce, nonce);
        let auth_message = format!("{},{},{}", first.bare, server_first_msg, fin.without_proof);
        let verifier = ScramVerifier::derive(hash, "pencil", &salt, iterations);
        let signature = verify_proof(hash, &verifier, &auth_message, &fin.proof).unwrap();
        assert_eq!(server_final_verifier(&signature), server_final);

        let wrong = ScramVerifier::derive(hash, "pencil2", &salt, iterations);
        assert!(verify_proof(hash, &wrong, &auth_message, &fin.proof).is_none());
        let mut tampered = fin.proof.clone();
        tampered[0] ^= 1;
        assert!(verify_proof(hash, &verifier, &auth_message, &tampered).is_none());
        assert!(verify_proof(hash, &verifier, &auth_message, &fin.proof[1..]).is_none());
    }

    #[test]
    fn rfc_5802_example() {
        check_rfc_vector(
            ScramHash::Sha1,
            "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
            "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
        );
    }

    #[test]
    fn rfc_7677_example() {
        check_rfc_vector(
            ScramHash::Sha256,
            "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        );
    }

    #[test]
    fn client_first_syntax() {
        let first =
            parse_client_first("p=tls-exporter,a=me=2Cyou,n=a=3Db,r=12345678,x=ext").unwrap();
        assert_eq!(
            first.flag,
            ChannelBindingFlag::Binding("tls-exporter".into())
        );
        assert_eq!(first.authzid.as_deref(), Some("me,you"));
        assert_eq!(first.username, "a=b");
        assert_eq!(first.gs2_header, "p=tls-exporter,a=me=2Cyou,");
        assert_eq!(
            parse_client_first("y,,n=u,r=12345678").unwrap().flag,
            ChannelBindingFlag::ClientSupports
        );
        for bad in [
            "",
            "n",
            "n,",
            "x,,n=u,r=12345678",
            "n,b=x,n=u,r=12345678",
            "n,,r=12345678",
            "n,,n=u",
            "n,,n=u,r=short",
            "n,,n=a=b,r=12345678",
            "n,,n=,r=12345678",
            "p=,,n=u,r=12345678",
            "n,,n=u,r=1234 5678",
        ] {
            assert!(parse_client_first(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_client_first("n,,m=x,n=u,r=12345678"),
            Err(ScramSyntaxError::ExtensionsNotSupported)
        );
    }

    #[test]
    fn client_final_syntax() {
        for bad in [
            "",
            "c=biws",
            "c=biws,r=x",
            "c=!!,r=x,p=AAAA",
            "r=x,c=biws,p=AAAA",
            "c=biws,r=x,p=!",
        ] {
            assert!(parse_client_final(bad).is_err(), "{bad:?} accepted");
        }
    }
}
