//! Starting a daemon: fork, hand over its listening sockets by the socket-activation
//! protocol (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`), drop to its own user (no
//! supplementary groups, gid, uid, every capability set emptied, `no_new_privs`), exec.
//! Everything the child needs is prepared before the fork; the child only makes system
//! calls.
//!
//! The daemon gets its own process group, so that a terminal's Ctrl-C reaches only the
//! supervisor, which stops the daemons itself; and the kernel sends it SIGTERM should
//! the supervisor die without stopping it (`PR_SET_PDEATHSIG`). The parent-death signal
//! is tied to the *thread* that forks: call [`launch`] from a thread that lives as long as
//! the supervisor (a tokio worker or the main thread, not a `spawn_blocking` thread).

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

/// First fd number the socket-activation protocol uses.
pub const LISTEN_FDS_START: RawFd = 3;
/// Where passed fds are parked before the fork, above anything they are moved to.
const PARKING_FD: RawFd = 64;
/// Digits reserved for `LISTEN_PID`.
const PID_DIGITS: usize = 10;

/// The user and group a daemon runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// uid (real, effective and saved).
    pub uid: u32,
    /// gid (real, effective and saved); supplementary groups are cleared.
    pub gid: u32,
}

/// An fd handed to the daemon under a name (`LISTEN_FDNAMES`).
#[derive(Debug)]
pub struct NamedFd<'a> {
    /// The name the daemon looks for.
    pub name: String,
    /// The socket (or file); the daemon gets a copy.
    pub fd: BorrowedFd<'a>,
}

/// What to start.
#[derive(Debug)]
pub struct LaunchSpec<'a> {
    /// The daemon binary.
    pub program: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<OsString>,
    /// The whole environment of the daemon (besides the LISTEN_ variables).
    pub env: Vec<(OsString, OsString)>,
    /// fds handed over, numbered from 3 in this order.
    pub fds: Vec<NamedFd<'a>>,
    /// Whom to run as; `None` keeps the current user (localserve).
    pub identity: Option<Identity>,
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in argument"))
}

fn env_entry(key: &OsStr, value: &OsStr) -> io::Result<CString> {
    let mut entry = key.as_bytes().to_vec();
    entry.push(b'=');
    entry.extend_from_slice(value.as_bytes());
    cstring(&entry)
}

/// The highest capability number of this kernel.
fn last_capability() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63)
}

/// Writes `value` as zero-padded decimal into `buffer`, without allocating.
fn write_digits(buffer: &mut [u8], mut value: u32) {
    for slot in buffer.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The program, argv and envp of the exec, with raw pointer arrays into them, made
/// before the fork so the child allocates nothing.
struct ExecImage {
    program: CString,
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    envp_ptrs: Vec<*const libc::c_char>,
    pid_digits: Option<*mut u8>,
}

// SAFETY: the pointers point into the CStrings owned by the same value, which moves as a
// whole into the pre-exec closure; only the forked child (a single thread) uses them.
unsafe impl Send for ExecImage {}
// SAFETY: as above; nothing reads or writes through the pointers in the parent.
unsafe impl Sync for ExecImage {}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Starts the daemon. Its stdin is /dev/null; stdout and stderr are inherited (the
/// supervisor's log).
pub fn launch(spec: LaunchSpec<'_>) -> io::Result<Child> {
    launch_with_output(spec, Stdio::inherit())
}

/// Starts the daemon with the given stdout (tests capture it).
pub fn launch_with_output(spec: LaunchSpec<'_>, stdout: Stdio) -> io::Result<Child> {
    let program = cstring(spec.program.as_os_str().as_bytes())?;
    let mut argv = vec![program.clone()];
    for arg in &spec.args {
        argv.push(cstring(arg.as_bytes())?);
    }
    let mut envp = Vec::new();
    for (key, value) in &spec.env {
        if key.as_bytes().starts_with(b"LISTEN_") {
            continue;
        }
        envp.push(env_entry(key, value)?);
    }
    let count = spec.fds.len();
    // Park the fds above the range they move to, close-on-exec, so no dup2 in the
    // child can overwrite one not yet moved.
    let mut parked = Vec::with_capacity(count);
    for named in &spec.fds {
        let raw = nix::fcntl::fcntl(
            named.fd,
            nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(
                PARKING_FD.max(LISTEN_FDS_START + count as RawFd),
            ),
        )?;
        // SAFETY: fcntl returned a new fd that nothing else owns.
        parked.push(unsafe { OwnedFd::from_raw_fd(raw) });
    }
    let mut listen_pid_index = None;
    if count > 0 {
        let names: Vec<&str> = spec.fds.iter().map(|f| f.name.as_str()).collect();
        envp.push(cstring(format!("LISTEN_FDS={count}").as_bytes())?);
        envp.push(cstring(
            format!("LISTEN_FDNAMES={}", names.join(":")).as_bytes(),
        )?);
        envp.push(cstring(
            format!("LISTEN_PID={}", "0".repeat(PID_DIGITS)).as_bytes(),
        )?);
        listen_pid_index = Some(envp.len() - 1);
    }
    // Raw pointer arrays, built before the fork.
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_ptrs: Vec<*const libc::c_char> = envp
        .iter()
        .map(|e| e.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // The LISTEN_PID digits live inside the CString's buffer; the child writes them.
    let pid_digits: Option<*mut u8> = listen_pid_index.map(|i| {
        let start = envp[i].as_ptr() as *mut u8;
        // SAFETY: "LISTEN_PID=" is 11 bytes, followed by PID_DIGITS digits.
        unsafe { start.add("LISTEN_PID=".len()) }
    });
    let image = ExecImage {
        program,
        _argv: argv,
        _envp: envp,
        argv_ptrs,
        envp_ptrs,
        pid_digits,
    };
    let parked_raw: Vec<RawFd> = parked.iter().map(|fd| fd.as_raw_fd()).collect();
    let last_cap = last_capability();
    let identity = spec.identity;
    let parent = libc::pid_t::try_from(std::process::id())
        .map_err(|_| io::Error::other("process id out of range"))?;

    let mut command = Command::new(&spec.program);
    command
        .stdin(Stdio::null())
        .stdout(stdout)
        .env_clear()
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: the closure runs in the child between fork and exec. It only makes system
    // calls on memory prepared above (no allocation, no locks), and execs or fails.
    unsafe {
        command.pre_exec(move || {
            // Capture the image whole (not field by field): it is Send and Sync.
            let image = &image;
            for (i, fd) in parked_raw.iter().enumerate() {
                // dup2 leaves the new fd without close-on-exec: it survives the exec.
                if libc::dup2(*fd, LISTEN_FDS_START + i as RawFd) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            // Every other fd above the passed ones closes at exec.
            let first_closed = (LISTEN_FDS_START + parked_raw.len() as RawFd) as libc::c_uint;
            libc::syscall(
                libc::SYS_close_range,
                first_closed,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            if let Some(digits) = image.pid_digits {
                let buffer = std::slice::from_raw_parts_mut(digits, PID_DIGITS);
                write_digits(buffer, libc::getpid() as u32);
            }
            if let Some(identity) = identity {
                if libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_CLEAR_ALL,
                    0,
                    0,
                    0,
                ) < 0
                {
                    return Err(io::Error::last_os_error());
                }
                for cap in 0..=last_cap {
                    if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) < 0
                        && io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL)
                    {
                        return Err(io::Error::last_os_error());
                    }
                }
                if libc::setgroups(0, std::ptr::null()) < 0
                    || libc::setresgid(identity.gid, identity.gid, identity.gid) < 0
                    || libc::setresuid(identity.uid, identity.uid, identity.uid) < 0
                {
                    return Err(io::Error::last_os_error());
                }
                // setresuid away from 0 emptied permitted and effective; empty the
                // inheritable set too.
                let mut header = CapHeader {
                    version: LINUX_CAPABILITY_VERSION_3,
                    pid: 0,
                };
                let data = [CapData {
                    effective: 0,
                    permitted: 0,
                    inheritable: 0,
                }; 2];
                if libc::syscall(
                    libc::SYS_capset,
                    &mut header as *mut CapHeader,
                    data.as_ptr(),
                ) < 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            // After the credential change, which clears the parent-death signal.
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGTERM as libc::c_ulong,
                0,
                0,
                0,
            ) < 0
            {
                return Err(io::Error::last_os_error());
            }
            // The supervisor may have died before the prctl: then nobody would signal.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            libc::execve(
                image.program.as_ptr(),
                image.argv_ptrs.as_ptr(),
                image.envp_ptrs.as_ptr(),
            );
            Err(io::Error::last_os_error())
        });
    }
    let child = command.spawn();
    drop(parked);
    child
}

/// Whether `path` names an executable file.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_zero_padded() {
        let mut buffer = [0u8; PID_DIGITS];
        write_digits(&mut buffer, 4711);
        assert_eq!(&buffer, b"0000004711");
    }

    fn status_of(identity: Option<Identity>) -> String {
        use std::os::fd::AsFd as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let spec = LaunchSpec {
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "cat /proc/self/status; echo FDNAMES=$LISTEN_FDNAMES FDS=$LISTEN_FDS PIDOK=$([ \"$LISTEN_PID\" -eq $$ ] && echo yes); ls /proc/self/fd | tr '\\n' ' '".into(),
            ],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            fds: vec![NamedFd {
                name: "imap".into(),
                fd: listener.as_fd(),
            }],
            identity,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let output = runtime.block_on(async {
            let child = launch_with_output(spec, Stdio::piped()).unwrap();
            child.wait_with_output().await.unwrap()
        });
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    }

    fn field<'a>(status: &'a str, name: &str) -> &'a str {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .unwrap_or_else(|| panic!("no {name} in {status}"))
            .trim()
    }

    #[test]
    fn passes_sockets_by_the_activation_protocol() {
        let out = status_of(None);
        assert!(out.contains("FDNAMES=imap FDS=1 PIDOK=yes"), "{out}");
        // Only stdin, stdout, stderr, the passed socket (and ls's own directory fd).
        let fds = out.lines().last().unwrap();
        let count = fds.split_whitespace().count();
        assert!(count <= 5, "fds left open: {fds}");
    }

    #[test]
    fn drops_to_the_identity_with_no_capabilities() {
        if nix::unistd::getuid().as_raw() != 0 {
            eprintln!("SKIPPED drops_to_the_identity_with_no_capabilities: needs root");
            return;
        }
        let out = status_of(Some(Identity {
            uid: 64_124,
            gid: 64_125,
        }));
        assert_eq!(
            field(&out, "Uid").split_whitespace().collect::<Vec<_>>(),
            ["64124"; 4]
        );
        assert_eq!(
            field(&out, "Gid").split_whitespace().collect::<Vec<_>>(),
            ["64125"; 4]
        );
        assert_eq!(field(&out, "Groups"), "");
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(field(&out, set), "0000000000000000", "{set}");
        }
        assert_eq!(field(&out, "NoNewPrivs"), "1");
        assert!(out.contains("PIDOK=yes"), "{out}");
    }
}
