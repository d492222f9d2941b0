watcher = Raw()
out("watch-enable", watcher.cmd("ENABLE CONDSTORE")[0])
out("watch-select", watcher.cmd("SELECT INBOX")[-1])
watcher.send(b"i1 IDLE\r\n")
out("idle-continue", watcher.line())
c = connect()
c.append("INBOX", None, None, b"Subject: one\r\n\r\n1\r\n")
start = time.time()
out("idle-exists", watcher.line(timeout=5))
out("idle-exists-fast", time.time() - start < 2)
c.select("INBOX")
c.store("1", "+FLAGS", "(\\Seen \\Deleted)")
line = watcher.line(timeout=5)
out("idle-flags", re.sub(r"MODSEQ \(\d+\)", "MODSEQ (n)", line))
c.expunge()
out("idle-expunge", watcher.line(timeout=5))
watcher.send(b"DONE\r\n")
out("idle-done", watcher.until("i1")[-1])
# Outside IDLE, changes come before the tagged reply of the next command.
c.append("INBOX", None, None, b"Subject: two\r\n\r\n2\r\n")
c.append("INBOX", None, None, b"Subject: three\r\n\r\n3\r\n")
out("noop", watcher.cmd("NOOP"))
# No EXPUNGE while answering FETCH by sequence number; the message keeps its number.
c.store("1", "+FLAGS.SILENT", "(\\Deleted)")
c.expunge()
lines = watcher.cmd("FETCH 1:* (UID)")
out("fetch-during-expunge", [re.sub(r"MODSEQ \(\d+\)", "MODSEQ (n)", l) for l in lines])
out("noop-after", watcher.cmd("NOOP"))
# The other session's view is still right: sequence 1 is the remaining message.
out("fetch-after", watcher.cmd("FETCH 1 (UID)"))
c.logout()
# A session's own APPEND to its selected mailbox is announced before the tagged OK.
self_append = watcher.cmd("SELECT INBOX")
msg = b"Subject: self\r\n\r\nself\r\n"
watcher.send(b"a1 APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
out("self-append", [re.sub(r"APPENDUID \d+", "APPENDUID V", l) for l in watcher.until("a1")])
# A mailbox deleted under a session that has it selected ends that session.
c = connect()
c.create("Tmp")
doomed = Raw()
doomed.cmd("SELECT Tmp")
c.delete("Tmp")
doomed.send(b"n1 NOOP\r\n")
said = []
try:
    while True:
        said.append(doomed.line())
except EOFError:
    said.append("(closed)")
out("deleted-under", said)
c.logout()
out("logout", watcher.cmd("LOGOUT"))
