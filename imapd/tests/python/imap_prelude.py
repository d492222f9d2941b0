import imaplib, ssl, sys, socket, time, re
port, cafile, user, password = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=cafile)

def connect():
    c = imaplib.IMAP4_SSL("localhost", int(port), ssl_context=ctx)
    c.login(user, password)
    return c

def show(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(show(x) for x in v) + "]"
    return str(v)

def out(key, *vals):
    """Prints one result line; UIDVALIDITY values and imaplib's tags vary per run."""
    text = " ".join(show(v) for v in vals)
    text = re.sub(r"(UIDVALIDITY|APPENDUID|COPYUID) \d+", r"\1 V", text)
    text = re.sub(r'\(TAG "[A-Z]+\d+"\)', '(TAG "T")', text)
    print(key, text, flush=True)

def untagged(c, name):
    return c.untagged_responses.pop(name, None)

class Raw:
    """A line-level client for what imaplib cannot send (MULTIAPPEND, IDLE)."""
    def __init__(self):
        s = socket.create_connection(("localhost", int(port)))
        self.s = ctx.wrap_socket(s, server_hostname="localhost")
        self.f = self.s.makefile("rb")
        self.line()
        self.cmd('LOGIN "%s" "%s"' % (user, password), "l")

    def line(self, timeout=10):
        self.s.settimeout(timeout)
        l = self.f.readline()
        if not l:
            raise EOFError("connection closed")
        text = l.rstrip(b"\r\n")
        m = re.search(rb"\{(\d+)\}$", text)
        if m:
            data = self.f.read(int(m.group(1)))
            return (text + b"\r\n" + data + self.line().encode()).decode("utf-8", "replace")
        return text.decode("utf-8", "replace")

    def send(self, data):
        self.s.sendall(data)

    def cmd(self, text, tag="t"):
        self.send(tag.encode() + b" " + text.encode() + b"\r\n")
        return self.until(tag)

    def until(self, tag):
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if l.startswith(tag + " "):
                return lines

def attempt(f, *args):
    """Runs an imaplib call that is expected to fail with BAD (which imaplib raises)."""
    try:
        return f(*args)
    except imaplib.IMAP4.error as e:
        return ("ERROR", str(e))
