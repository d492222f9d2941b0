//! A daemon's private credentials directory, as systemd's `LoadCredential=` makes it:
//! copies of the TLS certificate and key, read by the supervisor (as root) and readable
//! by that daemon's user alone, under the runtime directory (a tmpfs on a real system).
//! The daemon finds it through `$CREDENTIALS_DIRECTORY`, whether systemd or the
//! supervisor started it.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use nix::unistd::{Gid, Uid, chown};
use postern_config::Config;

use crate::launch::Identity;

/// The credential name of the PEM certificate chain.
pub const TLS_CERTIFICATE: &str = "tls-cert";
/// The credential name of the PEM private key.
pub const TLS_KEY: &str = "tls-key";
/// The largest certificate or key file copied.
pub const MAX_CREDENTIAL_SIZE: u64 = 1024 * 1024;

/// Where daemon `name`'s credentials live.
pub fn credentials_dir(config: &Config, name: &str) -> PathBuf {
    config.runtime_dir.join("credentials").join(name)
}

fn read_limited(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut data = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_CREDENTIAL_SIZE + 1).read_to_end(&mut data))
        .with_context(|| format!("cannot read {}", path.display()))?;
    if data.len() as u64 > MAX_CREDENTIAL_SIZE {
        anyhow::bail!(
            "{} is larger than {MAX_CREDENTIAL_SIZE} bytes",
            path.display()
        );
    }
    Ok(data)
}

/// Copies the certificate and key into `dir` (created 0700, files 0400, both owned by
/// `owner`, or by us without one), replacing what was there atomically.
pub fn write_tls(
    dir: &Path,
    owner: Option<Identity>,
    certificate: &Path,
    key: &Path,
) -> anyhow::Result<()> {
    let certificate = read_limited(certificate)?;
    let key = read_limited(key)?;
    if let Some(parent) = dir.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
    }
    give(dir, owner)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set the mode of {}", dir.display()))?;
    for (name, data) in [(TLS_CERTIFICATE, certificate), (TLS_KEY, key)] {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let _ = fs::remove_file(&tmp);
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o400)
                .open(&tmp)?;
            file.write_all(&data)?;
            file.sync_all()
        })();
        written.with_context(|| format!("cannot write {}", tmp.display()))?;
        give(&tmp, owner)?;
        fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn give(path: &Path, owner: Option<Identity>) -> anyhow::Result<()> {
    if let Some(owner) = owner {
        chown(
            path,
            Some(Uid::from_raw(owner.uid)),
            Some(Gid::from_raw(owner.gid)),
        )
        .with_context(|| format!("cannot change the owner of {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    #[test]
    fn copies_private_and_replaces() {
        let tmp = tempfile::tempdir().unwrap();
        let cert = tmp.path().join("cert.pem");
        let key = tmp.path().join("key.pem");
        fs::write(&cert, "CERT1").unwrap();
        fs::write(&key, "KEY1").unwrap();
        let dir = tmp.path().join("run/credentials/imapd");
        write_tls(&dir, None, &cert, &key).unwrap();
        assert_eq!(fs::read(dir.join(TLS_CERTIFICATE)).unwrap(), b"CERT1");
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(
            fs::metadata(dir.join(TLS_KEY)).unwrap().mode() & 0o777,
            0o400
        );
        fs::write(&key, "KEY2").unwrap();
        write_tls(&dir, None, &cert, &key).unwrap();
        assert_eq!(fs::read(dir.join(TLS_KEY)).unwrap(), b"KEY2");
        fs::write(&key, vec![b'x'; MAX_CREDENTIAL_SIZE as usize + 1]).unwrap();
        assert!(write_tls(&dir, None, &cert, &key).is_err());
        assert_eq!(fs::read(dir.join(TLS_KEY)).unwrap(), b"KEY2");
    }
}
