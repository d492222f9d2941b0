# Expunged message files are kept until every session that shows them has processed
# the expunge. argv[5] is imapd's store root, to look at the message files on disk.
import os
store = sys.argv[5]

def msg_files():
    """The message files of all accounts in the store."""
    names = []
    for dirpath, _, files in os.walk(os.path.join(store, "accounts")):
        if os.path.basename(os.path.dirname(dirpath)) == "msg":
            names.extend(files)
    return len(names)

def files_when(n):
    """The file count once it is n, or after 5 seconds."""
    for _ in range(100):
        if msg_files() == n:
            break
        time.sleep(0.05)
    return msg_files()

first = b"Subject: first\r\n\r\nthe body of the first message\r\n"
b = connect()
b.append("INBOX", None, None, first)
b.append("INBOX", None, None, b"Subject: second\r\n\r\n2\r\n")
out("files-start", msg_files())
a = Raw()
out("a-select", a.cmd("SELECT INBOX")[-1])
b.select("INBOX")
b.store("1", "+FLAGS.SILENT", "(\\Deleted)")
out("b-expunge", b.expunge())
# A has not processed the expunge: the file stays and A can still read it.
out("files-after-expunge", msg_files())
lines = a.cmd("FETCH 1 (UID BODY[])")
out("a-fetch", len(lines), lines[0].startswith("* 1 FETCH (UID 1 BODY[] {%d}" % len(first)),
    lines[0].endswith(first.decode() + ")"), lines[-1])
# A's NOOP reports the EXPUNGE; then no session shows the message and its file goes.
out("a-noop", a.cmd("NOOP"))
out("files-after-noop", msg_files())
# A session that never processes an expunge keeps the file until it logs out.
c = Raw()
out("c-select", c.cmd("SELECT INBOX")[-1])
b.store("1", "+FLAGS.SILENT", "(\\Deleted)")
out("b-expunge-2", b.expunge())
out("a-noop-2", a.cmd("NOOP"))
time.sleep(0.3)
out("files-held", msg_files())
out("c-logout", c.cmd("LOGOUT")[-1])
out("files-after-logout", files_when(0))
a.cmd("LOGOUT")
# A session in IDLE processes an expunge at once, so the file goes at once.
d = Raw()
d.cmd("SELECT INBOX")
d.send(b"i1 IDLE\r\n")
d.line()
b.append("INBOX", None, None, b"Subject: third\r\n\r\n3\r\n")
out("d-idle-exists", d.line(timeout=5))
out("files-appended", msg_files())
b.store("1", "+FLAGS.SILENT", "(\\Deleted)")
b.expunge()
heard = d.line(timeout=5)
if "FETCH" in heard:
    heard = d.line(timeout=5)
out("d-idle-expunge", heard)
out("files-after-idle", files_when(0))
d.send(b"DONE\r\n")
d.until("i1")
b.logout()
