// Shared by the archive targets (included with `include!`): a sink that checks what
// the readers hand on, and a reader call on bytes.
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use postern_archive::limits::MAX_MESSAGE_BYTES;
use postern_archive::{Accepted, ImportSink, Message, Problem, ReadOptions, SinkError};

struct Checks {
    messages: usize,
}

impl ImportSink for Checks {
    fn mailbox(&mut self, name: &str) -> Result<(), SinkError> {
        check_mailbox(name);
        Ok(())
    }

    fn message(&mut self, m: &Message<'_>) -> Result<Accepted, SinkError> {
        check_mailbox(m.mailbox);
        assert!(m.size > 0 && m.size <= MAX_MESSAGE_BYTES);
        let mut bytes = vec![0u8; m.size as usize];
        m.file.read_exact_at(&mut bytes, 0).expect("the spool holds the message");
        // Every line ends with CRLF.
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' {
                assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF in a message");
            }
        }
        self.messages += 1;
        Ok(Accepted::Yes)
    }

    fn problem(&mut self, problem: &Problem) -> Result<(), SinkError> {
        let _ = problem.to_string();
        Ok(())
    }
}

fn check_mailbox(name: &str) {
    assert!(!name.is_empty());
    assert!(!name.split('/').any(|p| p.is_empty() || p == ".."), "{name:?}");
    assert!(!name.chars().any(char::is_control), "{name:?}");
}

fn read_bytes(bytes: &[u8], options: &ReadOptions) {
    let mut file = tempfile::tempfile().expect("temp file");
    file.write_all(bytes).expect("write");
    file.seek(SeekFrom::Start(0)).expect("seek");
    let mut sink = Checks { messages: 0 };
    let _ = postern_archive::read_upload(&mut file, options, &mut sink);
}
