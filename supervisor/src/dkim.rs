//! DKIM keys for submitd, made by `postern quickstart`: an Ed25519 key per configured
//! domain and selector (PKCS#8 PEM, mode 0600, submitd's user), and the DNS TXT record
//! that publishes its public key.
#![forbid(unsafe_code)]

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use nix::unistd::{Gid, Uid, chown};
use postern_config::Config;
use postern_config::delivery::{DkimAlgorithm, DkimKey};

use crate::launch::Identity;

/// A DNS record to publish for a DKIM key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimRecord {
    /// `<selector>._domainkey.<domain>.`
    pub name: String,
    /// The TXT value, `v=DKIM1; k=ed25519; p=…`.
    pub value: String,
}

/// The selector quickstart configures for a new key: `postern` and the year.
pub fn selector_for_year(year: i64) -> String {
    format!("postern{year}")
}

/// The TXT record of an Ed25519 key in PEM.
fn record_of(key: &DkimKey, pem: &str) -> anyhow::Result<DkimRecord> {
    let pair = rcgen::KeyPair::from_pem(pem).context("reading the DKIM key")?;
    let public = base64::engine::general_purpose::STANDARD.encode(pair.public_key_raw());
    Ok(DkimRecord {
        name: format!("{}._domainkey.{}.", key.selector, key.domain),
        value: format!("v=DKIM1; k=ed25519; p={public}"),
    })
}

/// Makes the Ed25519 key of every configured DKIM key whose file is missing (owned by
/// `owner`, readable by it alone) and returns the records of all Ed25519 keys. RSA keys
/// are left to the admin (`openssl genpkey`).
pub fn ensure_keys(config: &Config, owner: Identity) -> anyhow::Result<Vec<DkimRecord>> {
    let submitd_dir = config.submitd_dir();
    let mut records = Vec::new();
    for key in &config.submitd.delivery.dkim {
        if key.algorithm != DkimAlgorithm::Ed25519 {
            continue;
        }
        let path = key.key_path(&submitd_dir);
        let pem = match fs::read_to_string(&path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pem = write_new_key(&path, owner)?;
                tracing::info!(path = %path.display(), domain = key.domain, "made a DKIM key");
                pem
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        records.push(record_of(key, &pem)?);
    }
    Ok(records)
}

fn write_new_key(path: &Path, owner: Identity) -> anyhow::Result<String> {
    let Some(dir) = path.parent() else {
        bail!("{} has no directory", path.display());
    };
    for d in [dir.parent(), Some(dir)].into_iter().flatten() {
        if !d.exists() {
            DirBuilder::new()
                .mode(0o700)
                .create(d)
                .with_context(|| format!("cannot create {}", d.display()))?;
            give(d, owner)?;
        }
    }
    let pair =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).context("cannot make an Ed25519 key")?;
    let pem = pair.serialize_pem();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    give(path, owner)?;
    Ok(pem)
}

fn give(path: &Path, owner: Identity) -> anyhow::Result<()> {
    chown(
        path,
        Some(Uid::from_raw(owner.uid)),
        Some(Gid::from_raw(owner.gid)),
    )
    .with_context(|| format!("cannot give {} to submitd's user", path.display()))
}

/// `postern dkim keygen`: makes (or keeps) the Ed25519 key of `domain` with `selector`
/// (default: `postern` and the year), owned by submitd's user, and returns what to do
/// next: the TXT record and, unless the config has it already, the config entry.
pub fn keygen(config: &Config, domain: &str, selector: Option<&str>) -> anyhow::Result<String> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() || !domain.contains('.') {
        bail!("{domain:?} is not a mail domain");
    }
    let selector = match selector {
        Some(s) => s.to_string(),
        None => selector_for_year(crate::output::civil_from_days(now_days()).0),
    };
    if selector.is_empty()
        || !selector
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        bail!("{selector:?} is not a DKIM selector (letters, digits, - and .)");
    }
    let (uid, gid) = postern_config::resolve_identity(&config.submitd.user, None)
        .map_err(|e| anyhow::anyhow!("submitd's user: {e}"))?;
    let key = config
        .submitd
        .delivery
        .dkim
        .iter()
        .find(|k| k.domain.eq_ignore_ascii_case(&domain) && k.selector == selector)
        .cloned();
    let configured = key.is_some();
    let key = key.unwrap_or(DkimKey {
        domain: domain.clone(),
        selector: selector.clone(),
        algorithm: DkimAlgorithm::Ed25519,
        key_file: None,
        expire_seconds: None,
    });
    if key.algorithm != DkimAlgorithm::Ed25519 {
        bail!(
            "the configured key of {domain} with selector {selector} is not Ed25519; make RSA keys with openssl"
        );
    }
    let mut single = config.clone();
    single.submitd.delivery.dkim = vec![key.clone()];
    let record = ensure_keys(&single, Identity { uid, gid })?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no key was made"))?;
    let mut text = format!(
        "DKIM key for {domain}, selector {selector}: {}\n\nPublish this DNS record:\n  {}  TXT  \"{}\"\n",
        key.key_path(&config.submitd_dir()).display(),
        record.name,
        record.value
    );
    if !configured {
        text.push_str(&format!(
            "\nThen add this key to dkim in [submitd.delivery] of the config and restart\nsubmitd:\n  dkim = [{{ domain = \"{domain}\", selector = \"{selector}\", algorithm = \"ed25519\" }}]\n"
        ));
    }
    Ok(text)
}

fn now_days() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0);
    now.div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_keys_once_and_publishes_them() {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = Config::new("mail.example.org", tmp.path(), &tmp.path().join("run"));
        config.submitd.delivery.dkim = vec![DkimKey {
            domain: "example.org".into(),
            selector: selector_for_year(2026),
            algorithm: DkimAlgorithm::Ed25519,
            key_file: None,
            expire_seconds: None,
        }];
        let me = Identity {
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
        };
        let first = ensure_keys(&config, me).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].name, "postern2026._domainkey.example.org.");
        assert!(
            first[0].value.starts_with("v=DKIM1; k=ed25519; p="),
            "{first:?}"
        );
        let path = tmp.path().join("submitd/dkim/example.org.postern2026.pem");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A second run keeps the key.
        assert_eq!(ensure_keys(&config, me).unwrap(), first);
    }

    #[test]
    fn keygen_prints_the_record_and_the_config_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = Config::new("mail.example.org", tmp.path(), &tmp.path().join("run"));
        config.submitd.user = postern_config::UserRef::Uid(nix::unistd::getuid().as_raw());
        let text = keygen(&config, "Example.NET.", Some("s1")).unwrap();
        assert!(
            text.contains("s1._domainkey.example.net.  TXT  \"v=DKIM1; k=ed25519; p="),
            "{text}"
        );
        assert!(
            text.contains("dkim = [{ domain = \"example.net\", selector = \"s1\""),
            "{text}"
        );
        assert!(tmp.path().join("submitd/dkim/example.net.s1.pem").exists());
        // Run again: the same key.
        assert_eq!(keygen(&config, "example.net", Some("s1")).unwrap(), text);
        assert!(keygen(&config, "localhost", None).is_err());
        assert!(keygen(&config, "example.net", Some("bad selector")).is_err());
    }
}
